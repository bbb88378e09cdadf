package storage

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"

	"creditdesk/billing"

	bolt "go.etcd.io/bbolt"
)

// Verify checks every invariant of the store and returns the first one that
// is broken:
//   - each user's balance equals the sum of their entries, and each entry's
//     balance_after is the running sum;
//   - each user's balance equals what their grants hold (or is a debt with no
//     grant holding anything);
//   - no idempotency key is used twice, and each key points at its entry;
//   - every applied event's ledger entries are present;
//   - the pending index holds exactly the events that are received or waiting.
//
// Before the records, it reads every page of every bucket; after them it runs
// bbolt's own consistency check (tx.Check) over the whole file. What they
// find, and any panic of bbolt's on a bad page, is a *DamagedError. Only the
// check holds up writers, as a write transaction that is rolled back.
func (s *Store) Verify() (billing.VerifyReport, error) {
	var r billing.VerifyReport
	// The pages and records in a read transaction, so webhooks go on being
	// stored meanwhile; bbolt's check, which needs the writers held, after.
	err := s.view(func(tx *bolt.Tx) error {
		if err := checkLayout(tx, s.path); err != nil {
			return &DamagedError{Path: s.path, Cause: err.Error()}
		}
		if err := walkPages(tx); err != nil {
			return &DamagedError{Path: s.path, Cause: err.Error()}
		}
		return verifyRecords(tx, &r)
	})
	if err == nil {
		err = s.checkTx(func(tx *bolt.Tx) error {
			if err := checkPages(tx); err != nil {
				return &DamagedError{Path: s.path, Cause: "bbolt check: " + err.Error()}
			}
			return nil
		})
	}
	var d *DamagedError
	if errors.As(err, &d) && d.Hint == "" {
		d.Hint = "restore the last backup"
	}
	if err != nil && len(err.Error()) > maxErrorLine {
		err = &shortError{err}
	}
	return r, err
}

// maxErrorLine bounds what verify says in one line: a scribbled record can
// put pages of bytes into a message.
const maxErrorLine = 300

// shortError is err with its message cut to maxErrorLine; errors.Is and
// errors.As still see err.
type shortError struct{ err error }

// Error keeps the start (what is wrong where) and the end (what to do).
func (e *shortError) Error() string {
	msg := []rune(e.err.Error())
	head, tail := maxErrorLine*2/3, maxErrorLine/4
	if len(msg) <= head+tail+20 {
		return string(msg)
	}
	return string(msg[:head]) + " …(" + strconv.Itoa(len(msg)-head-tail) + " characters)… " + string(msg[len(msg)-tail:])
}

func (e *shortError) Unwrap() error { return e.err }

// checkTx runs fn in a transaction bbolt's check may run in: a read-only
// one in a read-only store, else a write transaction (rolled back), since
// the check reads the freelist that writers change.
func (s *Store) checkTx(fn func(*bolt.Tx) error) error {
	if s.db.IsReadOnly() {
		return s.view(fn)
	}
	return guard(s.path, func() error {
		tx, err := s.db.Begin(true)
		if err != nil {
			return err
		}
		defer tx.Rollback()
		return fn(tx)
	})
}

// shortKey quotes a key for an error line, cut to 60 bytes: a scribbled
// key can be pages long.
func shortKey(k []byte) string {
	if len(k) > 60 {
		return fmt.Sprintf("%q… (%d bytes)", k[:60], len(k))
	}
	return fmt.Sprintf("%q", k)
}

