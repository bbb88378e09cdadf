package billing

import (
	"fmt"
	"sort"
)

// A user may hold several subscriptions at once (an upgrade bought through
// a new Checkout before the old plan is cancelled, a plan and an add-on).
// Each plan grant belongs to the subscription whose invoice paid for it
// (Grant.Subscription), and the user's tier is the best plan among the
// subscriptions in force.

// inForce reports whether a subscription's plan is in force: not cancelled,
// not paused, not abandoned before its first payment. A subscription known
// only from its checkout (no status yet) is in force.
func inForce(s Subscription) bool {
	if s.Deleted {
		return false
	}
	switch s.Status {
	case "", "active", "trialing", "past_due":
		return true
	}
	return false
}

// BetterPlan reports whether plan a is better than plan b: more monthly
// credits, then (equal credits) the name that sorts first. A plan not in
// the catalog is worse than any that is.
func (c Catalog) BetterPlan(a, b string) bool {
	pa, pb := c.Plans[a], c.Plans[b]
	switch {
	case pa == nil || pb == nil:
		return pa != nil
	case pa.MonthlyCredits != pb.MonthlyCredits:
		return pa.MonthlyCredits > pb.MonthlyCredits
	}
	return a < b
}

// userSubs is the user's subscriptions as they will be after this event:
// the stored ones with recs in place of (or beside) those of the same id,
// in id order.
func userSubs(st State, user string, recs ...Subscription) ([]Subscription, error) {
	stored, err := st.UserSubscriptions(user)
	if err != nil {
		return nil, err
	}
	byID := map[string]Subscription{}
	for _, s := range stored {
		byID[s.ID] = s
	}
	for _, s := range recs {
		if s.ID != "" {
			byID[s.ID] = s
		}
	}
	out := make([]Subscription, 0, len(byID))
	for _, s := range byID {
		out = append(out, s)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out, nil
}

// bestPlan is the best plan among subs in force and its subscription, or
// ("", "") when none is in force.
func (r Rules) bestPlan(subs []Subscription) (plan, sub string) {
	for _, s := range subs {
		if !inForce(s) || s.Plan == "" {
			continue
		}
		if plan == "" || r.Catalog.BetterPlan(s.Plan, plan) {
			plan, sub = s.Plan, s.ID
		}
	}
	return plan, sub
}

// tierPatch sets the user's tier and subscription from their subscriptions
// after this event: the best plan in force, else free.
func (r Rules) tierPatch(st State, patch *UserPatch, recs ...Subscription) ([]Subscription, error) {
	subs, err := userSubs(st, patch.ID, recs...)
	if err != nil {
		return nil, err
	}
	plan, sub := r.bestPlan(subs)
	if plan == "" {
		patch.Tier = "free"
		return subs, nil
	}
	patch.Tier, patch.SubscriptionID = plan, sub
	return subs, nil
}

// freeKey is the key of the free allowance granted when subscription sub
// ended as the user's last one; its grant's PurchaseID is the same, so it
// can be taken back alone.
func freeKey(sub string) string { return "free:" + sub }

// takeBackFree takes back what is left of the free allowances granted when
// another of the user's subscriptions ended, now that a plan is in force
// again: the free allowance is for users without a plan, whatever order
// Stripe delivers the events of two overlapping subscriptions in.
func (r Rules) takeBackFree(user, source string, subs []Subscription) []Posting {
	if r.Catalog.FreeCredits <= 0 {
		return nil
	}
	if plan, _ := r.bestPlan(subs); plan == "" {
		return nil
	}
	var out []Posting
	for _, s := range subs {
		if !s.Deleted {
			continue
		}
		out = append(out, Posting{UserID: user, Delta: -r.Catalog.FreeCredits, Key: "free-back:" + s.ID,
			Reason: fmt.Sprintf("free-tier allowance taken back: a plan is in force again (%s ended)", s.ID),
			Source: source, Kind: KindFree, FromPurchase: freeKey(s.ID), OnlyFromPurchase: true, Clamp: true})
	}
	return out
}
