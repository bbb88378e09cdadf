package billing_test

import (
	"strings"
	"testing"
	"time"

	. "creditdesk/billing"
)

// The waiting window counts from arrival: an invoice created ten days ago
// and resynced now waits for its checkout instead of being set aside at
// once; it is set aside only 72 h after it arrived.
func TestWaitingWindowCountsFromArrival(t *testing.T) {
	created := t0.Add(-10 * day)
	// arrive has a paid invoice of sub created ten days ago, naming no
	// user, arrive at t0 from source (evt_old_inv).
	arrive := func(t *testing.T, sub string, periodEnd time.Time, source string) *harness {
		h := newHarness(t, testCatalog())
		h.now = t0
		inv := v2023.invoice("in_old", sub, "", "price_pro_monthly", created, periodEnd, "subscription_create")
		delete(inv, "subscription_details")
		inv["customer"] = "cus_u1"
		if _, _, err := h.svc.Ingest(payload("evt_old_inv", "invoice.paid", created, "2023-10-16", inv), source); err != nil {
			t.Fatal(err)
		}
		return h
	}
	for _, source := range []string{"webhook", "resync"} {
		t.Run(source, func(t *testing.T) {
			h := arrive(t, "sub_old", created.Add(30*day), source)
			h.now = t0.Add(71 * time.Hour)
			if _, err := h.svc.ProcessPending(t.Context()); err != nil {
				t.Fatal(err)
			}
			if rec := h.event("evt_old_inv"); rec.State != StateWaiting {
				t.Fatalf("71 h after arrival (10 days after creation): %s %q, want waiting", rec.State, rec.Reason)
			}
			h.now = t0.Add(73 * time.Hour)
			if _, err := h.svc.ProcessPending(t.Context()); err != nil {
				t.Fatal(err)
			}
			rec := h.event("evt_old_inv")
			if rec.State != StateIgnored || !strings.Contains(rec.Reason, "arrival") {
				t.Fatalf("73 h after arrival: %s %q, want set aside", rec.State, rec.Reason)
			}
		})
	}
	t.Run("applies when its checkout comes within the window", func(t *testing.T) {
		h := arrive(t, "sub_1", t0.Add(20*day), "resync")
		h.now = t0.Add(time.Hour)
		h.send(payload("evt_co", "checkout.session.completed", created.Add(-time.Minute), "2023-10-16",
			session("cs_plan", "u1", M{"user_id": "u1", "type": "plan-pro"}, M{"mode": "subscription", "subscription": "sub_1", "payment_intent": nil})))
		if rec := h.event("evt_old_inv"); rec.State != StateApplied {
			t.Fatalf("resynced invoice: %s %q", rec.State, rec.Reason)
		}
		if d := h.user("u1"); d.Spendable != 2500 {
			t.Fatalf("balance %d", d.Spendable)
		}
	})
}
