package storage

import (
	"encoding/json"
	"path/filepath"
	"testing"
	"time"

	"creditdesk/billing"

	bolt "go.etcd.io/bbolt"
)

// FuzzRecordValues puts arbitrary bytes where a record belongs (a user, an
// event, a purchase, a ledger entry, a grant) and reads the store the ways
// the console, the command line and verify do: a scribbled record is an
// error, never a panic, and verify reports it.
func FuzzRecordValues(f *testing.F) {
	f.Add(uint8(0), []byte(`{"id":"u1","balance":5}`))
	f.Add(uint8(1), []byte(`{"seq":1,"id":"evt_1","state":"applied"}`))
	f.Add(uint8(2), []byte(`{`))
	f.Add(uint8(3), []byte{0xff, 0x00, 0x12})
	f.Add(uint8(4), []byte(`{"entry_id":"x"}`))
	f.Add(uint8(0), []byte(`null`))
	f.Add(uint8(0), encodeUser(billing.User{ID: "u1", Balance: 5})[:4])
	f.Add(uint8(1), encodeEvent(billing.EventRecord{Seq: 1, ID: "evt_1", State: billing.StateApplied})[:9])
	f.Add(uint8(3), encodeEntry(billing.Entry{ID: 1, UserID: "u1", Delta: 10, BalanceAfter: 10, Key: "seed"})[:7])
	f.Add(uint8(4), encodeGrant(billing.Grant{EntryID: 1, UserID: "u1", Amount: 10, Remaining: 99}))
	st, err := Open(filepath.Join(f.TempDir(), "fz.db"), Options{})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { st.Close() })
	now := time.Now()
	// A little real data around the scribbled record.
	if err := st.Update(now, func(btx billing.Tx) error {
		tx := btx.(*Tx)
		_, _, err := tx.Post(billing.Posting{UserID: "u1", Delta: 10, Key: "seed", Reason: "seed", Source: "manual", Kind: "manual", At: now})
		return err
	}); err != nil {
		f.Fatal(err)
	}
	buckets := [][]byte{usersBucket, eventsBucket, purchasesBucket, ledgerBucket, grantsBucket}
	keys := [][]byte{[]byte("u1"), itob(1), []byte("cs_fuzz"), userKey("u1", 1), userKey("u1", 1)}
	f.Fuzz(func(t *testing.T, which uint8, value []byte) {
		i := int(which) % len(buckets)
		var old []byte
		if err := st.db.Update(func(tx *bolt.Tx) error {
			b := tx.Bucket(buckets[i])
			if v := b.Get(keys[i]); v != nil {
				old = append([]byte(nil), v...)
			}
			return b.Put(keys[i], value)
		}); err != nil {
			t.Skip(err)
		}
		defer st.db.Update(func(tx *bolt.Tx) error {
			b := tx.Bucket(buckets[i])
			if old == nil {
				return b.Delete(keys[i])
			}
			return b.Put(keys[i], old)
		})
		_, _ = st.UsersPage("", "", 10)
		_, _ = st.EventsPage(0, 10, nil)
		_, _ = st.PurchasesPage(0, 10)
		_ = st.View(now, func(btx billing.Tx) error {
			tx := btx.(*Tx)
			_, _, _ = tx.User("u1")
			_, _ = tx.Grants("u1")
			return nil
		})
		valid := json.Valid(value)
		var err error
		switch i { // users (version 11), event records (9), entries and grants (10) are binary
		case 0:
			_, err = decodeUser(value)
			valid = err == nil
		case 1:
			_, err = decodeEvent(value)
			valid = err == nil
		case 3:
			_, err = decodeEntry(value)
			valid = err == nil
		case 4:
			_, err = decodeGrant(value)
			valid = err == nil
		}
		if _, err := st.Verify(); err == nil && !valid {
			t.Fatalf("verify passed with %q scribbled over %s/%x", value, buckets[i], keys[i])
		}
	})
}
