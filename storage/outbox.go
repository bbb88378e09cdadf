package storage

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"creditdesk/billing"

	bolt "go.etcd.io/bbolt"
)

// The outbox of messages to the founder's app (billing/outbox.go). Added in
// schema version 7.
var (
	// outboxBucket maps outboxKey to a billing.OutboxMessage (JSON), every
	// state; its sequence numbers the messages.
	outboxBucket = []byte("outbox")
	// outboxPendingBucket maps the outboxKey of every pending message to
	// pendingValue (endpoint, user, next attempt), so the sender walks it in
	// order without decoding messages. meta "count:outbox_pending" counts
	// it.
	outboxPendingBucket = []byte("outbox_pending")
	// outboxFailedBucket holds the outboxKey of every failed message (no
	// value), for "resend failed". meta "count:outbox_failed" counts it.
	outboxFailedBucket = []byte("outbox_failed")
	// appEndpointsBucket maps an endpoint id to its billing.EndpointState
	// (JSON).
	appEndpointsBucket = []byte("app_endpoints")
)

var outboxBuckets = [][]byte{outboxBucket, outboxPendingBucket, outboxFailedBucket, appEndpointsBucket}

// outboxKey is the message's sequence as 8 big-endian bytes, so messages
// sort in the order they were written (which keeps each user's in order).
func outboxKey(seq uint64) []byte { return itob(seq) }

// pendingValue is the next attempt (8 bytes big-endian, unix
// nanoseconds; 0: now), the endpoint id, 0x00, then the user id.
func pendingValue(m billing.OutboxMessage) []byte {
	var at uint64
	if !m.NextAttempt.IsZero() {
		at = uint64(m.NextAttempt.UnixNano())
	}
	v := make([]byte, 0, 9+len(m.Endpoint)+len(m.User))
	v = append(v, itob(at)...)
	v = append(v, m.Endpoint...)
	v = append(v, 0)
	return append(v, m.User...)
}

func decodePending(seq uint64, v []byte) (billing.PendingRef, bool) {
	if len(v) < 9 {
		return billing.PendingRef{}, false
	}
	ep, user, ok := strings.Cut(string(v[8:]), "\x00")
	if !ok {
		return billing.PendingRef{}, false
	}
	r := billing.PendingRef{Seq: seq, Endpoint: ep, User: user}
	if at := btoi(v[:8]); at != 0 {
		r.NextAttempt = time.Unix(0, int64(at)).UTC()
	}
	return r, true
}

// messageID is the webhook-id of message seq: the sequence, then a short
// hash of what makes it unique, so two databases (a restored backup) do not
// hand the app the same id for different messages.
func messageID(m billing.OutboxMessage) string {
	h := sha256.Sum256([]byte(m.Endpoint + "\x00" + m.Type + "\x00" + m.User + "\x00" + m.CreatedAt.String() + "\x00" + string(m.Body)))
	return "msg_" + strconv.FormatUint(m.Seq, 10) + "_" + hex.EncodeToString(h[:6])
}

// AddOutbox numbers m and stores it.
func (t *Tx) AddOutbox(m billing.OutboxMessage) (billing.OutboxMessage, error) {
	seq, err := t.tx.Bucket(outboxBucket).NextSequence()
	if err != nil {
		return m, err
	}
	m.Seq = seq
	m.ID = messageID(m)
	return m, t.putOutbox(m, nil)
}

// PutOutbox stores a numbered message, moving it between the pending and
// failed indexes as its state says.
func (t *Tx) PutOutbox(m billing.OutboxMessage) error {
	if m.Seq == 0 {
		return fmt.Errorf("outbox message without a sequence")
	}
	prev, ok, err := t.OutboxMessage(m.Seq)
	if err != nil {
		return err
	}
	if !ok {
		return fmt.Errorf("outbox message %d is not stored", m.Seq)
	}
	return t.putOutbox(m, &prev)
}

