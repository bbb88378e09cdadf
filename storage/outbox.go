package storage

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"creditdesk/billing"

	bolt "go.etcd.io/bbolt"
)

// The outbox of messages to the founder's app (billing/outbox.go). Added in
// schema version 7; since version 12 a message's body and its delivery
// status are two records, so an attempt rewrites only the small one.
var (
	// outboxBucket maps outboxKey to a message's body record
	// (encodeOutboxBody), written once; its sequence numbers the messages.
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

	// Added in schema version 12.

	// outboxStateBucket maps outboxKey to the message's
	// billing.DeliveryStatus (encodeDeliveryStatus); every message has one.
	outboxStateBucket = []byte("outbox_state")
	// outboxDeliveredBucket holds deliveredKey of every delivered message
	// (no value), oldest delivery first: what the sender prunes.
	outboxDeliveredBucket = []byte("outbox_delivered")
)

// outboxBuckets are schema version 7's.
var outboxBuckets = [][]byte{outboxBucket, outboxPendingBucket, outboxFailedBucket, appEndpointsBucket}

// outboxKey is the message's sequence as 8 big-endian bytes, so messages
// sort in the order they were written (which keeps each user's in order).
func outboxKey(seq uint64) []byte { return itob(seq) }

// deliveredKey is the delivery time (unix nanoseconds, 8 bytes
// big-endian) then the message's outboxKey, so the oldest deliveries come
// first.
func deliveredKey(at time.Time, seq uint64) []byte {
	var ns uint64
	if !at.IsZero() {
		ns = uint64(at.UnixNano())
	}
	return append(itob(ns), outboxKey(seq)...)
}

