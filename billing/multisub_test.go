package billing_test

import (
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	. "creditdesk/billing"
)

func multiCatalog() Catalog {
	c := testCatalog()
	c.Plans["enterprise"] = &Plan{Name: "enterprise", MonthlyCredits: 10000, Sale: Sale{PriceIDs: []string{"price_ent_monthly"}}}
	return c
}

// twoPlans: u1 subscribes to pro, then to enterprise through a second
// Checkout, then cancels pro; the enterprise period is still running.
func twoPlans() lifecycle {
	v := v2023.version
	p1, p2 := t0, t0.Add(30*day)
	cancelAt := t0.Add(5 * day)
	delA := v2023.sub("sub_a", "u1", "price_pro_monthly", "canceled", p2)
	delA["canceled_at"], delA["ended_at"] = cancelAt.Unix(), cancelAt.Unix()
	return lifecycle{now: cancelAt.Add(time.Hour), events: [][]byte{
		payload("evt_coa", "checkout.session.completed", p1, v, session("cs_a", "u1", M{"user_id": "u1", "type": "plan-pro"},
			M{"mode": "subscription", "subscription": "sub_a", "payment_intent": nil})),
		payload("evt_sca", "customer.subscription.created", p1.Add(time.Second), v, v2023.sub("sub_a", "u1", "price_pro_monthly", "active", p2)),
		payload("evt_ia", "invoice.paid", p1.Add(2*time.Second), v, v2023.invoice("in_a", "sub_a", "u1", "price_pro_monthly", p1, p2, "subscription_create")),
		payload("evt_cob", "checkout.session.completed", p1.Add(day), v, session("cs_b", "u1", M{"user_id": "u1", "type": "plan-enterprise"},
			M{"mode": "subscription", "subscription": "sub_b", "payment_intent": nil})),
		payload("evt_scb", "customer.subscription.created", p1.Add(day+time.Second), v, v2023.sub("sub_b", "u1", "price_ent_monthly", "active", p2.Add(day))),
		payload("evt_ib", "invoice.paid", p1.Add(day+2*time.Second), v, v2023.invoice("in_b", "sub_b", "u1", "price_ent_monthly", p1.Add(day), p2.Add(day), "subscription_create")),
		payload("evt_dela", "customer.subscription.deleted", cancelAt, v, delA),
	}}
}

// playOn plays lc in order on h and returns user's outcome, kinds whose
// entries add up to zero left out (a free allowance granted and taken back
// is none).
func playOn(t *testing.T, h *harness, lc lifecycle, order []int, user string) outcome {
	t.Helper()
	return outcomeOf(h.playStory(lc, order, user), false)
}

func TestCancellingOneOfTwoPlansKeepsTheOther(t *testing.T) {
	lc := twoPlans()
	h := newHarness(t, multiCatalog())
	got := playOn(t, h, lc, []int{0, 1, 2, 3, 4, 5, 6}, "u1")
	want := outcome{balance: 10000, tier: "enterprise", ledger: "expire-2500 plan+12500"}
	if got != want {
		t.Fatalf("got  %+v\nwant %+v", got, want)
	}
	d := h.user("u1")
	if d.User.SubscriptionID != "sub_b" {
		t.Fatalf("subscription %q, want sub_b", d.User.SubscriptionID)
	}
	for _, e := range d.Entries {
		if e.Kind == KindFree {
			t.Fatalf("a free allowance while enterprise is in force: %+v", e)
		}
	}
	if ev := h.event("evt_dela"); !strings.Contains(ev.Reason, "enterprise") {
		t.Fatalf("cancellation reason %q does not say enterprise continues", ev.Reason)
	}
	// Cancelling the last one: its credits expire, tier free, free allowance.
	delB := v2023.sub("sub_b", "u1", "price_ent_monthly", "canceled", t0.Add(31*day))
	delB["canceled_at"], delB["ended_at"] = lc.now.Unix(), lc.now.Unix()
	h.send(payload("evt_delb", "customer.subscription.deleted", lc.now, v2023.version, delB))
	d = h.user("u1")
	if d.Spendable != 100 || d.User.Tier != "free" {
		t.Fatalf("after both ended: %d credits, tier %s; want the 100 free, free", d.Spendable, d.User.Tier)
	}
}

func TestTwoPlansAnyOrderWithDuplicates(t *testing.T) {
	lc := twoPlans()
	want := outcome{balance: 10000, tier: "enterprise", ledger: "expire-2500 plan+12500"}
	rng := rand.New(rand.NewPCG(7, 11))
	for run := 0; run < 300; run++ {
		order := rng.Perm(len(lc.events))
		order = append(order, order[rng.IntN(len(order))])
		if got := playOn(t, newMemHarness(t, multiCatalog()), lc, order, "u1"); got != want {
			t.Fatalf("order %v:\ngot  %+v\nwant %+v", order, got, want)
		}
	}
}

func TestBestPlanIsTheMostMonthlyCredits(t *testing.T) {
	c := multiCatalog()
	if !c.BetterPlan("enterprise", "pro") || c.BetterPlan("pro", "enterprise") || !c.BetterPlan("pro", "unknown") {
		t.Fatal("enterprise (10,000 a month) is better than pro (2,500), which is better than a plan not in the catalog")
	}
}

// A subscription's "incomplete" created event delivered after its paid
// invoice does not take the plan out of force.
func TestLateIncompleteKeepsThePaidPlan(t *testing.T) {
	h := newHarness(t, multiCatalog())
	v := v2023.version
	h.send(payload("evt_co", "checkout.session.completed", t0, v, session("cs_a", "u1", M{"user_id": "u1", "type": "plan-pro"},
		M{"mode": "subscription", "subscription": "sub_a", "payment_intent": nil})))
	h.send(payload("evt_i", "invoice.paid", t0.Add(2*time.Second), v, v2023.invoice("in_a", "sub_a", "u1", "price_pro_monthly", t0, t0.Add(30*day), "subscription_create")))
	h.send(payload("evt_sc", "customer.subscription.created", t0.Add(time.Second), v, v2023.sub("sub_a", "u1", "price_pro_monthly", "incomplete", t0.Add(30*day))))
	if d := h.user("u1"); d.User.Tier != "pro" || d.Spendable != 2500 {
		t.Fatalf("tier %s, %d credits; want pro, 2,500", d.User.Tier, d.Spendable)
	}
}
