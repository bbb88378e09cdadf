package storage

import (
	"errors"
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
	stored, withDict := s.codec.encode(ev.Payload) // before the commit, not under its lock
	err = s.Shared(time.Now(), func(tx billing.Tx) error {
		var err error
		rec, duplicate, err = ingestTx(tx.(*Tx).tx, ev, stored)
		return err
	})
	if err == nil && !duplicate {
		s.afterIngest(withDict)
	}
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

// ingestTx stores ev with its payload in its stored form (payloadCodec.encode).
func ingestTx(tx *bolt.Tx, ev billing.Event, stored []byte) (billing.EventRecord, bool, error) {
	if ev.ID == "" {
		return billing.EventRecord{}, false, fmt.Errorf("event has no id")
	}
	ids := tx.Bucket(eventIDsBucket)
	if seq := ids.Get([]byte(ev.ID)); seq != nil {
		rec, _, err := getEvent(tx.Bucket(eventsBucket), seq)
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
	if err := putEvent(events, rec); err != nil {
		return billing.EventRecord{}, false, err
	}
	if err := putPayload(tx, k, stored); err != nil {
		return billing.EventRecord{}, false, err
	}
	if err := ids.Put([]byte(ev.ID), k); err != nil {
		return billing.EventRecord{}, false, err
	}
	if isPending(rec.State) {
		if err := putPendingEntry(tx, k, rec); err != nil {
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

// Payloads returns the bodies stored for the events with these sequences,
// in order (nil for one that has none).
func (s *Store) Payloads(seqs []uint64) ([][]byte, error) {
	out := make([][]byte, len(seqs))
	err := s.view(func(tx *bolt.Tx) error {
		for i, seq := range seqs {
			var err error
			if out[i], err = s.payload(tx, itob(seq)); err != nil {
				return fmt.Errorf("event #%d: %w", seq, err)
			}
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
		var err error
		if ev.EventRecord, _, err = getEvent(tx.Bucket(eventsBucket), k); err != nil {
			return err
		}
		ev.Payload, err = s.payload(tx, k)
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
			var err error
			if rec, err = decodeEvent(v); err != nil {
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

// The events bucket (eventsBucket) maps an arrival sequence (8 bytes
// big-endian) to the event's record without its payload. Since schema
// version 9 a record is this binary layout, not JSON (a JSON record starts
// with '{'; a binary one with eventCodecV1):
//
//	eventCodecV1
//	uvarint seq
//	string id, string type          (a string is a uvarint length, then its bytes)
//	varint created
//	string api_version
//	byte flags                      (1 livemode, 2 waits_for_api, 4 received_at set, 8 next_attempt set)
//	[varint seconds, uvarint nanoseconds of received_at, if set]
//	[varint seconds, uvarint nanoseconds of next_attempt, if set]
//	string state, string reason
//	varint attempts
//	string user
//	varint amount
//	uvarint number of keys, then each key as a string
//	string source
//
// Times are UTC. Nothing may follow the last field.
const eventCodecV1 = 0x01

const (
	evLivemode = 1 << iota
	evWaitsForAPI
	evReceivedAt
	evNextAttempt
)

// eventFillPercent packs the events and payloads buckets' pages: their keys
// only grow, so bbolt's default of half-full pages would leave half of every
// page empty for inserts that never come.
const eventFillPercent = 1.0

// encodeEvent is rec in the events bucket's binary layout.
func encodeEvent(rec billing.EventRecord) []byte {
	w := newRecordWriter(eventCodecV1, 96+len(rec.ID)+len(rec.Type)+len(rec.Reason)+len(rec.User)+len(rec.Keys)*32)
	w.uvarint(rec.Seq)
	w.str(rec.ID)
	w.str(rec.Type)
	w.varint(rec.Created)
	w.str(rec.APIVersion)
	var flags byte
	if rec.Livemode {
		flags |= evLivemode
	}
	if rec.WaitsForAPI {
		flags |= evWaitsForAPI
	}
	if !rec.ReceivedAt.IsZero() {
		flags |= evReceivedAt
	}
	if !rec.NextAttempt.IsZero() {
		flags |= evNextAttempt
	}
	w.byte(flags)
	if !rec.ReceivedAt.IsZero() {
		w.time(rec.ReceivedAt)
	}
	if !rec.NextAttempt.IsZero() {
		w.time(rec.NextAttempt)
	}
	w.str(string(rec.State))
	w.str(rec.Reason)
	w.varint(int64(rec.Attempts))
	w.str(rec.User)
	w.varint(rec.Amount)
	w.strs(rec.Keys)
	w.str(rec.Source)
	return w.record()
}

// errEventCodec is a stored event record that is not the layout above.
var errEventCodec = errors.New("event record is damaged: not the binary layout of schema version 9")

// peekEvent reads what Pending's filters look at (seq, state, received and
// next attempt, whether it waits for the API) without copying the
// strings: Pending passes over every waiting event on each batch, and
// most of them are not due.
func peekEvent(v []byte) (billing.EventRecord, error) {
	var rec billing.EventRecord
	r := newRecordReader(v, eventCodecV1, errEventCodec)
	readEventHead(r, &rec, false)
	return rec, r.err
}

var knownStates = []billing.EventState{billing.StateReceived, billing.StateWaiting, billing.StateApplied, billing.StateIgnored, billing.StateFailed}

// readEventHead reads an event record up to its state and returns its
// flags; with strs false it skips the id, type and API version instead of
// copying them, and copies the state only when it is none of knownStates.
func readEventHead(r *recordReader, rec *billing.EventRecord, strs bool) (flags byte) {
	str := func() string {
		if strs {
			return r.str()
		}
		r.bytes()
		return ""
	}
	rec.Seq = r.uvarint()
	rec.ID = str()
	rec.Type = str()
	rec.Created = r.varint()
	rec.APIVersion = str()
	flags = r.byte()
	rec.Livemode, rec.WaitsForAPI = flags&evLivemode != 0, flags&evWaitsForAPI != 0
	if flags&evReceivedAt != 0 {
		rec.ReceivedAt = r.time()
	}
	if flags&evNextAttempt != 0 {
		rec.NextAttempt = r.time()
	}
	rec.State = eventState(r.bytes())
	return flags
}

// eventState is the state st names: one of knownStates without a copy, or
// a copy for a state that is none of them.
func eventState(st []byte) billing.EventState {
	for _, known := range knownStates {
		if string(st) == string(known) {
			return known
		}
	}
	return billing.EventState(st)
}

// decodeEvent reads a record encodeEvent wrote.
func decodeEvent(v []byte) (billing.EventRecord, error) {
	var rec billing.EventRecord
	r := newRecordReader(v, eventCodecV1, errEventCodec)
	flags := readEventHead(r, &rec, true)
	rec.Reason = r.str()
	rec.Attempts = int(r.varint())
	rec.User = r.str()
	rec.Amount = r.varint()
	rec.Keys = r.strs()
	rec.Source = r.str()
	if flags >= evNextAttempt<<1 {
		r.fail()
	}
	return decoded(r, rec)
}

// getEvent reads the record under k of the events bucket; ok is false when
// there is none.
func getEvent(events *bolt.Bucket, k []byte) (rec billing.EventRecord, ok bool, err error) {
	v := events.Get(k)
	if v == nil {
		return rec, false, nil
	}
	rec, err = decodeEvent(v)
	return rec, err == nil, err
}

// putEvent stores rec under its sequence, keeping the bucket's pages full.
func putEvent(events *bolt.Bucket, rec billing.EventRecord) error {
	events.FillPercent = eventFillPercent
	return events.Put(itob(rec.Seq), encodeEvent(rec))
}
