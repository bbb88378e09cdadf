package storage

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"creditdesk/billing"
	"creditdesk/internal/fixtures"

	bolt "go.etcd.io/bbolt"
)

// Every real Stripe body of the corpus comes back byte for byte (the
// signature was made over those bytes), is stored smaller than it came,
// and a body an earlier version stored raw still reads.
func TestPayloadsAreStoredCompressedAndReadBackExactly(t *testing.T) {
	dir := fixtures.Dir(t, "stripe-events-2020")
	files, _ := filepath.Glob(filepath.Join(dir, "*.json"))
	if len(files) == 0 {
		t.Fatalf("no payloads in %s", dir)
	}
	path := filepath.Join(t.TempDir(), "p.db")
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	bodies := map[string][]byte{}
	var raw, stored int
	for i, f := range files {
		body, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		id := "evt_p" + string(rune('a'+i%26)) + filepath.Base(f)
		bodies[id] = body
		if _, _, err := s.Ingest(billing.Event{EventRecord: billing.EventRecord{ID: id, Type: "x"}, Payload: body}); err != nil {
			t.Fatal(err)
		}
		raw += len(body)
	}
	// One event as an earlier version stored it: the raw body.
	old := []byte(`{"id":"evt_old","object":"event","type":"x","data":{"object":{}}}`)
	if _, _, err := s.Ingest(billing.Event{EventRecord: billing.EventRecord{ID: "evt_old", Type: "x"}, Payload: old}); err != nil {
		t.Fatal(err)
	}
	err = s.db.Update(func(tx *bolt.Tx) error {
		return tx.Bucket(payloadsBucket).Put(tx.Bucket(eventIDsBucket).Get([]byte("evt_old")), old)
	})
	if err != nil {
		t.Fatal(err)
	}
	bodies["evt_old"] = old
	err = s.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(payloadsBucket).ForEach(func(k, v []byte) error {
			stored += len(v)
			return nil
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	if stored*2 > raw {
		t.Errorf("payloads stored in %d bytes for %d bytes of bodies: not compressed", stored, raw)
	}
	for id, body := range bodies {
		ev, err := s.EventByID(id)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(ev.Payload, body) {
			t.Fatalf("%s: payload read back differs from the body stored", id)
		}
	}
	pending, err := s.Pending(0, len(bodies)+1, nil)
	if err != nil || len(pending) != len(bodies) {
		t.Fatalf("pending: %d events, %v", len(pending), err)
	}
	seqs := make([]uint64, len(pending))
	for i, rec := range pending {
		seqs[i] = rec.Seq
	}
	got, err := s.Payloads(seqs)
	if err != nil {
		t.Fatal(err)
	}
	for i, rec := range pending {
		if !bytes.Equal(got[i], bodies[rec.ID]) {
			t.Fatalf("%s: pending payload differs from the body stored", rec.ID)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
}

// A stored payload that claims to be compressed and is not is an error
// naming the event, not a crash or a silently wrong body.
func TestDamagedCompressedPayloadIsAnError(t *testing.T) {
	if _, err := decodePayload(append(bytes.Clone(zstdMagic), 1, 2, 3)); err == nil {
		t.Fatal("a damaged frame decoded")
	}
}
