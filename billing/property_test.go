package billing_test

import (
	"math/rand/v2"
	"testing"
	"time"
)

// twoUsersStory is the story of the property test, for two users:
//
//	u1 holds pro (sub_a) and enterprise (sub_b) at once. pro's first
//	period lapsed before now (its credits expired at the period end) and
//	its invoice is refunded after that: nothing to take back. pro is
//	then cancelled: only its second period's credits expire; enterprise
//	keeps its own and the tier, and no free allowance comes while it
//	runs. Half of enterprise's invoice is refunded before it expires. A
//	top-up is bought and lost in a dispute.
//	u2 holds pro (sub_c) alone and cancels it: tier free, the free
//	allowance.
func twoUsersStory() lifecycle {
	v := v2023.version
	p0, p1, p2 := t0.Add(-30*day), t0, t0.Add(30*day)
	cancelA, cancelC := t0.Add(5*day), t0.Add(4*day)
	delA := v2023.sub("sub_a", "u1", "price_pro_monthly", "canceled", p2)
	delA["canceled_at"], delA["ended_at"] = cancelA.Unix(), cancelA.Unix()
	delC := v2023.sub("sub_c", "u2", "price_pro_monthly", "canceled", p2)
	delC["canceled_at"], delC["ended_at"] = cancelC.Unix(), cancelC.Unix()
	sec := func(t time.Time, n int) time.Time { return t.Add(time.Duration(n) * time.Second) }
	return lifecycle{now: t0.Add(6 * day), events: [][]byte{
		payload("evt_coa", "checkout.session.completed", p0, v, session("cs_a", "u1", M{"user_id": "u1", "type": "plan-pro"},
			M{"mode": "subscription", "subscription": "sub_a", "payment_intent": nil})),
		payload("evt_sca", "customer.subscription.created", sec(p0, 1), v, v2023.sub("sub_a", "u1", "price_pro_monthly", "active", p1)),
		payload("evt_ia0", "invoice.paid", sec(p0, 2), v, v2023.invoice("in_a0", "sub_a", "u1", "price_pro_monthly", p0, p1, "subscription_create")),
		payload("evt_sua", "customer.subscription.updated", p1, v, v2023.sub("sub_a", "u1", "price_pro_monthly", "active", p2)),
		payload("evt_ia1", "invoice.paid", sec(p1, 1), v, v2023.invoice("in_a1", "sub_a", "u1", "price_pro_monthly", p1, p2, "subscription_cycle")),
		payload("evt_cob", "checkout.session.completed", p1.Add(day), v, session("cs_b", "u1", M{"user_id": "u1", "type": "plan-enterprise"},
			M{"mode": "subscription", "subscription": "sub_b", "payment_intent": nil})),
		payload("evt_scb", "customer.subscription.created", sec(p1.Add(day), 1), v, v2023.sub("sub_b", "u1", "price_ent_monthly", "active", p2.Add(day))),
		payload("evt_ib", "invoice.paid", sec(p1.Add(day), 2), v, v2023.invoice("in_b", "sub_b", "u1", "price_ent_monthly", p1.Add(day), p2.Add(day), "subscription_create")),
		payload("evt_top", "checkout.session.completed", p1.Add(2*day), v, session("cs_top", "u1", M{"user_id": "u1", "type": "credits-topup"}, nil)),
		payload("evt_rfa0", "charge.refunded", p1.Add(2*day), v, M{"id": "ch_a0", "object": "charge", "payment_intent": "pi_in_a0",
			"amount": 4900, "amount_refunded": 4900, "refunded": true}),
		payload("evt_rfb", "charge.refunded", p1.Add(3*day), v, M{"id": "ch_b", "object": "charge", "payment_intent": "pi_in_b",
			"amount": 4900, "amount_refunded": 2450, "refunded": false}),
		payload("evt_dpo", "charge.dispute.created", p1.Add(3*day), v, M{"id": "dp_1", "object": "dispute", "charge": "ch_top",
			"payment_intent": "pi_cs_top", "status": "needs_response", "reason": "fraudulent"}),
		payload("evt_dpl", "charge.dispute.closed", p1.Add(4*day), v, M{"id": "dp_1", "object": "dispute", "charge": "ch_top",
			"payment_intent": "pi_cs_top", "status": "lost", "reason": "fraudulent"}),
		payload("evt_dela", "customer.subscription.deleted", cancelA, v, delA),
		payload("evt_coc", "checkout.session.completed", p1, v, session("cs_c", "u2", M{"user_id": "u2", "type": "plan-pro"},
			M{"mode": "subscription", "subscription": "sub_c", "payment_intent": nil})),
		payload("evt_ic", "invoice.paid", sec(p1, 1), v, v2023.invoice("in_c", "sub_c", "u2", "price_pro_monthly", p1, p2, "subscription_create")),
		payload("evt_delc", "customer.subscription.deleted", cancelC, v, delC),
	}}
}

var bookWant = map[string]outcome{
	// 2,500 + 2,500 + 10,000 plan credits, 5,000 of pro's expire, half of
	// enterprise's refunded, the top-up granted and lost in the dispute.
	"u1": {balance: 5000, tier: "enterprise", ledger: "expire-5000 pack+1000 plan+15000 refund-6000"},
	"u2": {balance: 100, tier: "free", ledger: "expire-2500 free+100 plan+2500"},
}

func playBook(t *testing.T, lc lifecycle, order []int) map[string]outcome {
	t.Helper()
	h := newMemHarness(t, multiCatalog())
	out := map[string]outcome{"u1": playOn(t, h, lc, order, "u1")}
	out["u2"] = outcomeOf(h.user("u2"), false)
	return out
}

func TestBookInOrder(t *testing.T) {
	lc := twoUsersStory()
	order := make([]int, len(lc.events))
	for i := range order {
		order[i] = i
	}
	got := playBook(t, lc, order)
	for u, want := range bookWant {
		if got[u] != want {
			t.Fatalf("%s: got  %+v\nwant %+v", u, got[u], want)
		}
	}
}

// TestBookAnyOrderWithDuplicates: the same balances, tiers and per-kind
// totals in every order, with events delivered twice: 2,000 random orders
// a run (the seed changes with the day, so the runs explore).
func TestBookAnyOrderWithDuplicates(t *testing.T) {
	lc := twoUsersStory()
	runs := 2000
	if testing.Short() {
		runs = 200
	}
	seed := uint64(time.Now().Unix() / 86400)
	rng := rand.New(rand.NewPCG(seed, 2026))
	start := time.Now()
	for run := 0; run < runs; run++ {
		order := rng.Perm(len(lc.events))
		for range rng.IntN(4) + 1 {
			order = append(order, order[rng.IntN(len(order))])
		}
		rng.Shuffle(len(order), func(i, j int) { order[i], order[j] = order[j], order[i] })
		got := playBook(t, lc, order)
		for u, want := range bookWant {
			if got[u] != want {
				t.Fatalf("seed %d run %d order %v\n%s: got  %+v\nwant %+v", seed, run, order, u, got[u], want)
			}
		}
	}
	t.Logf("%d orders in %s (seed %d)", runs, time.Since(start).Round(time.Millisecond), seed)
}
