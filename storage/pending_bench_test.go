package storage

import (
	"fmt"
	"testing"
	"time"

	"creditdesk/billing"
)

// BenchmarkPendingPastWaitingEvents reads the next batch of received events
// behind 2,000 that wait (not due): what the processor does on every batch
// while events wait for something that has not arrived.
func BenchmarkPendingPastWaitingEvents(b *testing.B) {
	s, err := Open(b.TempDir()+"/p.db", Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	later := time.Now().Add(time.Hour)
	for i := range 2100 {
		rec, _, err := s.Ingest(billing.Event{EventRecord: billing.EventRecord{ID: fmt.Sprint("evt_", i), Type: "invoice.paid"}, Payload: []byte(`{}`)})
		if err != nil {
			b.Fatal(err)
		}
		if i < 2000 {
			rec.State, rec.NextAttempt, rec.Reason = billing.StateWaiting, later, "waiting for the checkout that links subscription sub_1 to a user"
			if err := s.Update(time.Now(), func(tx billing.Tx) error { return tx.SetEvent(rec) }); err != nil {
				b.Fatal(err)
			}
		}
	}
	now := time.Now()
	due := func(r billing.EventRecord) bool { return r.State == billing.StateReceived || !r.NextAttempt.After(now) }
	b.ReportAllocs()
	for b.Loop() {
		recs, err := s.Pending(0, 256, due)
		if err != nil || len(recs) != 100 {
			b.Fatalf("%d pending, %v", len(recs), err)
		}
	}
}
