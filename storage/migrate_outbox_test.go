package storage

import (
	"encoding/json"
	"errors"
	"path/filepath"
	"reflect"
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
	rewriteFile(t, path, func(tx *bolt.Tx) error {
		return asVersion(tx, 6, append(outboxBuckets, outboxStateBucket, outboxDeliveredBucket)...)
	})

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
				Body: []byte(`{}`), CreatedAt: now, DeliveryStatus: billing.DeliveryStatus{Since: now, State: billing.DeliveryPending}})
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
		if err := tx.PutDelivery(m.Seq, m.DeliveryStatus); err != nil {
			return err
		}
		m, _, _ = tx.OutboxMessage(1)
		m.State, m.DeliveredAt = billing.DeliveryDelivered, now
		return tx.PutDelivery(1, m.DeliveryStatus)
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

// v11Message is a message as schema version 11 stored it: one JSON
// record, body and delivery state together.
func v11Message(seq uint64, user string, st billing.DeliveryStatus) billing.OutboxMessage {
	at := time.Date(2026, 3, 1, 10, 0, int(seq), 0, time.UTC)
	return billing.OutboxMessage{Seq: seq, ID: "msg_" + string(rune('0'+seq)) + "_abcdef", Endpoint: "ep_1", User: user,
		Type: billing.MsgCreditsGranted, Body: json.RawMessage(`{"type":"credits.granted","data":{"user_id":"` + user + `"}}`),
		CreatedAt: at, DeliveryStatus: st}
}

// asOutboxV11 gives the database schema version 11's outbox: msgs as JSON
// under their sequence (the bucket's sequence at the last), the pending
// index with next attempts, the failed index, their counters, and no
// status or delivered buckets.
func asOutboxV11(msgs []billing.OutboxMessage) func(tx *bolt.Tx) error {
	return func(tx *bolt.Tx) error {
		if err := asVersion(tx, 11, outboxStateBucket, outboxDeliveredBucket); err != nil {
			return err
		}
		bodies, pending, failed := tx.Bucket(outboxBucket), tx.Bucket(outboxPendingBucket), tx.Bucket(outboxFailedBucket)
		var nPending, nFailed int64
		for _, m := range msgs {
			if err := putJSON(bodies, outboxKey(m.Seq), m); err != nil {
				return err
			}
			switch m.State {
			case billing.DeliveryPending:
				nPending++
				var v []byte // the first release of version 7 wrote no value
				if m.Seq%2 == 0 {
					v = pendingValue(m.Endpoint, m.User, m.NextAttempt)
				}
				if err := pending.Put(outboxKey(m.Seq), v); err != nil {
					return err
				}
			case billing.DeliveryFailed:
				nFailed++
				if err := failed.Put(outboxKey(m.Seq), nil); err != nil {
					return err
				}
			}
		}
		if err := bodies.SetSequence(uint64(len(msgs))); err != nil {
			return err
		}
		if err := addCount(tx, "outbox_pending", nPending); err != nil {
			return err
		}
		return addCount(tx, "outbox_failed", nFailed)
	}
}

