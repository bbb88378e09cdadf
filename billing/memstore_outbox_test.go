package billing_test

import (
	"fmt"

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

func (t *memTx) PutOutbox(m OutboxMessage) error {
	if err := t.write(); err != nil {
		return err
	}
	if m.Seq == 0 || m.Seq > uint64(len(t.st.outbox)) {
		return fmt.Errorf("outbox message %d is not stored", m.Seq)
	}
	t.st.outbox[m.Seq-1] = m
	return nil
}

func (t *memTx) OutboxMessage(seq uint64) (OutboxMessage, bool, error) {
	if seq == 0 || seq > uint64(len(t.st.outbox)) {
		return OutboxMessage{}, false, nil
	}
	return t.st.outbox[seq-1], true, nil
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
		if before != 0 && o.Seq >= before || failedOnly && o.State != DeliveryFailed {
			continue
		}
		out = append(out, o)
	}
	return out, nil
}