func (t *Tx) putOutbox(m billing.OutboxMessage, prev *billing.OutboxMessage) error {
	k := outboxKey(m.Seq)
	var was billing.DeliveryState
	if prev != nil {
		was = prev.State
	}
	if m.State == billing.DeliveryPending {
		// The sender's view of it (its next attempt) changes while it stays
		// pending.
		if err := t.tx.Bucket(outboxPendingBucket).Put(k, pendingValue(m)); err != nil {
			return err
		}
	}
	if was != m.State {
		for _, ix := range []struct {
			state  billing.DeliveryState
			bucket []byte
			count  string
		}{{billing.DeliveryPending, outboxPendingBucket, "outbox_pending"}, {billing.DeliveryFailed, outboxFailedBucket, "outbox_failed"}} {
			b := t.tx.Bucket(ix.bucket)
			switch ix.state {
			case was:
				if err := b.Delete(k); err != nil {
					return err
				}
				if err := addCount(t.tx, ix.count, -1); err != nil {
					return err
				}
			case m.State:
				if ix.state == billing.DeliveryFailed {
					if err := b.Put(k, nil); err != nil {
						return err
					}
				}
				if err := addCount(t.tx, ix.count, 1); err != nil {
					return err
				}
			}
		}
	}
	return putJSON(t.tx.Bucket(outboxBucket), k, m)
}

// OutboxMessage returns message seq.
func (t *Tx) OutboxMessage(seq uint64) (billing.OutboxMessage, bool, error) {
	var m billing.OutboxMessage
	ok, err := getJSON(t.tx.Bucket(outboxBucket), outboxKey(seq), &m)
	return m, ok, err
}

// PendingOutbox calls fn with each pending message's reference in order.
func (t *Tx) PendingOutbox(fn func(billing.PendingRef) bool) error {
	msgs := t.tx.Bucket(outboxBucket)
	c := t.tx.Bucket(outboxPendingBucket).Cursor()
	for k, v := c.First(); k != nil; k, v = c.Next() {
		raw := msgs.Get(k)
		if raw == nil {
			return fmt.Errorf("outbox index names message %d, which is not stored", btoi(k))
		}
		r, ok := decodePending(btoi(k), v)
		if !ok {
			// Written before the index carried its value: read the message.
			var m billing.OutboxMessage
			if err := json.Unmarshal(raw, &m); err != nil {
				return fmt.Errorf("outbox message %d: %w", btoi(k), err)
			}
			r = billing.PendingRef{Seq: m.Seq, Endpoint: m.Endpoint, User: m.User, NextAttempt: m.NextAttempt}
		}
		if !fn(r) {
			return nil
		}
	}
	return nil
}

// FailedOutbox calls fn with each failed message in order.
func (t *Tx) FailedOutbox(fn func(billing.OutboxMessage) bool) error {
	return t.indexed(outboxFailedBucket, fn)
}

func (t *Tx) indexed(index []byte, fn func(billing.OutboxMessage) bool) error {
	msgs := t.tx.Bucket(outboxBucket)
	c := t.tx.Bucket(index).Cursor()
	for k, _ := c.First(); k != nil; k, _ = c.Next() {
		var m billing.OutboxMessage
		ok, err := getJSON(msgs, k, &m)
		if err != nil {
			return err
		}
		if !ok {
			return fmt.Errorf("outbox index names message %d, which is not stored", btoi(k))
		}
		if !fn(m) {
			return nil
		}
	}
	return nil
}

// AppEndpoint returns an endpoint's delivery state.
func (t *Tx) AppEndpoint(id string) (billing.EndpointState, bool, error) {
	var e billing.EndpointState
	ok, err := getJSON(t.tx.Bucket(appEndpointsBucket), []byte(id), &e)
	return e, ok, err
}

// PutAppEndpoint stores an endpoint's delivery state.
func (t *Tx) PutAppEndpoint(e billing.EndpointState) error {
	if e.ID == "" {
		return fmt.Errorf("app endpoint without an id")
	}
	return putJSON(t.tx.Bucket(appEndpointsBucket), []byte(e.ID), e)
}

