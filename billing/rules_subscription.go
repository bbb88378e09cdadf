package billing

import (
	"fmt"
	"strings"
	"time"
)

// subscriptionOf reads the subscription an invoice belongs to from where
// each API version puts it.
func invoiceSubscription(obj Obj) string {
	if s := obj.First([]string{"subscription"}, []string{"parent", "subscription_details", "subscription"}); s != "" {
		return s
	}
	for _, l := range obj.List("lines") {
		if s := lineSubscription(l); s != "" {
			return s
		}
	}
	return ""
}

func lineSubscription(l Obj) string {
	return l.First([]string{"subscription"}, []string{"parent", "subscription_item_details", "subscription"})
}

func linePrice(l Obj) string {
	return l.First([]string{"price", "id"}, []string{"pricing", "price_details", "price"}, []string{"plan", "id"})
}

func invoiceMeta(obj Obj, key string) string {
	return obj.First([]string{"subscription_details", "metadata", key}, []string{"parent", "subscription_details", "metadata", key})
}

func loadSub(st State, id string) (Subscription, bool, error) { return st.Subscription(id) }

// subscriptionLine is the invoice line that bills the subscription: its
// price says the plan, its period when the credits expire.
func subscriptionLine(obj Obj, sub string) (price string, start, end time.Time) {
	lines := obj.List("lines")
	for _, l := range lines {
		ls := lineSubscription(l)
		if ls != "" && ls != sub {
			continue
		}
		if p := linePrice(l); p != "" {
			return p, l.Time("period", "start"), l.Time("period", "end")
		}
	}
	return "", obj.Time("period_start"), obj.Time("period_end")
}

func (r Rules) invoicePaid(ev Event, obj Obj, st State, now time.Time) (Decision, error) {
	in := obj.Str("id")
	sub := invoiceSubscription(obj)
	if sub == "" {
		return ignored("invoice without a subscription"), nil
	}
	if status := obj.Str("status"); status != "" && status != "paid" {
		if paid, ok := obj.Bool("paid"); !ok || !paid {
			return ignored("invoice is " + status + ", not paid"), nil
		}
	}
	switch reason := obj.Str("billing_reason"); reason {
	case "subscription_create", "subscription_cycle", "":
	default:
		return ignored("billing reason " + reason + " grants no credits"), nil
	}
	rec, known, err := loadSub(st, sub)
	if err != nil {
		return Decision{}, err
	}
	customer := obj.Str("customer")
	user := invoiceMeta(obj, "user_id")
	if user == "" {
		user = invoiceMeta(obj, "userId")
	}
	if user == "" && known {
		user = rec.UserID
	}
	if user == "" {
		user = st.CustomerUser(customer)
	}
	if user == "" {
		return waiting(fmt.Sprintf("waiting for the checkout that links subscription %s to a user", sub)), nil
	}
	price, _, periodEnd := subscriptionLine(obj, sub)
	plan, ok := r.Catalog.ByPrice(price)
	if !ok {
		if n, found := r.Catalog.Resolve(invoiceMeta(obj, "type")); found {
			plan, ok = n, true
		}
	}
	if !ok && known && rec.Plan != "" {
		plan, ok = rec.Plan, r.Catalog.Plans[rec.Plan] != nil
	}
	p := r.Catalog.Plans[plan]
	if !ok || p == nil {
		return waiting(fmt.Sprintf("price %s (invoice %s) is in no plan: add it to a plan's price_ids in creditdesk.toml (or STRIPE_PRODUCT_MAP) and restart", price, in)), nil
	}
	if !known {
		rec = Subscription{ID: sub}
	}
	rec.CustomerID, rec.UserID, rec.Plan, rec.PriceID = customer, user, plan, price
	if periodEnd.After(rec.PeriodEnd) {
		rec.PeriodEnd = periodEnd
	}
	if rec.Status == "" || rec.Status == "incomplete" || rec.Status == "past_due" {
		rec.Status = "active"
	}
	d := Decision{State: StateApplied, User: user,
		Reason: fmt.Sprintf("%s invoice paid: +%s credits", plan, Credits(p.MonthlyCredits))}
	var expires time.Time
	if !p.Rollover {
		expires = periodEnd
	}
	if rec.Deleted {
		// The plan ended before this invoice arrived: its credits expire
		// at once, as they would have at the cancellation.
		expires = rec.DeletedAt
	}
	patch := UserPatch{ID: user, CustomerID: customer}
	subs, err := r.tierPatch(st, &patch, rec)
	if err != nil {
		return Decision{}, err
	}
	d.Users = []UserPatch{patch}
	d.Links = []Link{{Customer: customer, User: user}}
	d.Subs = []Subscription{rec}
	pi := obj.Str("payment_intent")
	d.Purchases = []Purchase{{ID: in, UserID: user, CustomerID: customer, Type: plan, Kind: PurchasePlan, Mode: "subscription",
		Status: "paid", Credits: p.MonthlyCredits, AmountTotal: amount(obj, "amount_paid"), Currency: obj.Str("currency"),
		PaymentIntent: pi, Subscription: sub, EventID: ev.ID}}
	if prev, seen, err := st.Purchase(in); err != nil {
		return Decision{}, err
	} else if seen {
		// invoice.paid and invoice.payment_succeeded both come: the second
		// keeps the money refunds and disputes moved meanwhile.
		d.Purchases[0].AmountRefunded, d.Purchases[0].AmountDisputed = prev.AmountRefunded, prev.AmountDisputed
	}
	if pi != "" {
		d.PaymentIntents = append(d.PaymentIntents, PaymentRef{ID: pi, Purchase: in})
	}
	if ch := obj.Str("charge"); ch != "" {
		d.Charges = append(d.Charges, PaymentRef{ID: ch, Purchase: in})
	}
	d.Postings = []Posting{{UserID: user, Delta: p.MonthlyCredits, Key: "invoice:" + in, Reason: d.Reason,
		Source: ev.ID, Kind: KindPlan, ExpiresAt: expires, PurchaseID: in, Subscription: sub}}
	if !rec.Deleted {
		d.Postings = append(d.Postings, r.takeBackFree(user, ev.ID, subs)...)
	}
	d.Unflags = []FlagID{{AttnPastDue, sub}}
	return d, nil
}

