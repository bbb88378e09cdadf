package storage

import (
	"bytes"
	"encoding/json"
	"fmt"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"creditdesk/billing"

	bolt "go.etcd.io/bbolt"
)

// recordsAsJSON rewrites every event record, ledger entry, grant and user
// as schema version 8 and older wrote them (JSON), for tests that turn a
// store into an older one.
func recordsAsJSON(tx *bolt.Tx) error {
	if err := eventsAsJSON(tx); err != nil {
		return err
	}
	if err := ledgerAsJSON(tx); err != nil {
		return err
	}
	return usersAsJSON(tx)
}

// usersAsJSON rewrites the users as version 10 wrote them.
func usersAsJSON(tx *bolt.Tx) error {
	return asJSON(tx.Bucket(usersBucket), func(v []byte) (any, error) { return decodeUser(v) })
}

// eventsAsJSON rewrites the event records as version 8 wrote them.
func eventsAsJSON(tx *bolt.Tx) error {
	return asJSON(tx.Bucket(eventsBucket), func(v []byte) (any, error) { return decodeEvent(v) })
}

// ledgerAsJSON rewrites entries and grants as version 9 wrote them.
func ledgerAsJSON(tx *bolt.Tx) error {
	if err := asJSON(tx.Bucket(ledgerBucket), func(v []byte) (any, error) { return decodeEntry(v) }); err != nil {
		return err
	}
	return asJSON(tx.Bucket(grantsBucket), func(v []byte) (any, error) { return decodeGrant(v) })
}

func asJSON(b *bolt.Bucket, decode func([]byte) (any, error)) error {
	var keys, vals [][]byte
	err := b.ForEach(func(k, v []byte) error {
		rec, err := decode(v)
		if err != nil {
			return err
		}
		raw, err := json.Marshal(rec)
		keys, vals = append(keys, bytes.Clone(k)), append(vals, raw)
		return err
	})
	if err != nil {
		return err
	}
	for i := range keys {
		if err := b.Put(keys[i], vals[i]); err != nil {
			return err
		}
	}
	return nil
}

