package storage

import (
	"encoding/json"
	"fmt"
	"sync"
	"time"

	"creditdesk/billing"

	bolt "go.etcd.io/bbolt"
)

// Ingest stores a verified event durably: when it returns without error the
// event is committed and fsynced, so the caller may acknowledge it. An event
// id already stored is a duplicate: nothing changes and duplicate is true.
// Concurrent calls share commits (see Shared): the fsync is paid once per
// group, not once per event.
func (s *Store) Ingest(ev billing.Event) (rec billing.EventRecord, duplicate bool, err error) {
	s.inflight.begin()
	defer s.inflight.end()
	stored := encodePayload(ev.Payload) // before the commit, not under its lock
	err = s.Shared(time.Now(), func(tx billing.Tx) error {
		var err error
		rec, duplicate, err = ingestTx(tx.(*Tx).tx, ev, stored)
		return err
	})
	return rec, duplicate, err
}

// IngestsIdle returns a channel that is closed once no Ingest call waits
// for its commit (at once when none does). The processor defers to them,
// so acknowledgements stay fast under load and applying catches up after.
func (s *Store) IngestsIdle() <-chan struct{} { return s.inflight.idle() }

// IngestsInFlight is how many Ingest calls are waiting for their commit.
func (s *Store) IngestsInFlight() int64 {
	s.inflight.mu.Lock()
	defer s.inflight.mu.Unlock()
	return s.inflight.n
}

// inflight counts the Ingest calls waiting for their commit, with a channel
// closed each time the count comes back to zero.
type inflight struct {
	mu   sync.Mutex
	n    int64
	done chan struct{} // closed while n == 0
}

func (f *inflight) begin() {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.n == 0 {
		f.done = make(chan struct{})
	}
	f.n++
}

func (f *inflight) end() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.n--
	if f.n == 0 {
		close(f.done)
	}
}

var closedChan = func() chan struct{} { c := make(chan struct{}); close(c); return c }()

func (f *inflight) idle() <-chan struct{} {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.n == 0 {
		return closedChan
	}
	return f.done
}

// ingestTx stores ev with its payload in its stored form (encodePayload).
func ingestTx(tx *bolt.Tx, ev billing.Event, stored []byte) (billing.EventRecord, bool, error) {
	if ev.ID == "" {
		return billing.EventRecord{}, false, fmt.Errorf("event has no id")
	}
	ids := tx.Bucket(eventIDsBucket)
	if seq := ids.Get([]byte(ev.ID)); seq != nil {
		var rec billing.EventRecord
		_, err := getJSON(tx.Bucket(eventsBucket), seq, &rec)
		return rec, true, err
	}
	events := tx.Bucket(eventsBucket)
	seq, err := events.NextSequence()
	if err != nil {
		return billing.EventRecord{}, false, err
	}
	rec := ev.EventRecord
	rec.Seq = seq
	if rec.State == "" {
		rec.State = billing.StateReceived
	}
	if rec.ReceivedAt.IsZero() {
		rec.ReceivedAt = time.Now().UTC()
	}
	k := itob(seq)
	if err := putJSON(events, k, rec); err != nil {
		return billing.EventRecord{}, false, err
	}
	if err := putPayload(tx, k, stored); err != nil {
		return billing.EventRecord{}, false, err
	}
	if err := ids.Put([]byte(ev.ID), k); err != nil {
		return billing.EventRecord{}, false, err
	}
	if isPending(rec.State) {
		if err := tx.Bucket(pendingBucket).Put(k, nil); err != nil {
			return billing.EventRecord{}, false, err
		}
		if err := addCount(tx, "pending", 1); err != nil {
			return billing.EventRecord{}, false, err
		}
	}
	if rec.State == billing.StateWaiting {
		if err := addCount(tx, "waiting", 1); err != nil {
			return billing.EventRecord{}, false, err
		}
	}
	return rec, false, addCount(tx, "events", 1)
}

// Pending returns up to limit events in state received or waiting, with
// arrival sequence above after, for which due (nil: all) is true, in arrival
// order, with payloads.
func (s *Store) Pending(after uint64, limit int, due func(billing.EventRecord) bool) ([]billing.Event, error) {
	var out []billing.Event
	err := s.view(func(tx *bolt.Tx) error {
		c := tx.Bucket(pendingBucket).Cursor()
		events := tx.Bucket(eventsBucket)
		for k, _ := c.Seek(itob(after + 1)); k != nil && len(out) < limit; k, _ = c.Next() {
			var ev billing.Event
			if _, err := getJSON(events, k, &ev.EventRecord); err != nil {
				return err
			}
			if due != nil && !due(ev.EventRecord) {
				continue
			}
			var err error
			if ev.Payload, err = payload(tx, k); err != nil {
				return fmt.Errorf("event %s: %w", ev.ID, err)
			}
			out = append(out, ev)
		}
		return nil
	})
	return out, err
}

// EventByID returns a stored event with its payload.
func (s *Store) EventByID(id string) (billing.Event, error) {
	var ev billing.Event
	err := s.view(func(tx *bolt.Tx) error {
		k := tx.Bucket(eventIDsBucket).Get([]byte(id))
		if k == nil {
			return billing.ErrNotFound
		}
		if _, err := getJSON(tx.Bucket(eventsBucket), k, &ev.EventRecord); err != nil {
			return err
		}
		var err error
		ev.Payload, err = payload(tx, k)
		return err
	})
	return ev, err
}

// EventsPage returns up to limit events newest first, starting below seq
// before (0 means from the newest). It reads only the page, never the bucket.
func (s *Store) EventsPage(before uint64, limit int, match func(billing.EventRecord) bool) ([]billing.EventRecord, error) {
	var out []billing.EventRecord
	err := s.view(func(tx *bolt.Tx) error {
		c := tx.Bucket(eventsBucket).Cursor()
		k, v := lastBelow(c, seqBelow(before))
		for ; k != nil && len(out) < limit; k, v = c.Prev() {
			var rec billing.EventRecord
			if err := json.Unmarshal(v, &rec); err != nil {
				return err
			}
			if match == nil || match(rec) {
				out = append(out, rec)
			}
		}
		return nil
	})
	return out, err
}
