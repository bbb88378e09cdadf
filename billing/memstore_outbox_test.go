package billing_test

import (
	"fmt"
	"slices"
	"time"

	. "creditdesk/billing"
)

// The outbox of the in-memory store: messages by sequence, endpoint
// states in the kv map.

func (t *memTx) AddOutbox(m OutboxMessage) (OutboxMessage, error) {
	if err := t.write(); err != nil {
		return m, err
	}
	m.Seq = uint64(len(t.st.outbox) + 1)
	m.ID = fmt.Sprintf("msg_%d", m.Seq)
	t.st.outbox = append(t.st.outbox, m)
	return m, nil
}

func (t *memTx) PutDelivery(seq uint64, st DeliveryStatus) error {
	if err := t.write(); err != nil {
		return err
	}
	if _, ok, _ := t.OutboxMessage(seq); !ok {
		return fmt.Errorf("outbox message %d is not stored", seq)
	}
	t.st.outbox[seq-1].DeliveryStatus = st
	return nil
}

// OutboxMessage: a pruned message's slot is zero (Seq 0).
func (t *memTx) OutboxMessage(seq uint64) (OutboxMessage, bool, error) {
	if seq == 0 || seq > uint64(len(t.st.outbox)) || t.st.outbox[seq-1].Seq == 0 {
		return OutboxMessage{}, false, nil
	}
	return t.st.outbox[seq-1], true, nil
}

func (t *memTx) DeliveryStatus(seq uint64) (DeliveryStatus, bool, error) {
	m, ok, err := t.OutboxMessage(seq)
	return m.DeliveryStatus, ok, err
}

func (t *memTx) PruneDelivered(cutoff time.Time, limit int) (int, time.Time, error) {
	if err := t.write(); err != nil {
		return 0, time.Time{}, err
	}
	var done []OutboxMessage
	for _, m := range t.st.outbox {
		if m.Seq != 0 && m.State == DeliveryDelivered {
			done = append(done, m)
		}
	}
	slices.SortStableFunc(done, func(a, b OutboxMessage) int { return a.DeliveredAt.Compare(b.DeliveredAt) })
	n := 0
	for _, m := range done {
		if n == limit || m.DeliveredAt.After(cutoff) {
			return n, m.DeliveredAt, nil
		}
		t.st.outbox[m.Seq-1] = OutboxMessage{}
		n++
	}
	return n, time.Time{}, nil
}

func (t *memTx) inState(st DeliveryState, fn func(OutboxMessage) bool) error {
	for _, m := range t.st.outbox {
		if m.State == st && !fn(m) {
			return nil
		}
	}
	return nil
}

func (t *memTx) PendingOutbox(fn func(PendingRef) bool) error {
	return t.inState(DeliveryPending, func(m OutboxMessage) bool {
		return fn(PendingRef{Seq: m.Seq, Endpoint: m.Endpoint, User: m.User, NextAttempt: m.NextAttempt})
	})
}

func (t *memTx) FailedOutbox(fn func(OutboxMessage) bool) error {
	return t.inState(DeliveryFailed, fn)
}

func (t *memTx) AppEndpoint(id string) (e EndpointState, ok bool, err error) {
	ok, err = t.get("endpoint:"+id, &e)
	return e, ok, err
}

func (t *memTx) PutAppEndpoint(e EndpointState) error { return t.put("endpoint:"+e.ID, e) }

func (m *memStore) OutboxPage(before uint64, limit int, failedOnly bool) ([]OutboxMessage, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []OutboxMessage
	for i := len(m.st.outbox) - 1; i >= 0 && len(out) < limit; i-- {
		o := m.st.outbox[i]
		if o.Seq == 0 || before != 0 && o.Seq >= before || failedOnly && o.State != DeliveryFailed {
			continue
		}
		out = append(out, o)
	}
	return out, nil
}