func (r Rules) invoiceFailed(ev Event, obj Obj, st State) (Decision, error) {
	sub := invoiceSubscription(obj)
	user := invoiceMeta(obj, "user_id")
	if rec, ok, err := loadSub(st, sub); err != nil {
		return Decision{}, err
	} else if ok && user == "" {
		user = rec.UserID
	}
	if user == "" {
		user = st.CustomerUser(obj.Str("customer"))
	}
	d := Decision{State: StateApplied, User: user, Reason: "invoice payment failed"}
	if sub == "" {
		return d, nil
	}
	attempts, _ := obj.Int("attempt_count")
	d.Flags = []Flag{{Kind: AttnPastDue, ID: sub, User: user,
		Detail: fmt.Sprintf("invoice %s payment failed (attempt %d); subscription past due", obj.Str("id"), attempts)}}
	return d, nil
}

func (r Rules) subscriptionChanged(ev Event, obj Obj, st State, now time.Time) (Decision, error) {
	id := obj.Str("id")
	rec, known, err := loadSub(st, id)
	if err != nil {
		return Decision{}, err
	}
	if !known {
		rec = Subscription{ID: id}
	}
	customer := obj.Str("customer")
	user := obj.First([]string{"metadata", "user_id"}, []string{"metadata", "userId"})
	if user == "" {
		user = rec.UserID
	}
	if user == "" {
		user = st.CustomerUser(customer)
	}
	deleted := ev.Type == "customer.subscription.deleted" || obj.Str("status") == "canceled" && obj.Str("ended_at") != ""
	if deleted && user == "" {
		return waiting(fmt.Sprintf("waiting for the checkout that links subscription %s to a user", id)), nil
	}
	d := Decision{State: StateApplied, User: user}
	rec.CustomerID = customer
	if user != "" {
		rec.UserID = user
		d.Links = []Link{{Customer: customer, User: user}}
	}
	items := obj.List("items")
	newer := ev.Created >= rec.EventCreated
	if newer && !rec.Deleted {
		rec.EventCreated = ev.Created
		// "incomplete" waits for the first payment: once a paid invoice
		// made the subscription active, a late "incomplete" does not
		// take the plan out of force.
		if st := obj.Str("status"); st != "incomplete" || rec.Status != "active" {
			rec.Status = st
		}
		rec.CancelAtPeriodEnd, _ = obj.Bool("cancel_at_period_end")
		if len(items) > 0 {
			price := linePrice(items[0])
			if plan, ok := r.Catalog.ByPrice(price, items[0].Str("price", "product")); ok {
				rec.Plan, rec.PriceID = plan, price
			}
		}
		end := obj.Time("current_period_end")
		if end.IsZero() && len(items) > 0 {
			end = items[0].Time("current_period_end")
		}
		if end.After(rec.PeriodEnd) {
			rec.PeriodEnd = end
		}
	}
	d.Reason = strings.Join(strings.Fields("subscription "+rec.Plan+" "+rec.Status), " ")
	switch {
	case deleted && !rec.Deleted:
		rec.Deleted, rec.Status = true, "canceled"
		rec.DeletedAt = firstTime(obj.Time("ended_at"), obj.Time("canceled_at"), time.Unix(ev.Created, 0).UTC())
		patch := UserPatch{ID: user, CustomerID: customer}
		if _, err := r.tierPatch(st, &patch, rec); err != nil {
			return Decision{}, err
		}
		d.Users = []UserPatch{patch}
		// Only this subscription's plan credits expire; another plan in
		// force keeps its own, and the free allowance comes when the last
		// one ends.
		d.ExpirePlans = []PlanEnd{{User: user, Subscription: id, Plan: rec.Plan}}
		name := strings.Join(strings.Fields("subscription "+rec.Plan), " ")
		if patch.Tier != "free" {
			d.Reason = fmt.Sprintf("%s cancelled: its plan credits expire; tier %s (%s) continues", name, patch.Tier, patch.SubscriptionID)
		} else {
			d.Reason = fmt.Sprintf("%s cancelled: tier free, its plan credits expire, +%s free credits", name, Credits(r.Catalog.FreeCredits))
			if r.Catalog.FreeCredits > 0 {
				d.Postings = []Posting{{UserID: user, Delta: r.Catalog.FreeCredits, Key: freeKey(id),
					Reason: "free-tier allowance after cancellation", Source: ev.ID, Kind: KindFree, PurchaseID: freeKey(id)}}
			}
		}
		d.Unflags = []FlagID{{AttnPastDue, id}}
	case rec.Deleted:
		d.Reason = "subscription already cancelled"
	case rec.Status == "past_due" || rec.Status == "unpaid":
		d.Flags = []Flag{{Kind: AttnPastDue, ID: id, User: user, Detail: "subscription " + rec.Status}}
	case rec.Status == "active" || rec.Status == "trialing":
		d.Unflags = []FlagID{{AttnPastDue, id}}
	}
	rec.UpdatedAt = time.Unix(ev.Created, 0).UTC()
	d.Subs = []Subscription{rec}
	if user != "" && !deleted && !rec.Deleted {
		// A status or price change (a pause, the portal) moves the tier
		// to the best plan still in force.
		patch := UserPatch{ID: user, CustomerID: customer}
		subs, err := r.tierPatch(st, &patch, rec)
		if err != nil {
			return Decision{}, err
		}
		d.Users = []UserPatch{patch}
		if inForce(rec) && rec.Plan != "" {
			d.Postings = append(d.Postings, r.takeBackFree(user, ev.ID, subs)...)
		}
	}
	return d, nil
}

