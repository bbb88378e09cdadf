package storage

import (
	"bytes"
	"errors"
	"fmt"

	"creditdesk/billing"

	bolt "go.etcd.io/bbolt"
)

// The pending index (pendingBucket) maps the arrival sequence of every
// event in state received or waiting to what Pending's filters read of it,
// so that walking past the events that wait (on every batch the processor
// reads) does not look up each one's record in the events bucket:
//
//	byte   pendingCodecV1
//	string state
//	byte   flags: 1 waits for the API
//	time   received (optional)
//	time   next attempt (optional)
//
// A value that is empty (written before this layout) or that is not this
// layout says nothing: Pending reads the event's record instead, and verify
// reports a value that disagrees with its record.
const pendingCodecV1 = 0x01

var errPendingCodec = errors.New("pending index entry is not its binary layout")

// encodePendingEntry is rec's pending index value.
func encodePendingEntry(rec billing.EventRecord) []byte {
	w := newRecordWriter(pendingCodecV1, 40)
	w.str(string(rec.State))
	w.bool(rec.WaitsForAPI)
	w.optTime(rec.ReceivedAt)
	w.optTime(rec.NextAttempt)
	return w.record()
}

// decodePendingEntry reads a pending index value into the fields Pending's
// filters look at; ok is false for a value that says nothing.
func decodePendingEntry(seq uint64, v []byte) (rec billing.EventRecord, ok bool) {
	r := newRecordReader(v, pendingCodecV1, errPendingCodec)
	rec.State = eventState(r.bytes())
	rec.Seq = seq
	rec.WaitsForAPI = r.bool()
	rec.ReceivedAt = r.optTime()
	rec.NextAttempt = r.optTime()
	if r.end() != nil {
		return billing.EventRecord{}, false
	}
	return rec, true
}

// putPendingEntry indexes a received or waiting event under k.
func putPendingEntry(tx *bolt.Tx, k []byte, rec billing.EventRecord) error {
	return tx.Bucket(pendingBucket).Put(k, encodePendingEntry(rec))
}

// Pending returns up to limit events in state received or waiting, with
// arrival sequence above after, for which due (nil: all) is true, in arrival
// order. due sees the sequence, state, received and next attempt times and
// whether the event waits for the API; the events it returns are whole.
func (s *Store) Pending(after uint64, limit int, due func(billing.EventRecord) bool) ([]billing.EventRecord, error) {
	var out []billing.EventRecord
	err := s.view(func(tx *bolt.Tx) error {
		c := tx.Bucket(pendingBucket).Cursor()
		ec := tx.Bucket(eventsBucket).Cursor() // one cursor for every record (Get makes one each)
		for k, pv := c.Seek(itob(after + 1)); k != nil && len(out) < limit; k, pv = c.Next() {
			indexed := false // due decided from the index entry alone
			if due != nil {
				var peek billing.EventRecord
				if peek, indexed = decodePendingEntry(btoi(k), pv); indexed && !due(peek) {
					continue
				}
			}
			ek, v := ec.Seek(k)
			if !bytes.Equal(ek, k) || v == nil {
				continue // damage verify reports; the other events go on
			}
			if due != nil && !indexed {
				// Indexed before the index said what it holds (or the
				// value is damaged): the record says.
				if peek, err := peekEvent(v); err != nil {
					return err
				} else if !due(peek) {
					continue
				}
			}
			rec, err := decodeEvent(v)
			if err != nil {
				return err
			}
			out = append(out, rec)
		}
		return nil
	})
	return out, err
}

// verifyPendingEntry checks a pending index value against its event's record.
func verifyPendingEntry(rec billing.EventRecord, v []byte) error {
	if len(v) == 0 {
		return nil // indexed before the index said what it holds
	}
	got, ok := decodePendingEntry(rec.Seq, v)
	switch {
	case !ok:
		return fmt.Errorf("event %s: %w", rec.ID, errPendingCodec)
	case got.State != rec.State || got.WaitsForAPI != rec.WaitsForAPI ||
		!got.ReceivedAt.Equal(rec.ReceivedAt) || !got.NextAttempt.Equal(rec.NextAttempt):
		return fmt.Errorf("event %s is %s (next attempt %s) but the pending index says %s (next attempt %s)",
			rec.ID, rec.State, rec.NextAttempt.Format("2006-01-02 15:04:05"), got.State, got.NextAttempt.Format("2006-01-02 15:04:05"))
	}
	return nil
}