// pendingValue is the next attempt (8 bytes big-endian, unix
// nanoseconds; 0: now), the endpoint id, 0x00, then the user id.
func pendingValue(endpoint, user string, next time.Time) []byte {
	var at uint64
	if !next.IsZero() {
		at = uint64(next.UnixNano())
	}
	v := make([]byte, 0, 9+len(endpoint)+len(user))
	v = append(v, itob(at)...)
	v = append(v, endpoint...)
	v = append(v, 0)
	return append(v, user...)
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

// The body record (outboxBucket) is binary:
//
//	0x01, string id, string endpoint, string user, string type,
//	time created_at, then the body's JSON to the end of the record.
//
// The status record (outboxStateBucket):
//
//	0x01, string state, time since, varint attempts, opt time
//	next_attempt, opt time last_attempt, varint last_status, string
//	last_response, string last_error, opt time delivered_at.
//
// (strings and times as codec.go writes them.)
const outboxCodecV1 = 1

var (
	errOutboxBodyCodec   = errors.New("not an outbox message record")
	errOutboxStatusCodec = errors.New("not a delivery status record")
)

func encodeOutboxBody(m billing.OutboxMessage) []byte {
	w := newRecordWriter(outboxCodecV1, 32+len(m.ID)+len(m.Endpoint)+len(m.User)+len(m.Type)+len(m.Body))
	w.str(m.ID)
	w.str(m.Endpoint)
	w.str(m.User)
	w.str(m.Type)
	w.time(m.CreatedAt)
	return append(w.record(), m.Body...)
}

// decodeOutboxBody reads a body record; the message's Seq is seq and its
// status is left zero.
func decodeOutboxBody(seq uint64, v []byte) (billing.OutboxMessage, error) {
	m := billing.OutboxMessage{Seq: seq}
	r := newRecordReader(v, outboxCodecV1, errOutboxBodyCodec)
	m.ID = r.str()
	m.Endpoint = r.str()
	m.User = r.str()
	m.Type = r.str()
	m.CreatedAt = r.time()
	if r.err != nil {
		return billing.OutboxMessage{}, r.err
	}
	m.Body = json.RawMessage(bytes.Clone(r.b))
	return m, nil
}

// outboxHead reads only the endpoint and user of a body record.
func outboxHead(v []byte) (endpoint, user string, err error) {
	r := newRecordReader(v, outboxCodecV1, errOutboxBodyCodec)
	r.str()
	endpoint, user = r.str(), r.str()
	return endpoint, user, r.err
}

func encodeDeliveryStatus(st billing.DeliveryStatus) []byte {
	w := newRecordWriter(outboxCodecV1, 48+len(st.State)+len(st.LastResponse)+len(st.LastError))
	w.str(string(st.State))
	w.time(st.Since)
	w.varint(int64(st.Attempts))
	w.optTime(st.NextAttempt)
	w.optTime(st.LastAttempt)
	w.varint(int64(st.LastStatus))
	w.str(st.LastResponse)
	w.str(st.LastError)
	w.optTime(st.DeliveredAt)
	return w.record()
}

func decodeDeliveryStatus(v []byte) (billing.DeliveryStatus, error) {
	var st billing.DeliveryStatus
	r := newRecordReader(v, outboxCodecV1, errOutboxStatusCodec)
	st.State = billing.DeliveryState(r.str())
	st.Since = r.time()
	st.Attempts = int(r.varint())
	st.NextAttempt = r.optTime()
	st.LastAttempt = r.optTime()
	st.LastStatus = int(r.varint())
	st.LastResponse = r.str()
	st.LastError = r.str()
	st.DeliveredAt = r.optTime()
	return decoded(r, st)
}

// messageID is the webhook-id of message seq: the sequence, then a short
// hash of what makes it unique, so two databases (a restored backup) do not
// hand the app the same id for different messages.
func messageID(m billing.OutboxMessage) string {
	h := sha256.Sum256([]byte(m.Endpoint + "\x00" + m.Type + "\x00" + m.User + "\x00" + m.CreatedAt.String() + "\x00" + string(m.Body)))
	return "msg_" + strconv.FormatUint(m.Seq, 10) + "_" + hex.EncodeToString(h[:6])
}

// AddOutbox numbers m and stores its body and status.
func (t *Tx) AddOutbox(m billing.OutboxMessage) (billing.OutboxMessage, error) {
	b := t.tx.Bucket(outboxBucket)
	b.FillPercent = eventFillPercent // written once, keys only grow
	seq, err := b.NextSequence()
	if err != nil {
		return m, err
	}
	m.Seq = seq
	m.ID = messageID(m)
	k := outboxKey(seq)
	if err := b.Put(k, encodeOutboxBody(m)); err != nil {
		return m, err
	}
	return m, t.putDelivery(k, m.DeliveryStatus, nil, m.Endpoint, m.User)
}

// PutDelivery replaces message seq's status, moving it between the
// pending, failed and delivered indexes as its state says; the body is not
// touched.
func (t *Tx) PutDelivery(seq uint64, st billing.DeliveryStatus) error {
	k := outboxKey(seq)
	prev, ok, err := t.DeliveryStatus(seq)
	if err != nil {
		return err
	}
	if !ok {
		return fmt.Errorf("outbox message %d is not stored", seq)
	}
	var endpoint, user string
	if st.State == billing.DeliveryPending {
		// The pending index names the endpoint and user: from its old value,
		// else from the body's head.
		if r, ok := decodePending(seq, t.tx.Bucket(outboxPendingBucket).Get(k)); ok {
			endpoint, user = r.Endpoint, r.User
		} else if endpoint, user, err = outboxHead(t.tx.Bucket(outboxBucket).Get(k)); err != nil {
			return fmt.Errorf("outbox message %d: %w", seq, err)
		}
	}
	return t.putDelivery(k, st, &prev, endpoint, user)
}

// putDelivery stores the status under k and keeps the indexes and counters
// in step with the change from prev (nil: a new message); endpoint and
// user are the message's, needed when st is pending.
func (t *Tx) putDelivery(k []byte, st billing.DeliveryStatus, prev *billing.DeliveryStatus, endpoint, user string) error {
	var was billing.DeliveryState
	if prev != nil {
		was = prev.State
	}
	seq := btoi(k)
	if st.State == billing.DeliveryPending {
		// The sender's view of it (its next attempt) changes while it stays
		// pending.
		if err := t.tx.Bucket(outboxPendingBucket).Put(k, pendingValue(endpoint, user, st.NextAttempt)); err != nil {
			return err
		}
	}
	delivered := t.tx.Bucket(outboxDeliveredBucket)
	if was == billing.DeliveryDelivered {
		if err := delivered.Delete(deliveredKey(prev.DeliveredAt, seq)); err != nil {
			return err
		}
	}
	if st.State == billing.DeliveryDelivered {
		if err := delivered.Put(deliveredKey(st.DeliveredAt, seq), nil); err != nil {
			return err
		}
	}
	if was != st.State {
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
			case st.State:
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
	return t.tx.Bucket(outboxStateBucket).Put(k, encodeDeliveryStatus(st))
}

// DeliveryStatus returns message seq's status without reading its body.
func (t *Tx) DeliveryStatus(seq uint64) (billing.DeliveryStatus, bool, error) {
	v := t.tx.Bucket(outboxStateBucket).Get(outboxKey(seq))
	if v == nil {
		return billing.DeliveryStatus{}, false, nil
	}
	st, err := decodeDeliveryStatus(v)
	if err != nil {
		return st, false, fmt.Errorf("outbox message %d: %w", seq, err)
	}
	return st, true, nil
}

// OutboxMessage returns message seq with its status.
func (t *Tx) OutboxMessage(seq uint64) (billing.OutboxMessage, bool, error) {
	return readOutbox(t.tx, outboxKey(seq))
}

// readOutbox reads the body and status under k (false: no such message).
func readOutbox(tx *bolt.Tx, k []byte) (billing.OutboxMessage, bool, error) {
	v := tx.Bucket(outboxBucket).Get(k)
	if v == nil {
		return billing.OutboxMessage{}, false, nil
	}
	m, err := decodeOutboxBody(btoi(k), v)
	if err != nil {
		return m, false, fmt.Errorf("outbox message %d: %w", btoi(k), err)
	}
	sv := tx.Bucket(outboxStateBucket).Get(k)
	if sv == nil {
		return m, false, fmt.Errorf("outbox message %d has no delivery status", btoi(k))
	}
	if m.DeliveryStatus, err = decodeDeliveryStatus(sv); err != nil {
		return m, false, fmt.Errorf("outbox message %d: %w", btoi(k), err)
	}
	return m, true, nil
}

// PendingOutbox calls fn with each pending message's reference in order.
func (t *Tx) PendingOutbox(fn func(billing.PendingRef) bool) error {
	c := t.tx.Bucket(outboxPendingBucket).Cursor()
	for k, v := c.First(); k != nil; k, v = c.Next() {
		r, ok := decodePending(btoi(k), v)
		if !ok {
			return fmt.Errorf("outbox pending index: message %d's entry does not decode", btoi(k))
		}
		if !fn(r) {
			return nil
		}
	}
	return nil
}

// FailedOutbox calls fn with each failed message in order.
func (t *Tx) FailedOutbox(fn func(billing.OutboxMessage) bool) error {
	c := t.tx.Bucket(outboxFailedBucket).Cursor()
	for k, _ := c.First(); k != nil; k, _ = c.Next() {
		m, ok, err := readOutbox(t.tx, k)
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

// PruneDelivered removes up to limit messages delivered at cutoff or before,
// oldest delivery first: body, status and index entry.
func (t *Tx) PruneDelivered(cutoff time.Time, limit int) (int, time.Time, error) {
	delivered := t.tx.Bucket(outboxDeliveredBucket)
	bodies, states := t.tx.Bucket(outboxBucket), t.tx.Bucket(outboxStateBucket)
	if cutoff.Before(time.Unix(0, 0)) {
		return 0, time.Time{}, nil // nothing was delivered before 1970; and keys are unsigned
	}
	end := uint64(cutoff.UnixNano())
	var due [][]byte
	c := delivered.Cursor()
	for k, _ := c.First(); k != nil && len(due) < limit && btoi(k[:8]) <= end; k, _ = c.Next() {
		due = append(due, bytes.Clone(k))
	}
	for _, k := range due {
		mk := k[8:]
		if err := bodies.Delete(mk); err != nil {
			return 0, time.Time{}, err
		}
		if err := states.Delete(mk); err != nil {
			return 0, time.Time{}, err
		}
		if err := delivered.Delete(k); err != nil {
			return 0, time.Time{}, err
		}
	}
	var oldest time.Time
	if k, _ := delivered.Cursor().First(); k != nil {
		oldest = time.Unix(0, int64(btoi(k[:8]))).UTC()
	}
	return len(due), oldest, nil
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
		b := tx.Bucket(outboxBucket)
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
			m, ok, err := readOutbox(tx, k)
			if err != nil {
				return err
			}
			if ok {
				out = append(out, m)
			}
		}
		return nil
	})
	return out, err
}

// verifyOutbox checks the outbox: every body and status decodes, each body
// has a status and each status a body; the pending, failed and delivered
// indexes hold exactly the messages in those states (the pending one with
// the message's endpoint, user and next attempt, the delivered one under
// its delivery time), and the counters agree; every endpoint state
// decodes.
func verifyOutbox(tx *bolt.Tx) error {
	pending, failed, delivered := tx.Bucket(outboxPendingBucket), tx.Bucket(outboxFailedBucket), tx.Bucket(outboxDeliveredBucket)
	var nPending, nFailed, nDelivered uint64
	err := tx.Bucket(outboxBucket).ForEach(func(k, _ []byte) error {
		m, ok, err := readOutbox(tx, k)
		if err != nil {
			return err
		}
		if !ok || len(k) != 8 {
			return fmt.Errorf("outbox message under %s does not read", shortKey(k))
		}
		if !json.Valid(m.Body) {
			return fmt.Errorf("outbox message %d: its body is not JSON", m.Seq)
		}
		pv := pending.Get(k)
		inPending, inFailed := pv != nil, failed.Get(k) != nil
		if inPending {
			r, ok := decodePending(m.Seq, pv)
			if !ok || r.Endpoint != m.Endpoint || r.User != m.User || !r.NextAttempt.Equal(m.NextAttempt) {
				return fmt.Errorf("outbox message %d: the pending index says %+v, the message endpoint %s, user %s, next attempt %s", m.Seq, r, m.Endpoint, m.User, m.NextAttempt)
			}
		}
		inDelivered := false
		switch m.State {
		case billing.DeliveryPending:
			nPending++
		case billing.DeliveryFailed:
			nFailed++
		case billing.DeliveryDelivered:
			nDelivered++
			inDelivered = delivered.Get(deliveredKey(m.DeliveredAt, m.Seq)) != nil
			if !inDelivered {
				return fmt.Errorf("outbox message %d is delivered but not in the delivered index under its delivery time", m.Seq)
			}
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
	bodies := tx.Bucket(outboxBucket)
	if err := tx.Bucket(outboxStateBucket).ForEach(func(k, _ []byte) error {
		if bodies.Get(k) == nil {
			return fmt.Errorf("outbox delivery status %s has no message", shortKey(k))
		}
		return nil
	}); err != nil {
		return err
	}
	if keys := uint64(delivered.Stats().KeyN); keys != nDelivered {
		return fmt.Errorf("%d delivered outbox messages, the delivered index holds %d", nDelivered, keys)
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

// splitOutbox is schema version 12: each message of version 7's layout (one
// JSON record, body and delivery state together) becomes a body record
// under the same key and a status record in outbox_state; delivered ones
// enter outbox_delivered and pending ones' index entries are written
// again. A message that is not JSON stops the migration (nothing changes).
func splitOutbox(tx *bolt.Tx) error {
	states, err := tx.CreateBucketIfNotExists(outboxStateBucket)
	if err != nil {
		return err
	}
	delivered, err := tx.CreateBucketIfNotExists(outboxDeliveredBucket)
	if err != nil {
		return err
	}
	pending := tx.Bucket(outboxPendingBucket)
	bodies := tx.Bucket(outboxBucket)
	bodies.FillPercent = eventFillPercent
	if err := rewrite(bodies, func(v []byte) ([]byte, error) {
		var m billing.OutboxMessage
		if err := json.Unmarshal(v, &m); err != nil {
			return nil, err
		}
		k := outboxKey(m.Seq)
		if err := states.Put(k, encodeDeliveryStatus(m.DeliveryStatus)); err != nil {
			return nil, err
		}
		switch m.State {
		case billing.DeliveryDelivered:
			if err := delivered.Put(deliveredKey(m.DeliveredAt, m.Seq), nil); err != nil {
				return nil, err
			}
		case billing.DeliveryPending:
			if err := pending.Put(k, pendingValue(m.Endpoint, m.User, m.NextAttempt)); err != nil {
				return nil, err
			}
		}
		return encodeOutboxBody(m), nil
	}); err != nil {
		return fmt.Errorf("outbox: %w", err)
	}
	return nil
}
