package storage

import (
	"encoding/json"
	"time"

	"creditdesk/billing"

	bolt "go.etcd.io/bbolt"
)

// Tx is a read-write transaction over users, ledger, grants and purchases.
// Everything a business operation does goes in one Tx.
type Tx struct {
	tx  *bolt.Tx
	now time.Time
	obs Observer
}

// Update runs fn in one read-write transaction; now is the clock the ledger
// uses for expiry.
func (s *Store) Update(now time.Time, fn func(billing.Tx) error) error {
	return s.update(func(btx *bolt.Tx) error { return fn(&Tx{tx: btx, now: now, obs: s.obs}) })
}

// View runs fn in a read-only transaction. Writing through it fails.
func (s *Store) View(now time.Time, fn func(billing.Tx) error) error {
	return s.view(func(btx *bolt.Tx) error { return fn(&Tx{tx: btx, now: now}) })
}

// Now is the transaction's clock.
func (t *Tx) Now() time.Time { return t.now }

// User returns a stored user.
func (t *Tx) User(id string) (billing.User, bool, error) {
	return get[billing.User](t.tx.Bucket(usersBucket), []byte(id))
}

// PutUser stores u, creating it if new.
func (t *Tx) PutUser(u billing.User) error {
	b := t.tx.Bucket(usersBucket)
	var prevExpiry time.Time
	if raw := b.Get([]byte(u.ID)); raw == nil {
		if u.CreatedAt.IsZero() {
			u.CreatedAt = t.now
		}
		if err := addCount(t.tx, "users", 1); err != nil {
			return err
		}
	} else {
		var prev struct {
			NextExpiry time.Time `json:"next_expiry"`
		}
		if err := json.Unmarshal(raw, &prev); err != nil {
			return err
		}
		prevExpiry = prev.NextExpiry
	}
	if !prevExpiry.Equal(u.NextExpiry) {
		idx := t.tx.Bucket(expiriesBucket)
		if !prevExpiry.IsZero() {
			if err := idx.Delete(expiryKey(prevExpiry, u.ID)); err != nil {
				return err
			}
		}
		if !u.NextExpiry.IsZero() {
			if err := idx.Put(expiryKey(u.NextExpiry, u.ID), nil); err != nil {
				return err
			}
		}
	}
	u.UpdatedAt = t.now
	return putJSON(b, []byte(u.ID), u)
}

// expiryKey is the expiry as 8 big-endian bytes of unix nanoseconds, then
// the user id, so the index reads in expiry order.
func expiryKey(at time.Time, userID string) []byte {
	return append(itob(uint64(at.UnixNano())), userID...)
}

// EnsureUser is billing.EnsureUser in this transaction.
func (t *Tx) EnsureUser(id string) (billing.User, error) { return billing.EnsureUser(t, id) }

// CustomerUser returns the user linked to a Stripe customer, or "".
func (t *Tx) CustomerUser(customerID string) string {
	if customerID == "" {
		return ""
	}
	return string(t.tx.Bucket(customersBucket).Get([]byte(customerID)))
}

// LinkCustomer records that customerID belongs to userID.
func (t *Tx) LinkCustomer(customerID, userID string) error {
	if customerID == "" || userID == "" {
		return nil
	}
	return t.tx.Bucket(customersBucket).Put([]byte(customerID), []byte(userID))
}

// EntryByKey returns the entry an idempotency key wrote.
func (t *Tx) EntryByKey(key string) (billing.Entry, bool, error) {
	v := t.tx.Bucket(ledgerKeysBucket).Get([]byte(key))
	if v == nil {
		return billing.Entry{}, false, nil
	}
	var ref keyRef
	if err := json.Unmarshal(v, &ref); err != nil {
		return billing.Entry{}, false, err
	}
	var e billing.Entry
	ok, err := getJSON(t.tx.Bucket(ledgerBucket), userKey(ref.User, ref.ID), &e)
	return e, ok, err
}

type keyRef struct {
	User string `json:"u"`
	ID   uint64 `json:"id"`
}