func firstTime(ts ...time.Time) time.Time {
	for _, t := range ts {
		if !t.IsZero() {
			return t
		}
	}
	return time.Time{}
}

// purchaseOfCharge finds the purchase a charge paid for, through its
// payment intent or its invoice.
func purchaseOfCharge(st State, obj Obj) (Purchase, bool, error) {
	for _, find := range []func() (string, error){
		func() (string, error) { return st.PaymentIntentPurchase(obj.Str("payment_intent")) },
		func() (string, error) { return st.ChargePurchase(obj.Str("charge")) },
		func() (string, error) { return st.ChargePurchase(obj.Str("id")) },
	} {
		if id, err := find(); err != nil {
			return Purchase{}, false, err
		} else if id != "" {
			return st.Purchase(id)
		}
	}
	if in := obj.Str("invoice"); in != "" {
		return st.Purchase(in)
	}
	return Purchase{}, false, nil
}

// clawback takes back the share of a purchase's credits that was
// refunded (or lost in a dispute), and only what that purchase still
// accounts for: first its own remaining credits; then, for the part the
// user had already spent, other paid credits (or debt, with allow_debt);
// never the part that expired, never the free allowance. The reason says
// what was taken and why the rest was not. key makes it once per refund
// state.
func (r Rules) clawback(ev Event, st State, p Purchase, share float64, key, why string, now time.Time) (Decision, error) {
	target := int64(float64(p.Credits)*share + 0.5)
	if target > p.Credits {
		target = p.Credits
	}
	take := target - p.RefundedCredits
	d := Decision{State: StateApplied, User: p.UserID}
	if take <= 0 || p.Kind == PurchasePlan && p.Status != "paid" && p.Status != "refunded" && p.Status != "part_refunded" {
		d.Reason = why + ": nothing more to claw back"
		return d, nil
	}
	granted, expired, left, err := purchaseCredits(st, p, now)
	if err != nil {
		return Decision{}, err
	}
	spent := max(0, granted-expired-left-p.ClawedOwn-p.ClawedSpent)
	fromOwn := min(take, left)
	fromOther := min(take-fromOwn, spent)
	notTaken := take - fromOwn - fromOther

	p.RefundedCredits = target
	p.ClawedOwn += fromOwn
	p.ClawedSpent += fromOther
	if target >= p.Credits {
		p.Status = "refunded"
	} else {
		p.Status = "part_refunded"
	}
	d.Purchases = []Purchase{p}
	taken := fromOwn + fromOther
	switch {
	case notTaken == 0:
		d.Reason = fmt.Sprintf("%s: -%s credits of %s", why, Credits(take), p.ID)
	case taken == 0:
		d.Reason = fmt.Sprintf("%s: 0 of %s credits of %s taken back: they had expired", why, Credits(take), p.ID)
	default:
		d.Reason = fmt.Sprintf("%s: %s of %s credits of %s taken back: the rest had expired", why, Credits(taken), Credits(take), p.ID)
	}
	if fromOwn > 0 {
		d.Postings = append(d.Postings, Posting{UserID: p.UserID, Delta: -fromOwn, Key: key, Reason: d.Reason, Source: ev.ID,
			Kind: KindRefund, FromPurchase: p.ID, OnlyFromPurchase: true, Clamp: true})
	}
	if fromOther > 0 {
		d.Postings = append(d.Postings, Posting{UserID: p.UserID, Delta: -fromOther, Key: key + ":spent",
			Reason: d.Reason + fmt.Sprintf(" (%s already spent: from other paid credits)", Credits(fromOther)), Source: ev.ID,
			Kind: KindRefund, PaidOnly: true, Clamp: !r.Catalog.AllowDebt, AllowNegative: r.Catalog.AllowDebt})
	}
	return d, nil
}