// verifyRecords checks the invariants between records (Verify).
func verifyRecords(tx *bolt.Tx, r *billing.VerifyReport) error {
	ledger := tx.Bucket(ledgerBucket)
	keys := tx.Bucket(ledgerKeysBucket)
	grants := tx.Bucket(grantsBucket)
	seenKeys := map[string]uint64{}
	expiring := 0
	err := tx.Bucket(usersBucket).ForEach(func(k, v []byte) error {
		u, err := decodeUser(v)
		if err != nil {
			return fmt.Errorf("user %s: %w", shortKey(k), err)
		}
		r.Users++
		var sum int64
		var n uint64
		c := ledger.Cursor()
		p := userPrefix(u.ID)
		for ek, ev := c.Seek(p); ek != nil && hasPrefix(ek, p); ek, ev = c.Next() {
			e, err := decodeEntry(ev)
			if err != nil {
				return fmt.Errorf("user %s entry: %w", u.ID, err)
			}
			sum += e.Delta
			n++
			r.Entries++
			if e.BalanceAfter != sum {
				return fmt.Errorf("user %s: entry %d says balance %d after it, the entries before it sum to %d", u.ID, e.ID, e.BalanceAfter, sum)
			}
			if prev, dup := seenKeys[e.Key]; dup {
				return fmt.Errorf("idempotency key %q used twice (entries %d and %d)", e.Key, prev, e.ID)
			}
			seenKeys[e.Key] = e.ID
			var ref keyRef
			if raw := keys.Get([]byte(e.Key)); raw == nil {
				return fmt.Errorf("entry %d: its idempotency key %q is not indexed", e.ID, e.Key)
			} else if err := json.Unmarshal(raw, &ref); err != nil || ref.ID != e.ID || ref.User != u.ID {
				return fmt.Errorf("entry %d: idempotency key %q points elsewhere", e.ID, e.Key)
			}
		}
		if sum != u.Balance {
			return fmt.Errorf("user %s: balance %d, entries sum to %d", u.ID, u.Balance, sum)
		}
		if n != u.Entries {
			return fmt.Errorf("user %s: %d entries counted, %d stored", u.ID, u.Entries, n)
		}
		var held int64
		gc := grants.Cursor()
		for gk, gv := gc.Seek(p); gk != nil && hasPrefix(gk, p); gk, gv = gc.Next() {
			g, err := decodeGrant(gv)
			if err != nil {
				return fmt.Errorf("user %s grant %d: %w", u.ID, btoi(gk[len(p):]), err)
			}
			if g.Remaining < 0 || g.Remaining > g.Amount {
				return fmt.Errorf("user %s: grant %d holds %d of %d", u.ID, g.EntryID, g.Remaining, g.Amount)
			}
			held += g.Remaining
		}
		if !u.NextExpiry.IsZero() && tx.Bucket(expiriesBucket).Get(expiryKey(u.NextExpiry, u.ID)) == nil {
			return fmt.Errorf("user %s: next expiry %s is not in the expiry index", u.ID, u.NextExpiry)
		}
		if !u.NextExpiry.IsZero() {
			expiring++
		}
		if (u.Balance >= 0 && held != u.Balance) || (u.Balance < 0 && held != 0) {
			return fmt.Errorf("user %s: balance %d, grants hold %d", u.ID, u.Balance, held)
		}
		return nil
	})
	if err != nil {
		return err
	}
	if n := tx.Bucket(expiriesBucket).Stats().KeyN; n != expiring {
		return fmt.Errorf("expiry index holds %d users, %d have credits that expire", n, expiring)
	}
	if n := keys.Stats().KeyN; n != len(seenKeys) {
		return fmt.Errorf("%d idempotency keys indexed, %d entries", n, len(seenKeys))
	}
	if n, m := tx.Bucket(userPurchasesBucket).Stats().KeyN, tx.Bucket(purchasesBucket).Stats().KeyN; n != m {
		return fmt.Errorf("%d purchases, %d in the per-user index", m, n)
	}
	if err := verifyOutbox(tx); err != nil {
		return err
	}
	if err := verifyTyped(tx); err != nil {
		return err
	}
	if err := verifyRollups(tx); err != nil {
		return err
	}
	if err := verifyPayloadDicts(tx); err != nil {
		return err
	}
	pending := tx.Bucket(pendingBucket)
	if n, c := pending.Stats().KeyN, btoi(tx.Bucket(metaBucket).Get(counterKey("pending"))); uint64(n) != c {
		return fmt.Errorf("%d events pending, the counter says %d", n, c)
	}
	return tx.Bucket(eventsBucket).ForEach(func(k, v []byte) error {
		rec, err := decodeEvent(v)
		if err != nil {
			return fmt.Errorf("event seq %d: %w", btoi(k), err)
		}
		r.Events++
		pv := pending.Get(k)
		isPending := pv != nil
		wantPending := rec.State == billing.StateReceived || rec.State == billing.StateWaiting
		if isPending != wantPending {
			return fmt.Errorf("event %s is %s but pending index says %v", rec.ID, rec.State, isPending)
		}
		if isPending {
			if err := verifyPendingEntry(rec, pv); err != nil {
				return err
			}
		}
		if rec.State != billing.StateApplied {
			return nil
		}
		r.Applied++
		for _, key := range rec.Keys {
			if keys.Get([]byte(key)) == nil {
				return fmt.Errorf("event %s is applied but its ledger entry %q is missing", rec.ID, key)
			}
		}
		return nil
	})
}