// Grants returns the user's open grants (credits left) in the order credits
// are spent (billing.SortGrants).
func (t *Tx) Grants(userID string) ([]billing.Grant, error) {
	var gs []billing.Grant
	c := t.tx.Bucket(grantsBucket).Cursor()
	p := userPrefix(userID)
	for k, v := c.Seek(p); k != nil && hasPrefix(k, p); k, v = c.Next() {
		var g billing.Grant
		if err := json.Unmarshal(v, &g); err != nil {
			return nil, err
		}
		gs = append(gs, g)
	}
	billing.SortGrants(gs)
	return gs, nil
}

func hasPrefix(k, p []byte) bool {
	return len(k) >= len(p) && string(k[:len(p)]) == string(p)
}

// Post is billing.Post in this transaction.
func (t *Tx) Post(p billing.Posting) (billing.Entry, bool, error) { return billing.Post(t, p) }

// WriteLedger persists what billing's ledger maths computed: it numbers
// and appends the entries (indexing their keys), stores or removes the
// grants (a new grant takes its entry's id) and stores the user.
func (t *Tx) WriteLedger(ch billing.LedgerChange) ([]billing.Entry, error) {
	ledger := t.tx.Bucket(ledgerBucket)
	keys := t.tx.Bucket(ledgerKeysBucket)
	grants := t.tx.Bucket(grantsBucket)
	entries := make([]billing.Entry, len(ch.Entries))
	for i, e := range ch.Entries {
		id, err := ledger.NextSequence()
		if err != nil {
			return nil, err
		}
		e.ID = id
		t.noteEntry(e)
		if err := t.rollEntry(e); err != nil {
			return nil, err
		}
		if err := putJSON(ledger, userKey(e.UserID, id), e); err != nil {
			return nil, err
		}
		ref, _ := json.Marshal(keyRef{User: e.UserID, ID: id})
		if err := keys.Put([]byte(e.Key), ref); err != nil {
			return nil, err
		}
		entries[i] = e
	}
	for _, c := range ch.Grants {
		g := c.Grant
		if c.New {
			g.EntryID = entries[len(entries)-1].ID
		}
		var err error
		if c.Removed() {
			err = grants.Delete(userKey(g.UserID, g.EntryID))
		} else {
			err = putJSON(grants, userKey(g.UserID, g.EntryID), g)
		}
		if err != nil {
			return nil, err
		}
	}
	if len(entries) == 0 {
		return nil, nil
	}
	return entries, t.PutUser(ch.User)
}

// ExpireDue is billing.ExpireDue in this transaction.
func (t *Tx) ExpireDue(userID string) (int64, error) { return billing.ExpireDue(t, userID) }

// Spendable is billing.Spendable in this transaction.
func (t *Tx) Spendable(u billing.User) (int64, error) { return billing.Spendable(t, u) }

// Entries returns up to limit of the user's entries, newest first, with ids
// below before (0: from the newest).
func (t *Tx) Entries(userID string, before uint64, limit int) ([]billing.Entry, error) {
	var out []billing.Entry
	c := t.tx.Bucket(ledgerBucket).Cursor()
	p := userPrefix(userID)
	if before == 0 {
		before = ^uint64(0)
	}
	k, v := lastBelow(c, userKey(userID, before))
	for ; k != nil && hasPrefix(k, p) && len(out) < limit; k, v = c.Prev() {
		var e billing.Entry
		if err := json.Unmarshal(v, &e); err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	return out, nil
}

// UsersWithExpiry returns the ids of users whose next expiry is at or before
// now, from the expiry index: it reads only those.
func (t *Tx) UsersWithExpiry() ([]string, error) {
	var ids []string
	end := uint64(t.now.UnixNano())
	c := t.tx.Bucket(expiriesBucket).Cursor()
	for k, _ := c.First(); len(k) > 8 && btoi(k[:8]) <= end; k, _ = c.Next() {
		ids = append(ids, string(k[8:]))
	}
	return ids, nil
}