// purchaseCredits is what a purchase's grant was given, what of it has
// expired (written off, or past its expiry now and about to be) and what
// it still holds.
func purchaseCredits(st State, p Purchase, now time.Time) (granted, expired, left int64, err error) {
	key := "purchase:" + p.ID
	if p.Kind == PurchasePlan {
		key = "invoice:" + p.ID
	}
	e, ok, err := st.EntryByKey(key)
	if err != nil || !ok {
		return 0, 0, 0, err
	}
	granted = e.Delta
	if x, ok, err := st.EntryByKey(fmt.Sprintf("expire:%s:%d", e.UserID, e.ID)); err != nil {
		return 0, 0, 0, err
	} else if ok {
		expired = -x.Delta
	}
	gs, err := st.Grants(e.UserID)
	if err != nil {
		return 0, 0, 0, err
	}
	for _, g := range gs {
		if g.EntryID != e.ID || g.Remaining <= 0 {
			continue
		}
		if g.Expires() && !g.ExpiresAt.After(now) {
			expired += g.Remaining
		} else {
			left += g.Remaining
		}
	}
	return granted, expired, left, nil
}

func (r Rules) chargeRefunded(ev Event, obj Obj, st State, now time.Time) (Decision, error) {
	p, ok, err := purchaseOfCharge(st, obj)
	if err != nil {
		return Decision{}, err
	}
	if !ok {
		return waiting("waiting for the purchase charge " + obj.Str("id") + " paid for"), nil
	}
	if p.Status == "authorized" || p.Status == "pending" {
		// A refunded charge was captured: the capture's event is on its way.
		return waiting("waiting for the payment of purchase " + p.ID + " to be confirmed"), nil
	}
	if p.Status != "paid" && p.Status != "part_refunded" && p.Status != "refunded" {
		return Decision{State: StateApplied, User: p.UserID, Reason: "refund of a purchase that granted nothing (" + p.Status + ")"}, nil
	}
	total, _ := obj.Int("amount")
	refunded, _ := obj.Int("amount_refunded")
	money := refunded
	if full, _ := obj.Bool("refunded"); full || total <= 0 {
		if full && money == 0 {
			money = total
		}
		refunded, total = 1, 1
	}
	share := float64(refunded) / float64(total)
	d, err := r.clawback(ev, st, p, share, fmt.Sprintf("refund:%s:%d/%d", obj.Str("id"), refunded, total), "refunded", now)
	if err != nil {
		return Decision{}, err
	}
	// The charge's amount_refunded is every refund of it so far.
	return withMoney(d, p, func(q *Purchase) bool {
		if money <= q.AmountRefunded {
			return false
		}
		q.AmountRefunded = money
		return true
	}), nil
}