// A database written by schema version 8 (event records as JSON) opens,
// its events read back as they were (every field, times included), the
// processor goes on where it was, and verify passes.
func TestMigrationRewritesEventRecordsOfAnOlderDatabase(t *testing.T) {
	path := filepath.Join(t.TempDir(), "v8.db")
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 11, 30, 12, 0, 0, 123456789, time.UTC)
	const n = 1500 // several pages, so the rewrite crosses page splits
	for i := range n {
		if _, _, err := s.Ingest(billing.Event{EventRecord: billing.EventRecord{ID: fmt.Sprint("evt_", i), Type: "checkout.session.completed",
			Created: at.Unix(), APIVersion: "2023-10-16", ReceivedAt: at}, Payload: []byte(`{"id":"x"}`)}); err != nil {
			t.Fatal(err)
		}
	}
	// Some applied with keys and users, one waiting with a retry time.
	err = s.Update(at, func(btx billing.Tx) error {
		for i := range 10 {
			ev, _, err := btx.Event(fmt.Sprint("evt_", i))
			if err != nil {
				return err
			}
			rec := ev.EventRecord
			rec.State, rec.User, rec.Amount, rec.Attempts, rec.Reason = billing.StateApplied, "u1", 100, 1, "pack of 100"
			if i == 8 { // keys of entries verify would look for only when applied
				rec.State, rec.Keys = billing.StateIgnored, []string{"purchase:cs_8", "invoice:in_8"}
			}
			if i == 9 {
				rec.State, rec.Keys, rec.NextAttempt, rec.WaitsForAPI, rec.Livemode = billing.StateWaiting, nil, at.Add(time.Minute), true, true
			}
			if err := btx.SetEvent(rec); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	before, err := s.EventsPage(0, n, nil)
	if err != nil || len(before) != n {
		t.Fatalf("%d events, %v", len(before), err)
	}
	s = reopenAs(t, s, path, func(tx *bolt.Tx) error {
		if err := eventsAsJSON(tx); err != nil {
			return err
		}
		return asVersion(tx, 8)
	})
	err = s.db.View(func(tx *bolt.Tx) error {
		if v := btoi(tx.Bucket(metaBucket).Get(schemaVersionKey)); v != SchemaVersion() {
			return fmt.Errorf("schema %d after open, want %d", v, SchemaVersion())
		}
		return tx.Bucket(eventsBucket).ForEach(func(k, v []byte) error {
			if v[0] != eventCodecV1 {
				return fmt.Errorf("event seq %d still JSON", btoi(k))
			}
			return nil
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	after, err := s.EventsPage(0, n, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(before, after) {
		for i := range before {
			if !reflect.DeepEqual(before[i], after[i]) {
				t.Fatalf("event %d changed in the migration:\n%+v\n%+v", i, before[i], after[i])
			}
		}
		t.Fatal("events changed in the migration")
	}
	pending, err := s.Pending(0, n, nil)
	if err != nil || len(pending) != n-9 {
		t.Fatalf("%d pending after migration (want %d), %v", len(pending), n-9, err)
	}
	if c, _ := s.Counts(); c.Events != n || c.Pending != n-9 || c.Waiting != 1 {
		t.Fatalf("counts after migration: %+v", c)
	}
	mustVerify(t, s)
}

// encodeEvent and decodeEvent agree on every field, and a record cut short
// or with bytes after its end is an error.
func TestEventCodecRoundTrips(t *testing.T) {
	recs := []billing.EventRecord{
		{},
		{Seq: 1 << 60, ID: "evt_1", Type: "invoice.paid", Created: -5, APIVersion: "2025-03-31.basil", Livemode: true,
			ReceivedAt: time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC), State: billing.StateWaiting, Reason: "needs ✓",
			Attempts: 3, NextAttempt: time.Date(2026, 1, 2, 3, 9, 5, 0, time.UTC), WaitsForAPI: true, User: "u", Amount: -1 << 62,
			Keys: []string{"a", "", "invoice:in_1"}, Source: "resync"},
	}
	for _, rec := range recs {
		b := encodeEvent(rec)
		got, err := decodeEvent(b)
		if err != nil || !reflect.DeepEqual(got, rec) {
			t.Fatalf("round trip of %+v: %+v, %v", rec, got, err)
		}
		for i := range len(b) {
			if _, err := decodeEvent(b[:i]); err == nil {
				t.Fatalf("a record cut at %d of %d bytes decoded", i, len(b))
			}
		}
		if _, err := decodeEvent(append(b, 0)); err == nil {
			t.Fatal("a record with a trailing byte decoded")
		}
		// peekEvent reads the fields Pending's filters look at, the same.
		want := billing.EventRecord{Seq: rec.Seq, Created: rec.Created, State: rec.State, ReceivedAt: rec.ReceivedAt, NextAttempt: rec.NextAttempt,
			WaitsForAPI: rec.WaitsForAPI, Livemode: rec.Livemode}
		if peek, err := peekEvent(b); err != nil || !reflect.DeepEqual(peek, want) {
			t.Fatalf("peek of %+v: %+v, %v", rec, peek, err)
		}
	}
	for _, st := range []billing.EventState{billing.StateReceived, billing.StateFailed, "some future state"} {
		if peek, err := peekEvent(encodeEvent(billing.EventRecord{State: st})); err != nil || peek.State != st {
			t.Fatalf("peek of state %q: %q, %v", st, peek.State, err)
		}
	}
}

// A database written by schema version 9 (ledger entries and grants as
// JSON) opens with every entry and grant as it was, spending goes on from
// the same grants, and verify passes.
func TestMigrationRewritesLedgerOfAnOlderDatabase(t *testing.T) {
	path := filepath.Join(t.TempDir(), "v9.db")
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 11, 30, 12, 0, 0, 5, time.UTC)
	users := make([]string, 300) // several pages of entries and grants
	for i := range users {
		users[i] = fmt.Sprintf("u%03d", i)
	}
	err = s.Update(at, func(btx billing.Tx) error {
		for i, u := range users {
			if _, _, err := billing.Post(btx, billing.Posting{UserID: u, Delta: 1000, Key: "pack:" + u, Reason: "pack", Source: "evt_" + u,
				Kind: billing.EntryKind("pack"), At: at, PurchaseID: "cs_" + u}); err != nil {
				return err
			}
			if _, _, err := billing.Post(btx, billing.Posting{UserID: u, Delta: 2500, Key: "plan:" + u, Reason: "plan", Source: "evt_p" + u,
				Kind: billing.EntryKind("plan"), At: at, ExpiresAt: at.Add(30 * 24 * time.Hour), Subscription: "sub_" + u}); err != nil {
				return err
			}
			if i%3 == 0 {
				if _, _, err := billing.Post(btx, billing.Posting{UserID: u, Delta: -300, Key: "spend:" + u, Reason: "spend", Source: "api",
					Kind: billing.EntryKind("spend"), At: at, Operator: "api:app"}); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	type book struct {
		entries []billing.Entry
		grants  []billing.Grant
	}
	read := func() map[string]book {
		out := map[string]book{}
		err := s.View(at, func(btx billing.Tx) error {
			for _, u := range users {
				es, err := btx.Entries(u, 0, 100)
				if err != nil {
					return err
				}
				gs, err := btx.Grants(u)
				if err != nil {
					return err
				}
				out[u] = book{es, gs}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	before := read()
	s = reopenAs(t, s, path, func(tx *bolt.Tx) error {
		if err := ledgerAsJSON(tx); err != nil {
			return err
		}
		if err := usersAsJSON(tx); err != nil {
			return err
		}
		return asVersion(tx, 9)
	})
	after := read()
	for _, u := range users {
		if !reflect.DeepEqual(before[u], after[u]) {
			t.Fatalf("%s changed in the migration:\n%+v\n%+v", u, before[u], after[u])
		}
	}
	if len(after["u000"].entries) != 3 || len(after["u000"].grants) != 2 {
		t.Fatalf("u000 after migration: %+v", after["u000"])
	}
	mustVerify(t, s)
	// The ledger goes on: a spend takes from the migrated grants.
	err = s.Update(at, func(btx billing.Tx) error {
		_, _, err := billing.Post(btx, billing.Posting{UserID: "u001", Delta: -3500, Key: "spend2:u001", Reason: "spend", Source: "api", Kind: billing.EntryKind("spend"), At: at})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	mustVerify(t, s)
}

// Entries and grants come back from their binary layout field for field; a
// record cut short or with a byte after its end is an error.
func TestLedgerCodecRoundTrips(t *testing.T) {
	at := time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC)
	entries := []billing.Entry{{}, {ID: 1 << 40, UserID: "u", Delta: -1 << 50, BalanceAfter: 7, Reason: "refund ✓", Source: "evt", Key: "refund:ch:1/2", At: at, Kind: "refund", Operator: "ssh:laptop"}}
	grants := []billing.Grant{{}, {EntryID: 9, UserID: "u", Amount: 10, Remaining: 3, ExpiresAt: at, Kind: "plan", Source: "evt", PurchaseID: "in_1", Subscription: "sub_1", At: at}}
	check := func(b []byte, decode func([]byte) (any, error), want any) {
		t.Helper()
		got, err := decode(b)
		if err != nil || !reflect.DeepEqual(got, want) {
			t.Fatalf("round trip of %+v: %+v, %v", want, got, err)
		}
		for i := range len(b) {
			if _, err := decode(b[:i]); err == nil {
				t.Fatalf("%T cut at %d of %d bytes decoded", want, i, len(b))
			}
		}
		if _, err := decode(append(b, 0)); err == nil {
			t.Fatalf("%T with a trailing byte decoded", want)
		}
	}
	for _, e := range entries {
		check(encodeEntry(e), func(b []byte) (any, error) { return decodeEntry(b) }, e)
	}
	for _, g := range grants {
		check(encodeGrant(g), func(b []byte) (any, error) { return decodeGrant(b) }, g)
	}
}

// A database written by schema version 10 (users as JSON) opens with every
// user as it was, found by the Users page's filter, and verify passes.
func TestMigrationRewritesUsersOfAnOlderDatabase(t *testing.T) {
	path := filepath.Join(t.TempDir(), "v10.db")
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	err = s.Update(at, func(btx billing.Tx) error {
		for i := range 400 {
			id := fmt.Sprintf("user_%03d", i)
			if _, _, err := billing.Post(btx, billing.Posting{UserID: id, Delta: 100, Key: "k:" + id, Reason: "r", Source: "s", Kind: "manual", At: at,
				ExpiresAt: at.Add(time.Duration(i) * time.Hour)}); err != nil {
				return err
			}
			u, _, err := btx.User(id)
			if err != nil {
				return err
			}
			u.Email, u.Name, u.CustomerID, u.Unlinked = id+"@example.com", "Ada "+id, "cus_"+id, i%2 == 0
			if err := btx.PutUser(u); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	before, err := s.UsersPage("", "", 1000)
	if err != nil || len(before) != 400 {
		t.Fatalf("%d users, %v", len(before), err)
	}
	s = reopenAs(t, s, path, func(tx *bolt.Tx) error {
		if err := usersAsJSON(tx); err != nil {
			return err
		}
		return asVersion(tx, 10)
	})
	after, err := s.UsersPage("", "", 1000)
	if err != nil || !reflect.DeepEqual(before, after) {
		t.Fatalf("users changed in the migration (%v)", err)
	}
	if found, err := s.UsersPage("", "ADA USER_123", 10); err != nil || len(found) != 1 || found[0].ID != "user_123" {
		t.Fatalf("filter after migration: %+v, %v", found, err)
	}
	mustVerify(t, s)
}

// A user comes back from its binary layout field for field; a record cut
// short or with a byte after its end is an error.
func TestUserCodecRoundTrips(t *testing.T) {
	at := time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC)
	for _, u := range []billing.User{{}, {ID: "u", Email: "a@b", Name: "Ada ✓", Tier: "pro", CustomerID: "cus_1", SubscriptionID: "sub_1",
		Balance: -5, NextExpiry: at, Unlinked: true, CreatedAt: at, UpdatedAt: at.Add(time.Second), Entries: 1 << 40}} {
		b := encodeUser(u)
		if got, err := decodeUser(b); err != nil || !reflect.DeepEqual(got, u) {
			t.Fatalf("round trip of %+v: %+v, %v", u, got, err)
		}
		for i := range len(b) {
			if _, err := decodeUser(b[:i]); err == nil {
				t.Fatalf("a user cut at %d of %d bytes decoded", i, len(b))
			}
		}
		if _, err := decodeUser(append(b, 0)); err == nil {
			t.Fatal("a user with a trailing byte decoded")
		}
	}
}
