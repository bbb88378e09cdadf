package storage

import (
	"bytes"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"creditdesk/billing"

	bolt "go.etcd.io/bbolt"
)

// A database written before the API existed (schema 1) gains the API
// buckets when opened, and keeps what it held.
func TestMigratesSchema1ToAPIBuckets(t *testing.T) {
	path := filepath.Join(t.TempDir(), "v1.db")
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Update(time.Now(), func(btx billing.Tx) error {
		tx := btx.(*Tx)
		_, _, err := tx.Post(billing.Posting{UserID: "u1", Delta: 5, Key: "k", Reason: "r", Source: "s"})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	// Make it a version 1 file.
	s.db.Update(func(tx *bolt.Tx) error {
		if err := asVersion(tx, 1, apiKeysBucket, apiKeyHashesBucket, apiRequestsBucket); err != nil {
			return err
		}
		return recordsAsJSON(tx)
	})
	s.Close()
	if _, err := Open(path, Options{ReadOnly: true}); err == nil {
		t.Fatal("read-only open of an older schema succeeded")
	}

	s, err = Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var version uint64
	s.db.View(func(tx *bolt.Tx) error { version = btoi(tx.Bucket(metaBucket).Get(schemaVersionKey)); return nil })
	if version != SchemaVersion() {
		t.Fatalf("schema version %d after open, want %d", version, SchemaVersion())
	}
	hash := bytes.Repeat([]byte{7}, 32)
	err = s.Update(time.Now(), func(btx billing.Tx) error {
		tx := btx.(*Tx)
		if err := tx.CreateAPIKey(billing.APIKey{Name: "app", Hash: hash}); err != nil {
			return err
		}
		return tx.PutAPIRequest("api:app:1", billing.APIRequest{Fingerprint: "f", User: "u1"})
	})
	if err != nil {
		t.Fatal(err)
	}
	s.View(time.Now(), func(btx billing.Tx) error {
		tx := btx.(*Tx)
		if name, ok := tx.APIKeyNameByHash(hash); !ok || name != "app" {
			t.Errorf("key by hash: %q %v", name, ok)
		}
		if name, ok := tx.APIKeyNameByHash(hash[:31]); ok {
			t.Errorf("a prefix of the hash found %q", name)
		}
		if u, _, _ := tx.User("u1"); u.Balance != 5 {
			t.Errorf("balance %d after migration", u.Balance)
		}
		return nil
	})
	if _, err := s.Verify(); err != nil {
		t.Fatal(err)
	}
}

// Concurrent Shared calls commit together, each sees those before it, and
// one that fails neither loses the others' writes nor keeps its own.
func TestSharedCommits(t *testing.T) {
	s := openTemp(t)
	boom := errors.New("boom")
	const n = 200
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = s.Shared(time.Now(), func(btx billing.Tx) error {
				tx := btx.(*Tx)
				if _, _, err := tx.Post(billing.Posting{UserID: "u", Delta: 1, Key: fmt.Sprint("k", i), Reason: "r", Source: "s"}); err != nil {
					return err
				}
				if i%50 == 7 {
					return boom // after writing: its write must not stay
				}
				return nil
			})
		}()
	}
	wg.Wait()
	failed := 0
	for i, err := range errs {
		if i%50 == 7 {
			failed++
			if !errors.Is(err, boom) {
				t.Errorf("call %d: %v, want boom", i, err)
			}
		} else if err != nil {
			t.Errorf("call %d: %v", i, err)
		}
	}
	s.View(time.Now(), func(btx billing.Tx) error {
		tx := btx.(*Tx)
		u, _, _ := tx.User("u")
		if u.Balance != int64(n-failed) {
			t.Errorf("balance %d, want %d", u.Balance, n-failed)
		}
		if _, ok, _ := tx.EntryByKey("k7"); ok {
			t.Error("a failed call's posting was committed")
		}
		return nil
	})
	if _, err := s.Verify(); err != nil {
		t.Fatal(err)
	}
}