// withMoney applies set to the purchase p as the decision d stores it (or,
// when d does not store it, to p, stored only when set changed it): the
// money a refund or a lost dispute moved is kept even when no credits are
// left to claw back.
func withMoney(d Decision, p Purchase, set func(*Purchase) bool) Decision {
	for i := range d.Purchases {
		if d.Purchases[i].ID == p.ID {
			set(&d.Purchases[i])
			return d
		}
	}
	if set(&p) {
		d.Purchases = append(d.Purchases, p)
	}
	return d
}

func (r Rules) disputeCreated(ev Event, obj Obj, st State) (Decision, error) {
	p, ok, err := purchaseOfCharge(st, obj)
	if err != nil {
		return Decision{}, err
	}
	d := Decision{State: StateApplied, Reason: "dispute opened: " + obj.Str("reason")}
	user := ""
	if ok {
		user = p.UserID
	}
	d.User = user
	d.Flags = []Flag{{Kind: AttnDisputed, ID: obj.Str("id"), User: user,
		Detail: fmt.Sprintf("charge %s disputed (%s), respond in the Stripe Dashboard", obj.Str("charge"), obj.Str("reason"))}}
	return d, nil
}

func (r Rules) disputeClosed(ev Event, obj Obj, st State, now time.Time) (Decision, error) {
	id := obj.Str("id")
	status := obj.Str("status")
	if status != "lost" {
		d := Decision{State: StateApplied, Reason: "dispute closed: " + status, Unflags: []FlagID{{AttnDisputed, id}}}
		return d, nil
	}
	p, ok, err := purchaseOfCharge(st, obj)
	if err != nil {
		return Decision{}, err
	}
	if !ok || p.Status == "authorized" || p.Status == "pending" {
		return waiting("waiting for the purchase disputed charge " + obj.Str("charge") + " paid for"), nil
	}
	d, err := r.clawback(ev, st, p, 1, "dispute:"+id, "dispute lost", now)
	if err != nil {
		return Decision{}, err
	}
	lost, _ := obj.Int("amount")
	d = withMoney(d, p, func(q *Purchase) bool {
		if lost <= q.AmountDisputed {
			return false
		}
		q.AmountDisputed = lost
		return true
	})
	d.Unflags = append(d.Unflags, FlagID{AttnDisputed, id})
	return d, nil
}
