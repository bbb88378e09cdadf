package billing_test

import (
	"strings"
	"testing"

	. "creditdesk/billing"
)

// Only payments are purchases: a setup session saves a card and buys
// nothing; a 100% promotion code (no_payment_required) is a purchase; an
// unpaid session of 0 grants nothing.
func TestOnlyPaymentsArePurchases(t *testing.T) {
	t.Run("setup session is ignored with a reason", func(t *testing.T) {
		h := newHarness(t, testCatalog())
		s := session("cs_setup", "u1", M{}, M{"mode": "setup", "payment_status": "no_payment_required",
			"amount_total": nil, "payment_intent": nil, "setup_intent": "seti_1", "metadata": M{}})
		delete(s, "metadata")
		s["client_reference_id"] = nil
		h.send(payload("evt_setup", "checkout.session.completed", t0, "2024-06-20", s))
		ev := h.event("evt_setup")
		if ev.State != StateIgnored || !strings.Contains(ev.Reason, "setup") {
			t.Fatalf("setup session: %s %q, want ignored with a reason", ev.State, ev.Reason)
		}
		if items := attentionFor(t, h.svc, "cs_setup"); len(items) != 0 {
			t.Fatalf("attention items for a setup session: %+v", items)
		}
		for _, id := range []string{"unlinked:cs_setup", "cus_u1", "u1"} {
			if _, err := h.svc.UserDetail(id); err == nil {
				t.Fatalf("a setup session created user %s", id)
			}
		}
		all, err := h.svc.Attention()
		if err != nil || len(all) != 0 {
			t.Fatalf("attention: %+v %v", all, err)
		}
		h.send(payload("evt_setup_exp", "checkout.session.expired", t0, "2024-06-20", s))
		if ev := h.event("evt_setup_exp"); ev.State != StateIgnored {
			t.Fatalf("expired setup session: %s %q", ev.State, ev.Reason)
		}
	})
	t.Run("100% promotion code grants the pack", func(t *testing.T) {
		h := newHarness(t, testCatalog())
		h.send(payload("evt_free", "checkout.session.completed", t0, "2024-06-20", session("cs_free", "u1",
			M{"user_id": "u1", "type": "credits-topup"}, M{"payment_status": "no_payment_required", "amount_total": 0, "payment_intent": nil})))
		if ev := h.event("evt_free"); ev.State != StateApplied {
			t.Fatalf("%s %q", ev.State, ev.Reason)
		}
		if d := h.user("u1"); d.Spendable != 1000 {
			t.Fatalf("balance %d, want the 1,000 credits of the top-up", d.Spendable)
		}
	})
	t.Run("100% promotion code on a subscription makes it a plan", func(t *testing.T) {
		h := newHarness(t, testCatalog())
		h.send(payload("evt_fs", "checkout.session.completed", t0, "2024-06-20", session("cs_fs", "u1",
			M{"user_id": "u1", "type": "plan-pro"}, M{"mode": "subscription", "subscription": "sub_f",
				"payment_status": "no_payment_required", "amount_total": 0, "payment_intent": nil})))
		h.send(payload("evt_fi", "invoice.paid", t0.Add(1), v2023.version,
			v2023.invoice("in_f", "sub_f", "u1", "price_pro_monthly", t0, t0.Add(30*day), "subscription_create")))
		d := h.user("u1")
		if d.User.Tier != "pro" || d.Spendable != 2500 {
			t.Fatalf("tier %s balance %d, want pro 2,500", d.User.Tier, d.Spendable)
		}
	})
	t.Run("unpaid session of 0 grants nothing", func(t *testing.T) {
		h := newHarness(t, testCatalog())
		h.send(payload("evt_zero", "checkout.session.completed", t0, "2024-06-20", session("cs_zero", "u1",
			M{"user_id": "u1", "type": "credits-topup"}, M{"payment_status": "unpaid", "amount_total": 0, "payment_intent": nil})))
		if ev := h.event("evt_zero"); ev.State == StateFailed {
			t.Fatalf("%s %q", ev.State, ev.Reason)
		}
		if d := h.user("u1"); d.Spendable != 0 || len(d.Entries) != 0 {
			t.Fatalf("balance %d entries %+v, want nothing granted", d.Spendable, d.Entries)
		}
	})
}
