package storage

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"creditdesk/billing"

	bolt "go.etcd.io/bbolt"
)

// A database of schema version 6 (no outbox) opens: migration 7 adds the
// outbox's buckets, empty, and the outbox works and verifies; verify
// notices an index out of step.
func TestMigrationAddsTheOutbox(t *testing.T) {
	path := filepath.Join(t.TempDir(), "o.db")
	now := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	// An empty store: the later migrations rewrite records in their own
	// layouts, which a version-6 file would not hold.
	s.Close()
	rewriteFile(t, path, func(tx *bolt.Tx) error { return asVersion(tx, 6, outboxBuckets...) })

	s, err = Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := s.Verify(); err != nil {
		t.Fatal(err)
	}
	var seq uint64
	if err := s.Update(now, func(tx billing.Tx) error {
		for range 3 {
			m, err := tx.AddOutbox(billing.OutboxMessage{Endpoint: "ep", User: "u1", Type: billing.MsgCreditsGranted,
				Body: []byte(`{}`), CreatedAt: now, Since: now, State: billing.DeliveryPending})
			if err != nil {
				return err
			}
			seq = m.Seq
		}
		m, _, err := tx.OutboxMessage(seq)
		if err != nil || !strings.HasPrefix(m.ID, "msg_3_") {
			t.Fatalf("message %+v %v", m, err)
		}
		m.State = billing.DeliveryFailed
		if err := tx.PutOutbox(m); err != nil {
			return err
		}
		m, _, _ = tx.OutboxMessage(1)
		m.State = billing.DeliveryDelivered
		return tx.PutOutbox(m)
	}); err != nil {
		t.Fatal(err)
	}
	c, err := s.Counts()
	if err != nil || c.OutboxPending != 1 || c.OutboxFailed != 1 {
		t.Fatalf("counts %+v %v", c, err)
	}
	if _, err := s.Verify(); err != nil {
		t.Fatal(err)
	}
	if err := s.update(func(tx *bolt.Tx) error { return tx.Bucket(outboxPendingBucket).Delete(outboxKey(2)) }); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Verify(); err == nil || !strings.Contains(err.Error(), "outbox message 2") {
		t.Fatalf("verify with a message missing from the pending index: %v", err)
	}
}