// OutboxPage returns up to limit messages newest first below before (0:
// from the newest); failedOnly walks the failed index instead.
func (s *Store) OutboxPage(before uint64, limit int, failedOnly bool) ([]billing.OutboxMessage, error) {
	var out []billing.OutboxMessage
	err := s.view(func(tx *bolt.Tx) error {
		msgs := tx.Bucket(outboxBucket)
		b := msgs
		if failedOnly {
			b = tx.Bucket(outboxFailedBucket)
		}
		c := b.Cursor()
		var k []byte
		if before == 0 {
			k, _ = c.Last()
		} else {
			k, _ = c.Seek(outboxKey(before))
			if k == nil {
				k, _ = c.Last()
			} else {
				k, _ = c.Prev()
			}
		}
		for ; k != nil && len(out) < limit; k, _ = c.Prev() {
			var m billing.OutboxMessage
			if _, err := getJSON(msgs, k, &m); err != nil {
				return err
			}
			out = append(out, m)
		}
		return nil
	})
	return out, err
}

// verifyOutbox checks the outbox: every message decodes and sits under its
// sequence; the pending and failed indexes hold exactly the messages in
// those states, and their counters agree; every endpoint state decodes.
func verifyOutbox(tx *bolt.Tx) error {
	pending, failed := tx.Bucket(outboxPendingBucket), tx.Bucket(outboxFailedBucket)
	var nPending, nFailed uint64
	err := tx.Bucket(outboxBucket).ForEach(func(k, v []byte) error {
		var m billing.OutboxMessage
		if err := json.Unmarshal(v, &m); err != nil {
			return fmt.Errorf("outbox message %s: %w", shortKey(k), err)
		}
		if string(outboxKey(m.Seq)) != string(k) {
			return fmt.Errorf("outbox message %d is stored under %s", m.Seq, shortKey(k))
		}
		pv := pending.Get(k)
		inPending, inFailed := pv != nil, failed.Get(k) != nil
		if inPending && len(pv) > 0 {
			r, ok := decodePending(m.Seq, pv)
			if !ok || r.Endpoint != m.Endpoint || r.User != m.User || !r.NextAttempt.Equal(m.NextAttempt.UTC()) && !(r.NextAttempt.IsZero() && m.NextAttempt.IsZero()) {
				return fmt.Errorf("outbox message %d: the pending index says %+v, the message endpoint %s, user %s, next attempt %s", m.Seq, r, m.Endpoint, m.User, m.NextAttempt)
			}
		}
		switch m.State {
		case billing.DeliveryPending:
			nPending++
		case billing.DeliveryFailed:
			nFailed++
		case billing.DeliveryDelivered:
		default:
			return fmt.Errorf("outbox message %d has unknown state %q", m.Seq, m.State)
		}
		if inPending != (m.State == billing.DeliveryPending) || inFailed != (m.State == billing.DeliveryFailed) {
			return fmt.Errorf("outbox message %d is %s but the indexes say pending %v, failed %v", m.Seq, m.State, inPending, inFailed)
		}
		return nil
	})
	if err != nil {
		return err
	}
	meta := tx.Bucket(metaBucket)
	for _, c := range []struct {
		name      string
		n         uint64
		index     *bolt.Bucket
		indexName string
	}{{"outbox_pending", nPending, pending, "pending"}, {"outbox_failed", nFailed, failed, "failed"}} {
		if got := btoi(meta.Get(counterKey(c.name))); got != c.n {
			return fmt.Errorf("%d %s outbox messages, the counter says %d", c.n, c.indexName, got)
		}
		if keys := uint64(c.index.Stats().KeyN); keys != c.n {
			return fmt.Errorf("%d %s outbox messages, the index holds %d", c.n, c.indexName, keys)
		}
	}
	return tx.Bucket(appEndpointsBucket).ForEach(func(k, v []byte) error {
		var e billing.EndpointState
		if err := json.Unmarshal(v, &e); err != nil {
			return fmt.Errorf("app endpoint %s: %w", shortKey(k), err)
		}
		if e.ID != string(k) {
			return fmt.Errorf("app endpoint %s is stored under %s", e.ID, shortKey(k))
		}
		return nil
	})
}

// migrateOutbox is schema version 7: the outbox's buckets, empty.
func migrateOutbox(tx *bolt.Tx) error {
	for _, b := range outboxBuckets {
		if _, err := tx.CreateBucketIfNotExists(b); err != nil {
			return err
		}
	}
	return nil
}