// A database of schema version 11 (each outbox message one JSON record)
// opens: migration 12 splits every message into its body and its status,
// unchanged as the console reads them; the delivered ones are indexed and
// pruned after the retention, the pending ones go on (next attempt and
// order kept), new messages are numbered after the old, and verify passes
// and checks the new buckets.
func TestMigrationSplitsTheOutbox(t *testing.T) {
	path := filepath.Join(t.TempDir(), "o.db")
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	msgs := []billing.OutboxMessage{
		v11Message(1, "u1", billing.DeliveryStatus{State: billing.DeliveryDelivered, Since: at, Attempts: 1, LastAttempt: at.Add(time.Second),
			LastStatus: 204, DeliveredAt: at.Add(time.Second)}),
		v11Message(2, "u1", billing.DeliveryStatus{State: billing.DeliveryPending, Since: at, Attempts: 2, LastAttempt: at.Add(time.Minute),
			LastStatus: 500, LastResponse: "Internal Server Error", NextAttempt: at.Add(2 * time.Minute)}),
		v11Message(3, "u2", billing.DeliveryStatus{State: billing.DeliveryFailed, Since: at, Attempts: 21, LastAttempt: at.Add(72 * time.Hour),
			LastError: "connection refused"}),
		v11Message(4, "u2", billing.DeliveryStatus{State: billing.DeliveryPending, Since: at}),
		v11Message(5, "u3", billing.DeliveryStatus{State: billing.DeliveryDelivered, Since: at, Attempts: 3, LastAttempt: at.Add(time.Hour),
			LastStatus: 200, LastResponse: "ok", DeliveredAt: at.Add(time.Hour)}),
	}
	s = reopenAs(t, s, path, asOutboxV11(msgs))

	if _, err := s.Verify(); err != nil {
		t.Fatal(err)
	}
	page, err := s.OutboxPage(0, 10, false)
	if err != nil || len(page) != len(msgs) {
		t.Fatalf("page %d %v", len(page), err)
	}
	for i, got := range page {
		want := msgs[len(msgs)-1-i]
		if !reflect.DeepEqual(got, want) {
			t.Errorf("message %d after the migration:\n%+v\nwant\n%+v", want.Seq, got, want)
		}
	}
	if failed, _ := s.OutboxPage(0, 10, true); len(failed) != 1 || failed[0].Seq != 3 {
		t.Errorf("failed page: %+v", failed)
	}
	c, err := s.Counts()
	if err != nil || c.OutboxPending != 2 || c.OutboxFailed != 1 {
		t.Fatalf("counts %+v %v", c, err)
	}
	var refs []billing.PendingRef
	now := at.Add(8 * 24 * time.Hour)
	if err := s.Update(now, func(tx billing.Tx) error {
		if err := tx.PendingOutbox(func(r billing.PendingRef) bool { refs = append(refs, r); return true }); err != nil {
			return err
		}
		m, err := tx.AddOutbox(v11Message(0, "u4", billing.DeliveryStatus{State: billing.DeliveryPending, Since: now}))
		if err != nil || m.Seq != 6 {
			t.Errorf("a new message after the migration: seq %d %v", m.Seq, err)
		}
		// Message 1 was delivered 8 days ago, 5 a little less, so both go
		// with a cutoff 7 days back; message 6 is pending and stays.
		if n, _, err := tx.PruneDelivered(time.Time{}, 10); n != 0 || err != nil {
			t.Errorf("a zero cutoff pruned %d (%v)", n, err)
		}
		n, oldest, err := tx.PruneDelivered(now.Add(-7*24*time.Hour), 10)
		if n != 2 || !oldest.IsZero() || err != nil {
			t.Errorf("pruned %d, oldest left %s, %v", n, oldest, err)
		}
		return err
	}); err != nil {
		t.Fatal(err)
	}
	want := []billing.PendingRef{{Seq: 2, Endpoint: "ep_1", User: "u1", NextAttempt: at.Add(2 * time.Minute)}, {Seq: 4, Endpoint: "ep_1", User: "u2"}}
	if !reflect.DeepEqual(refs, want) {
		t.Errorf("pending after the migration: %+v, want %+v", refs, want)
	}
	if _, err := s.Verify(); err != nil {
		t.Fatal(err)
	}
	if page, _ := s.OutboxPage(0, 10, false); len(page) != 4 || page[len(page)-1].Seq != 2 {
		t.Errorf("after pruning: %+v", page)
	}
	// verify reads the new buckets: a status without its body, and a
	// delivered message missing from its index, are both reported.
	if err := s.update(func(tx *bolt.Tx) error {
		return tx.Bucket(outboxStateBucket).Put(outboxKey(99), encodeDeliveryStatus(msgs[0].DeliveryStatus))
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Verify(); err == nil || !strings.Contains(err.Error(), "has no message") {
		t.Errorf("verify with a status of no message: %v", err)
	}
}

// A version-11 outbox record that is not JSON stops migration 12 with a
// clear error, and the database is left as it was (one transaction).
func TestMigrationSplitsTheOutboxOrNothing(t *testing.T) {
	path := filepath.Join(t.TempDir(), "o.db")
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	msgs := []billing.OutboxMessage{v11Message(1, "u1", billing.DeliveryStatus{State: billing.DeliveryPending})}
	rewriteFile(t, path, func(tx *bolt.Tx) error {
		if err := asOutboxV11(msgs)(tx); err != nil {
			return err
		}
		return tx.Bucket(outboxBucket).Put(outboxKey(2), []byte("not json"))
	})
	if _, err := Open(path, Options{}); err == nil || !strings.Contains(err.Error(), "migration 12") || !strings.Contains(err.Error(), "outbox") {
		t.Fatalf("open: %v", err)
	}
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.View(func(tx *bolt.Tx) error {
		if v := btoi(tx.Bucket(metaBucket).Get(schemaVersionKey)); v != 11 {
			return errors.New("schema version moved")
		}
		if tx.Bucket(outboxStateBucket) != nil {
			return errors.New("outbox_state was created")
		}
		var m billing.OutboxMessage
		if ok, err := getJSON(tx.Bucket(outboxBucket), outboxKey(1), &m); !ok || err != nil {
			return errors.New("message 1 is no longer JSON")
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
}
