package simulate

import (
	"testing"
	"time"
)

// Backfill hands over a month of flows in order, every event created in
// the month, the same month for the same seed.
func TestBackfillIsAMonthInOrder(t *testing.T) {
	now := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	from := now.AddDate(0, 0, -30)
	var got []time.Time
	var types = map[string]int{}
	days := map[string]bool{}
	n, err := Backfill(7, from, now, func(ev Event, at time.Time) error {
		if !ev.Redelivery {
			got = append(got, at)
		}
		types[ev.Type]++
		days[at.Format(time.DateOnly)] = true
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if n < 300 || len(days) < 28 {
		t.Fatalf("%d events over %d days: not a believable month", n, len(days))
	}
	for i, at := range got {
		if at.Before(from) || at.After(now) {
			t.Fatalf("event %d created %s, outside %s–%s", i, at, from, now)
		}
		if i > 0 && at.Before(got[i-1]) {
			t.Fatalf("event %d created %s before the one before it (%s)", i, at, got[i-1])
		}
	}
	for _, typ := range []string{"checkout.session.completed", "invoice.paid", "charge.refunded", "customer.subscription.deleted"} {
		if types[typ] == 0 {
			t.Errorf("no %s in a month: %v", typ, types)
		}
	}
	again, _ := Backfill(7, from, now, func(Event, time.Time) error { return nil })
	if again != n {
		t.Errorf("same seed: %d events, then %d", n, again)
	}
}
