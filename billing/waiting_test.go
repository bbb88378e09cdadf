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

// A sweep after something else applied looks at every waiting event again
// but leaves one still waiting for the same thing as it was: no attempt
// counted (its retry keeps its time), no record rewritten, nothing sent to
// the console. The one whose checkout arrived is applied by that sweep.
func TestSweepLeavesStillWaitingEventsAsTheyWere(t *testing.T) {
	for name, newH := range map[string]func(*testing.T, Catalog) *harness{"bbolt": newHarness, "memory": newMemHarness} {
		t.Run(name, func(t *testing.T) {
			h := newH(t, testCatalog())
			for _, sub := range []string{"sub_a", "sub_b"} {
				inv := v2023.invoice("in_"+sub, sub, "", "price_pro_monthly", t0, t0.Add(30*day), "subscription_create")
				delete(inv, "subscription_details")
				inv["customer"] = "cus_" + sub // its own customer, linked to nobody
				h.send(payload("evt_inv_"+sub, "invoice.paid", t0, "2023-10-16", inv))
			}
			before := h.event("evt_inv_sub_b")
			if before.State != StateWaiting || before.Attempts != 1 {
				t.Fatalf("invoice of sub_b: %s after %d attempts, want waiting after 1", before.State, before.Attempts)
			}
			feed, stop := h.svc.Subscribe()
			defer stop()
			h.now = t0.Add(time.Second)
			h.send(payload("evt_co_a", "checkout.session.completed", t0, "2023-10-16",
				session("cs_a", "u1", M{"user_id": "u1", "type": "plan-pro"}, M{"mode": "subscription", "subscription": "sub_a", "payment_intent": nil})))
			if rec := h.event("evt_inv_sub_a"); rec.State != StateApplied {
				t.Fatalf("invoice of sub_a after its checkout: %s %q, want applied", rec.State, rec.Reason)
			}
			after := h.event("evt_inv_sub_b")
			if after.State != StateWaiting || after.Attempts != before.Attempts || !after.NextAttempt.Equal(before.NextAttempt) || after.Reason != before.Reason {
				t.Fatalf("invoice of sub_b after the sweep: %s, attempt %d, next %s; before: attempt %d, next %s",
					after.State, after.Attempts, after.NextAttempt, before.Attempts, before.NextAttempt)
			}
			for len(feed) > 0 {
				if a := <-feed; a.EventID == "evt_inv_sub_b" {
					t.Fatalf("the sweep told the console of the invoice still waiting: %+v", a)
				}
			}
			// Its own retry, when due, still counts as an attempt.
			h.now = after.NextAttempt
			if _, err := h.svc.ProcessPending(t.Context()); err != nil {
				t.Fatal(err)
			}
			if rec := h.event("evt_inv_sub_b"); rec.State != StateWaiting || rec.Attempts != before.Attempts+1 || !rec.NextAttempt.After(after.NextAttempt) {
				t.Fatalf("invoice of sub_b at its retry: %s, attempt %d, next %s", rec.State, rec.Attempts, rec.NextAttempt)
			}
		})
	}
}
