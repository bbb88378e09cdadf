package storage

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"creditdesk/billing"

	bolt "go.etcd.io/bbolt"
)

// pendingStore holds 40 events: every third applied, every third waiting
// (half of those due at t0+1m, half at t0+1h, one of them for the API),
// the rest received.
func pendingStore(t *testing.T) *Store {
	t.Helper()
	s := openTemp(t)
	for i := range 40 {
		rec, _, err := s.Ingest(billing.Event{EventRecord: billing.EventRecord{ID: fmt.Sprint("evt_", i), Type: "invoice.paid", ReceivedAt: t0}, Payload: []byte(`{}`)})
		if err != nil {
			t.Fatal(err)
		}
		switch i % 3 {
		case 0:
			rec.State = billing.StateApplied
		case 1:
			rec.State, rec.Reason = billing.StateWaiting, "waiting for the checkout"
			rec.NextAttempt = t0.Add(time.Minute)
			if i%2 == 0 {
				rec.NextAttempt = t0.Add(time.Hour)
			}
			rec.WaitsForAPI = i == 7
		default:
			continue
		}
		if err := s.Update(t0, func(tx billing.Tx) error { return tx.SetEvent(rec) }); err != nil {
			t.Fatal(err)
		}
	}
	return s
}

// pendingSeqs is what the processor's filter takes at now: received, and
// waiting once due; sweep takes waiting not held for the API.
func pendingSeqs(t *testing.T, s *Store, now time.Time, sweep bool) []uint64 {
	t.Helper()
	recs, err := s.Pending(0, 100, func(r billing.EventRecord) bool {
		if sweep {
			return r.State == billing.StateWaiting && !r.WaitsForAPI
		}
		return r.State == billing.StateReceived || !r.NextAttempt.After(now)
	})
	if err != nil {
		t.Fatal(err)
	}
	var seqs []uint64
	for _, r := range recs {
		if r.ID == "" || r.Reason == "" && r.State == billing.StateWaiting {
			t.Fatalf("Pending returned a partial record: %+v", r)
		}
		seqs = append(seqs, r.Seq)
	}
	return seqs
}

// The filter reads the pending index, not the records; an index written
// before it held anything (empty values) picks the very same events from
// the records, and so does a mix of both.
func TestPendingPicksTheSameFromTheIndexAsFromTheRecords(t *testing.T) {
	s := pendingStore(t)
	type pick struct {
		now   time.Time
		sweep bool
	}
	picks := []pick{{t0, false}, {t0.Add(time.Minute), false}, {t0.Add(2 * time.Hour), false}, {t0, true}}
	want := map[pick][]uint64{}
	for _, p := range picks {
		want[p] = pendingSeqs(t, s, p.now, p.sweep)
	}
	if len(want[picks[0]]) != 13 || len(want[picks[1]]) <= len(want[picks[0]]) || len(want[picks[2]]) != 26 || len(want[picks[3]]) != 12 {
		t.Fatalf("picks from the index: %v", want)
	}
	for _, keep := range []int{0, 2} { // 0: every value emptied; 2: every other one
		if err := s.db.Update(func(tx *bolt.Tx) error {
			b := tx.Bucket(pendingBucket)
			var keys [][]byte
			b.ForEach(func(k, _ []byte) error { keys = append(keys, slices.Clone(k)); return nil })
			for i, k := range keys {
				if keep == 0 || i%keep == 0 {
					if err := b.Put(k, nil); err != nil {
						return err
					}
				}
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		for _, p := range picks {
			if got := pendingSeqs(t, s, p.now, p.sweep); !slices.Equal(got, want[p]) {
				t.Fatalf("keep %d, pick %+v: %v from the records, %v from the index", keep, p, got, want[p])
			}
		}
		mustVerify(t, s)
	}
	// An event changed from then on is indexed in full again.
	recs, _ := s.Pending(0, 1, nil)
	rec := recs[0]
	rec.State, rec.NextAttempt, rec.Reason = billing.StateWaiting, t0.Add(time.Hour), "waiting"
	if err := s.Update(t0, func(tx billing.Tx) error { return tx.SetEvent(rec) }); err != nil {
		t.Fatal(err)
	}
	s.db.View(func(tx *bolt.Tx) error {
		if got, ok := decodePendingEntry(rec.Seq, tx.Bucket(pendingBucket).Get(itob(rec.Seq))); !ok || got.State != billing.StateWaiting || !got.NextAttempt.Equal(rec.NextAttempt) {
			t.Errorf("after SetEvent the index says %+v (ok %v)", got, ok)
		}
		return nil
	})
	mustVerify(t, s)
}

// A pending index value that disagrees with its record is what verify
// reports, naming the event; a damaged one too, and Pending still reads the
// damaged one's record instead of trusting it.
func TestVerifyFindsAPendingIndexThatDisagrees(t *testing.T) {
	s := pendingStore(t)
	mustVerify(t, s)
	recs, _ := s.Pending(0, 1, func(r billing.EventRecord) bool { return r.State == billing.StateReceived })
	rec := recs[0]
	stale := rec
	stale.State, stale.NextAttempt = billing.StateWaiting, t0.Add(time.Hour)
	s.db.Update(func(tx *bolt.Tx) error { return putPendingEntry(tx, itob(rec.Seq), stale) })
	if _, err := s.Verify(); err == nil || !strings.Contains(err.Error(), rec.ID+" is received") || !strings.Contains(err.Error(), "pending index says waiting") {
		t.Fatalf("verify: %v, want the stale entry of %s named", err, rec.ID)
	}
	s.db.Update(func(tx *bolt.Tx) error {
		return tx.Bucket(pendingBucket).Put(itob(rec.Seq), []byte{pendingCodecV1, 200})
	})
	if _, err := s.Verify(); err == nil || !strings.Contains(err.Error(), rec.ID) || !strings.Contains(err.Error(), "not its binary layout") {
		t.Fatalf("verify: %v, want the damaged entry of %s named", err, rec.ID)
	}
	if got := pendingSeqs(t, s, t0, false); !slices.Contains(got, rec.Seq) {
		t.Fatalf("the received event behind a damaged index entry was not picked: %v", got)
	}
}