// verifyTyped checks the buckets of schema version 6: every record decodes
// and sits under the key its fields say; the per-user subscription index
// and the flag counter agree with what is stored; a payment intent or a
// charge points at a stored purchase; the kv bucket is gone.
func verifyTyped(tx *bolt.Tx) error {
	if tx.Bucket(kvBucket) != nil {
		return fmt.Errorf("the kv bucket is still there: schema version 6 moved its records")
	}
	subs, idx := tx.Bucket(subscriptionsBucket), tx.Bucket(userSubscriptionsBucket)
	err := subs.ForEach(func(k, v []byte) error {
		var s billing.Subscription
		if err := json.Unmarshal(v, &s); err != nil {
			return fmt.Errorf("subscription %s: %w", shortKey(k), err)
		}
		if s.ID != string(k) {
			return fmt.Errorf("subscription %s is stored under %s", s.ID, shortKey(k))
		}
		if idx.Get(userSubscriptionKey(s.UserID, s.ID)) == nil {
			return fmt.Errorf("subscription %s of user %s is not in the per-user index", s.ID, s.UserID)
		}
		return nil
	})
	if err != nil {
		return err
	}
	if n, m := idx.Stats().KeyN, subs.Stats().KeyN; n != m {
		return fmt.Errorf("%d subscriptions, %d in the per-user index", m, n)
	}
	flags := 0
	err = tx.Bucket(flagsBucket).ForEach(func(k, v []byte) error {
		var f billing.Flag
		if err := json.Unmarshal(v, &f); err != nil {
			return fmt.Errorf("attention flag %s: %w", shortKey(k), err)
		}
		if string(flagKey(f.Kind, f.ID)) != string(k) {
			return fmt.Errorf("attention flag %s %s is stored under %s", f.Kind, f.ID, shortKey(k))
		}
		flags++
		return nil
	})
	if err != nil {
		return err
	}
	if c := btoi(tx.Bucket(metaBucket).Get(counterKey("flags"))); c != uint64(flags) {
		return fmt.Errorf("%d attention flags, the counter says %d", flags, c)
	}
	purchases := tx.Bucket(purchasesBucket)
	for _, b := range []struct {
		name   string
		bucket []byte
	}{{"payment intent", paymentIntentsBucket}, {"charge", chargesBucket}} {
		err := tx.Bucket(b.bucket).ForEach(func(k, v []byte) error {
			if purchases.Get(v) == nil {
				return fmt.Errorf("%s %s points at purchase %s, which is not stored", b.name, shortKey(k), shortKey(v))
			}
			return nil
		})
		if err != nil {
			return err
		}
	}
	for _, b := range []struct {
		name   string
		bucket []byte
		check  func([]byte) (string, error)
	}{
		{"line items", lineItemsBucket, decodeID[billing.LineItems](nil)},
		{"product", productsBucket, decodeID(func(p billing.CachedProduct) string { return p.ID })},
		{"price", pricesBucket, decodeID(func(p billing.CachedPrice) string { return p.ID })},
		{"coupon", couponsBucket, decodeID(func(c billing.CachedCoupon) string { return c.ID })},
	} {
		err := tx.Bucket(b.bucket).ForEach(func(k, v []byte) error {
			id, err := b.check(v)
			if err != nil {
				return fmt.Errorf("%s %s: %w", b.name, shortKey(k), err)
			}
			if id != "" && id != string(k) {
				return fmt.Errorf("%s %s is stored under %s", b.name, id, shortKey(k))
			}
			return nil
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// decodeID decodes a T and says its id (id nil: the record has none).
func decodeID[T any](id func(T) string) func([]byte) (string, error) {
	return func(v []byte) (string, error) {
		var x T
		if err := json.Unmarshal(v, &x); err != nil {
			return "", err
		}
		if id == nil {
			return "", nil
		}
		return id(x), nil
	}
}
