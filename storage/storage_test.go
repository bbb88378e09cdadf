package storage

import (
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"creditdesk/billing"

	bolt "go.etcd.io/bbolt"
)

var t0 = time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)

// rewriteFile changes the closed database at path in one transaction: how a
// test gives it the layout of another release.
func rewriteFile(t testing.TB, path string, fn func(tx *bolt.Tx) error) {
	t.Helper()
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.Update(fn); err != nil {
		t.Fatal(err)
	}
}

// reopenAs closes s after changing its database in one transaction with fn
// (how an older version wrote it) and opens it again, so that the
// migrations run; the store is closed when the test ends.
func reopenAs(t *testing.T, s *Store, path string, fn func(tx *bolt.Tx) error) *Store {
	t.Helper()
	if err := s.db.Update(fn); err != nil {
		t.Fatal(err)
	}
	s.Close()
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// asVersion drops the buckets a later schema version added and sets the
// version.
func asVersion(tx *bolt.Tx, version uint64, added ...[]byte) error {
	for _, b := range added {
		if err := tx.DeleteBucket(b); err != nil {
			return err
		}
	}
	return tx.Bucket(metaBucket).Put(schemaVersionKey, itob(version))
}

func openTemp(t *testing.T) *Store {
	t.Helper()
	s, err := Open(filepath.Join(t.TempDir(), "t.db"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func post(t *testing.T, s *Store, now time.Time, p billing.Posting) (billing.Entry, bool, error) {
	t.Helper()
	var e billing.Entry
	var fresh bool
	err := s.Update(now, func(btx billing.Tx) error {
		tx := btx.(*Tx)
		var err error
		e, fresh, err = tx.Post(p)
		return err
	})
	return e, fresh, err
}

func balance(t *testing.T, s *Store, now time.Time, user string) int64 {
	t.Helper()
	var b int64
	if err := s.View(now, func(btx billing.Tx) error {
		tx := btx.(*Tx)
		u, _, err := tx.User(user)
		if err != nil {
			return err
		}
		b, err = tx.Spendable(u)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	return b
}

func mustVerify(t *testing.T, s *Store) {
	t.Helper()
	if _, err := s.Verify(); err != nil {
		t.Fatalf("verify: %v", err)
	}
}

func TestIngestStoresOnceAndCountsDuplicates(t *testing.T) {
	s := openTemp(t)
	ev := billing.Event{EventRecord: billing.EventRecord{ID: "evt_1", Type: "checkout.session.completed"}, Payload: []byte(`{"id":"evt_1"}`)}
	rec, dup, err := s.Ingest(ev)
	if err != nil || dup || rec.Seq != 1 || rec.State != billing.StateReceived {
		t.Fatalf("first ingest: rec=%+v dup=%v err=%v", rec, dup, err)
	}
	rec2, dup, err := s.Ingest(ev)
	if err != nil || !dup || rec2.Seq != 1 {
		t.Fatalf("redelivery: rec=%+v dup=%v err=%v", rec2, dup, err)
	}
	c, _ := s.Counts()
	if c.Events != 1 || c.Pending != 1 {
		t.Fatalf("counts %+v, want 1 event pending", c)
	}
	got, err := s.EventByID("evt_1")
	if err != nil || string(got.Payload) != `{"id":"evt_1"}` {
		t.Fatalf("payload not kept: %q %v", got.Payload, err)
	}
}

func TestConcurrentIngestGroupsCommitsAndLosesNothing(t *testing.T) {
	s := openTemp(t)
	var wg sync.WaitGroup
	for i := range 400 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			id := fmt.Sprintf("evt_%d", i%200) // every id twice
			if _, _, err := s.Ingest(billing.Event{EventRecord: billing.EventRecord{ID: id, Type: "x"}, Payload: []byte("{}")}); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	c, _ := s.Counts()
	if c.Events != 200 {
		t.Fatalf("%d events stored, want 200", c.Events)
	}
	pend, _ := s.Pending(0, 1000, nil)
	seen := map[uint64]bool{}
	for i, p := range pend {
		if seen[p.Seq] || (i > 0 && p.Seq <= pend[i-1].Seq) {
			t.Fatalf("pending not in arrival order or repeated at %d", i)
		}
		seen[p.Seq] = true
	}
	mustVerify(t, s)
}

func TestPostIsIdempotentByKey(t *testing.T) {
	s := openTemp(t)
	p := billing.Posting{UserID: "u1", Delta: 500, Key: "purchase:cs_1", Reason: "pack", Source: "evt_1", Kind: "pack"}
	e1, fresh, err := post(t, s, t0, p)
	if err != nil || !fresh {
		t.Fatal(err)
	}
	e2, fresh, err := post(t, s, t0, p)
	if err != nil || fresh || e2.ID != e1.ID {
		t.Fatalf("replay wrote again: %+v fresh=%v", e2, fresh)
	}
	if b := balance(t, s, t0, "u1"); b != 500 {
		t.Fatalf("balance %d, want 500", b)
	}
	mustVerify(t, s)
}

func TestDebitRefusedBelowZeroUnlessAllowed(t *testing.T) {
	s := openTemp(t)
	post(t, s, t0, billing.Posting{UserID: "u1", Delta: 100, Key: "k1", Kind: "manual"})
	_, _, err := post(t, s, t0, billing.Posting{UserID: "u1", Delta: -150, Key: "k2", Kind: "manual"})
	var ins *billing.ErrInsufficient
	if !errors.As(err, &ins) || ins.Balance != 100 || ins.Requested != 150 {
		t.Fatalf("want insufficient(100,150), got %v", err)
	}
	if b := balance(t, s, t0, "u1"); b != 100 {
		t.Fatalf("refused debit changed balance to %d", b)
	}
	e, _, err := post(t, s, t0, billing.Posting{UserID: "u1", Delta: -150, Key: "k3", Kind: "manual", AllowNegative: true})
	if err != nil || e.BalanceAfter != -50 {
		t.Fatalf("forced: %+v %v", e, err)
	}
	// A later grant pays the debt first.
	post(t, s, t0, billing.Posting{UserID: "u1", Delta: 80, Key: "k4", Kind: "pack"})
	if b := balance(t, s, t0, "u1"); b != 30 {
		t.Fatalf("balance %d, want 30", b)
	}
	mustVerify(t, s)
}

func TestSpendsEarliestExpiringFirstAndExpiresAsEntries(t *testing.T) {
	s := openTemp(t)
	end := t0.Add(30 * 24 * time.Hour)
	post(t, s, t0, billing.Posting{UserID: "u", Delta: 1000, Key: "topup", Kind: "pack"})
	post(t, s, t0, billing.Posting{UserID: "u", Delta: 2500, Key: "plan1", Kind: "plan", ExpiresAt: end})
	post(t, s, t0, billing.Posting{UserID: "u", Delta: -600, Key: "spend", Kind: "spend"})
	var gs []billing.Grant
	s.View(t0, func(btx billing.Tx) error {
		tx := btx.(*Tx)
		gs, _ = tx.Grants("u")
		return nil
	})
	if gs[0].Kind != "plan" || gs[0].Remaining != 1900 || gs[1].Remaining != 1000 {
		t.Fatalf("spend did not take plan credits first: %+v", gs)
	}
	// Past the period end the plan credits no longer count, even before
	// the expiry run writes them off.
	after := end.Add(time.Second)
	if b := balance(t, s, after, "u"); b != 1000 {
		t.Fatalf("spendable after period end %d, want 1000 (top-up carried over)", b)
	}
	var n int64
	s.Update(after, func(btx billing.Tx) error {
		tx := btx.(*Tx)
		n, _ = tx.ExpireDue("u")
		return nil
	})
	if n != 1900 {
		t.Fatalf("expired %d, want 1900", n)
	}
	var es []billing.Entry
	s.View(after, func(btx billing.Tx) error {
		tx := btx.(*Tx)
		es, _ = tx.Entries("u", 0, 10)
		return nil
	})
	if es[0].Kind != "expire" || es[0].Delta != -1900 || es[0].BalanceAfter != 1000 {
		t.Fatalf("newest entry %+v, want expiry of 1900", es[0])
	}
	mustVerify(t, s)
}

func TestEntriesPageNewestFirst(t *testing.T) {
	s := openTemp(t)
	for i := range 5 {
		post(t, s, t0, billing.Posting{UserID: "a", Delta: 1, Key: fmt.Sprint("a", i)})
		post(t, s, t0, billing.Posting{UserID: "b", Delta: 1, Key: fmt.Sprint("b", i)})
	}
	var first, second []billing.Entry
	s.View(t0, func(btx billing.Tx) error {
		tx := btx.(*Tx)
		first, _ = tx.Entries("a", 0, 3)
		second, _ = tx.Entries("a", first[len(first)-1].ID, 3)
		return nil
	})
	if len(first) != 3 || len(second) != 2 {
		t.Fatalf("pages %d and %d, want 3 and 2", len(first), len(second))
	}
	for _, e := range append(first, second...) {
		if e.UserID != "a" {
			t.Fatalf("page leaked another user's entry %+v", e)
		}
	}
	if first[0].BalanceAfter != 5 || second[1].BalanceAfter != 1 {
		t.Fatalf("not newest first: %+v %+v", first[0], second[1])
	}
}

func TestVerifyFindsBrokenBalance(t *testing.T) {
	s := openTemp(t)
	post(t, s, t0, billing.Posting{UserID: "u1", Delta: 100, Key: "k1"})
	mustVerify(t, s)
	// Corrupt the stored balance behind the ledger's back.
	s.db.Update(func(tx *bolt.Tx) error {
		u, _ := decodeUser(tx.Bucket(usersBucket).Get([]byte("u1")))
		u.Balance = 999
		return tx.Bucket(usersBucket).Put([]byte("u1"), encodeUser(u))
	})
	if _, err := s.Verify(); err == nil || !strings.Contains(err.Error(), "balance 999") {
		t.Fatalf("verify missed the broken balance: %v", err)
	}
}

func TestOpenTwiceNamesTheHolder(t *testing.T) {
	path := filepath.Join(t.TempDir(), "held.db")
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	_, err = Open(path, Options{LockTimeout: 50 * time.Millisecond})
	if !errors.Is(err, ErrLocked) || !strings.Contains(err.Error(), "pid") {
		t.Fatalf("want locked error naming the pid, got %v", err)
	}
}

func TestRefusesNewerSchema(t *testing.T) {
	path := filepath.Join(t.TempDir(), "new.db")
	s, _ := Open(path, Options{})
	s.db.Update(func(tx *bolt.Tx) error {
		return tx.Bucket(metaBucket).Put(schemaVersionKey, itob(SchemaVersion()+1))
	})
	s.Close()
	if _, err := Open(path, Options{}); err == nil || !strings.Contains(err.Error(), "newer") {
		t.Fatalf("opened a newer schema: %v", err)
	}
}

func TestEventsPageReadsBackwardsFromCursor(t *testing.T) {
	s := openTemp(t)
	for i := range 10 {
		s.Ingest(billing.Event{EventRecord: billing.EventRecord{ID: fmt.Sprint("e", i), Type: "t"}, Payload: []byte("{}")})
	}
	p1, _ := s.EventsPage(0, 4, nil)
	p2, _ := s.EventsPage(p1[3].Seq, 4, nil)
	if p1[0].Seq != 10 || p1[3].Seq != 7 || p2[0].Seq != 6 || len(p2) != 4 {
		t.Fatalf("pages %v / %v", p1, p2)
	}
}

func TestMigrationCountsPendingEventsOfAnOlderStore(t *testing.T) {
	path := filepath.Join(t.TempDir(), "old.db")
	s, _ := Open(path, Options{})
	for i := range 3 {
		s.Ingest(billing.Event{EventRecord: billing.EventRecord{ID: fmt.Sprint("e", i), Type: "t"}, Payload: []byte("{}")})
	}
	// Make it look like a version 2 store, which kept no pending counter.
	s.db.Update(func(tx *bolt.Tx) error {
		meta := tx.Bucket(metaBucket)
		meta.Delete(counterKey("pending"))
		if err := recordsAsJSON(tx); err != nil {
			return err
		}
		return meta.Put(schemaVersionKey, itob(2))
	})
	s.Close()
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if c, _ := s.Counts(); c.Pending != 3 {
		t.Fatalf("pending %d after migration, want 3", c.Pending)
	}
	mustVerify(t, s)
}

func TestUserPurchasesReadFromTheIndexNewestFirst(t *testing.T) {
	s := openTemp(t)
	s.Update(t0, func(btx billing.Tx) error {
		tx := btx.(*Tx)
		for i := range 5 {
			user := "a"
			if i%2 == 1 {
				user = "b"
			}
			if err := tx.PutPurchase(billing.Purchase{ID: fmt.Sprint("cs_", i), UserID: user, Status: "paid"}); err != nil {
				return err
			}
		}
		// A purchase that moves to another user leaves the old user's list.
		return tx.PutPurchase(billing.Purchase{ID: "cs_0", UserID: "b", Status: "paid"})
	})
	var a, b []billing.Purchase
	s.View(t0, func(btx billing.Tx) error {
		tx := btx.(*Tx)
		a, _ = tx.UserPurchases("a", 10)
		b, _ = tx.UserPurchases("b", 10)
		return nil
	})
	ids := func(ps []billing.Purchase) (out []string) {
		for _, p := range ps {
			out = append(out, p.ID)
		}
		return out
	}
	if got := fmt.Sprint(ids(a)); got != "[cs_4 cs_2]" {
		t.Errorf("a: %s", got)
	}
	if got := fmt.Sprint(ids(b)); got != "[cs_3 cs_1 cs_0]" {
		t.Errorf("b: %s", got)
	}
	mustVerify(t, s)
}

func TestExpiryIndexFindsOnlyDueUsers(t *testing.T) {
	s := openTemp(t)
	soon, later := t0.Add(time.Hour), t0.Add(48*time.Hour)
	post(t, s, t0, billing.Posting{UserID: "soon", Delta: 10, Key: "g1", Kind: "plan", ExpiresAt: soon})
	post(t, s, t0, billing.Posting{UserID: "later", Delta: 10, Key: "g2", Kind: "plan", ExpiresAt: later})
	post(t, s, t0, billing.Posting{UserID: "never", Delta: 10, Key: "g3", Kind: "pack"})
	due := func(now time.Time) (ids []string) {
		s.View(now, func(btx billing.Tx) error {
			tx := btx.(*Tx)
			ids, _ = tx.UsersWithExpiry()
			return nil
		})
		return ids
	}
	if got := fmt.Sprint(due(t0.Add(2 * time.Hour))); got != "[soon]" {
		t.Fatalf("due after 2h: %s", got)
	}
	s.Update(t0.Add(2*time.Hour), func(btx billing.Tx) error {
		tx := btx.(*Tx)
		_, err := tx.ExpireDue("soon")
		return err
	})
	if got := due(t0.Add(2 * time.Hour)); len(got) != 0 {
		t.Fatalf("still due after expiry: %v", got)
	}
	if got := fmt.Sprint(due(t0.Add(72 * time.Hour))); got != "[later]" {
		t.Fatalf("due after 72h: %s", got)
	}
	mustVerify(t, s)
}
