package billing_test

import (
	"context"
	"strings"
	"testing"
	"time"

	. "creditdesk/billing"
)

func refundOf(id, invoice, pi string, at time.Time) []byte {
	return payload(id, "charge.refunded", at, v2023.version, M{"id": "ch_" + id, "object": "charge", "payment_intent": pi,
		"invoice": invoice, "amount": 4900, "amount_refunded": 4900, "refunded": true})
}

// A refund of a plan invoice whose credits a cancellation already expired
// takes nothing, never the free allowance, in either order.
func TestRefundAfterExpiryTakesNothingNorTheFreeAllowance(t *testing.T) {
	lc := twoPlans()
	// pro only: checkout, invoice, cancellation; then the refund of in_a.
	evs := [][]byte{lc.events[0], lc.events[1], lc.events[2], lc.events[6], refundOf("evt_rfa", "in_a", "pi_in_a", t0.Add(6*day))}
	for _, order := range [][]int{{0, 1, 2, 3, 4}, {4, 3, 2, 1, 0}, {0, 1, 2, 4, 3}, {3, 4, 0, 2, 1}} {
		h := newMemHarness(t, multiCatalog())
		got := playOn(t, h, lifecycle{now: lc.now.Add(day), events: evs}, order, "u1")
		if got.balance != 100 || got.tier != "free" {
			t.Fatalf("order %v: %+v, want the 100 free credits kept, tier free", order, got)
		}
		if got.ledger != "expire-2500 free+100 plan+2500" && got.ledger != "free+100 plan+2500 refund-2500" {
			t.Fatalf("order %v: ledger %s", order, got.ledger)
		}
		if ev := h.event("evt_rfa"); ev.State != StateApplied {
			t.Fatalf("order %v: refund %s %q", order, ev.State, ev.Reason)
		}
	}
}

// A refund takes the purchase's remaining credits, then the part the user
// spent from other paid credits, never the part that expired; the reason
// says so.
func TestRefundTakesWhatThePurchaseStillHasThenWhatWasSpent(t *testing.T) {
	h := newHarness(t, testCatalog())
	v := v2023.version
	p2 := t0.Add(30 * day)
	h.send(payload("evt_co", "checkout.session.completed", t0, v, session("cs_plan", "u1", M{"user_id": "u1", "type": "plan-pro"},
		M{"mode": "subscription", "subscription": "sub_1", "payment_intent": nil})))
	h.send(payload("evt_i1", "invoice.paid", t0, v, v2023.invoice("in_1", "sub_1", "u1", "price_pro_monthly", t0, p2, "subscription_create")))
	h.send(payload("evt_top", "checkout.session.completed", t0, v, session("cs_top", "u1", M{"user_id": "u1", "type": "credits-topup"}, nil)))
	if _, err := h.svc.Adjust(context.Background(), Adjustment{User: "u1", Delta: -1500, Reason: "usage", Key: "spend1"}); err != nil {
		t.Fatal(err)
	}
	// 1,500 of the 2,500 plan credits spent; 1,000 expire at the period end.
	h.now = p2.Add(time.Hour)
	h.send(refundOf("evt_rf", "in_1", "pi_in_1", h.now))
	ev := h.event("evt_rf")
	if !strings.Contains(ev.Reason, "1,500 of 2,500") || !strings.Contains(ev.Reason, "the rest had expired") {
		t.Fatalf("reason %q", ev.Reason)
	}
	d := h.user("u1")
	// The 1,500 spent came out of the 1,000 top-up (all it had); without
	// allow_debt the rest is not taken.
	if d.Spendable != 0 {
		t.Fatalf("balance %d, want 0 (the top-up taken for the spent part)", d.Spendable)
	}
	h.verify()
}

func TestRefundNeverTakesTheFreeAllowance(t *testing.T) {
	h := newHarness(t, testCatalog())
	v := v2023.version
	h.send(payload("evt_top", "checkout.session.completed", t0, v, session("cs_top", "u1", M{"user_id": "u1", "type": "credits-topup"}, nil)))
	if _, err := h.svc.Adjust(context.Background(), Adjustment{User: "u1", Delta: -1000, Reason: "usage", Key: "spend1"}); err != nil {
		t.Fatal(err)
	}
	// the free allowance after a plan ended
	del := v2023.sub("sub_9", "u1", "price_pro_monthly", "canceled", t0)
	del["ended_at"] = t0.Unix()
	h.send(payload("evt_del9", "customer.subscription.deleted", t0, v, del))
	if d := h.user("u1"); d.Spendable != 100 {
		t.Fatalf("balance %d, want the 100 free", d.Spendable)
	}
	h.send(refundOf("evt_rf", "", "pi_cs_top", t0.Add(time.Hour)))
	if d := h.user("u1"); d.Spendable != 100 {
		t.Fatalf("after the refund of a spent top-up: %d, want the 100 free credits untouched", d.Spendable)
	}
	h.verify()
}
