package storage

import (
	"encoding/json"
	"errors"
	"time"

	"creditdesk/billing"

	bolt "go.etcd.io/bbolt"
)

// Tx is a read-write transaction over users, ledger, grants and purchases.
// Everything a business operation does goes in one Tx.
type Tx struct {
	tx    *bolt.Tx
	now   time.Time
	obs   Observer
	codec *payloadCodec // nil: payloads without dictionaries (migrations)
}

// Update runs fn in one read-write transaction; now is the clock the ledger
// uses for expiry.
func (s *Store) Update(now time.Time, fn func(billing.Tx) error) error {
	return s.update(func(btx *bolt.Tx) error { return fn(&Tx{tx: btx, now: now, obs: s.obs, codec: s.codec}) })
}

// View runs fn in a read-only transaction. Writing through it fails.
func (s *Store) View(now time.Time, fn func(billing.Tx) error) error {
	return s.view(func(btx *bolt.Tx) error { return fn(&Tx{tx: btx, now: now, codec: s.codec}) })
}

// Now is the transaction's clock.
func (t *Tx) Now() time.Time { return t.now }

// User returns a stored user.
func (t *Tx) User(id string) (billing.User, bool, error) {
	v := t.tx.Bucket(usersBucket).Get([]byte(id))
	if v == nil {
		return billing.User{}, false, nil
	}
	u, err := decodeUser(v)
	return u, err == nil, err
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
		prev, err := decodeUser(raw)
		if err != nil {
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
	return b.Put([]byte(u.ID), encodeUser(u))
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
	v = t.tx.Bucket(ledgerBucket).Get(userKey(ref.User, ref.ID))
	if v == nil {
		return billing.Entry{}, false, nil
	}
	e, err := decodeEntry(v)
	return e, err == nil, err
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
		g, err := decodeGrant(v)
		if err != nil {
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
		if err := ledger.Put(userKey(e.UserID, id), encodeEntry(e)); err != nil {
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
			err = grants.Put(userKey(g.UserID, g.EntryID), encodeGrant(g))
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
		e, err := decodeEntry(v)
		if err != nil {
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

// The ledger bucket (ledgerBucket, key userKey(user, entry id)) holds each
// entry and the grants bucket (grantsBucket, the same key: the entry that
// created the grant) each open grant. Since schema version 10 both are
// binary (codec.go's pieces), not JSON:
//
//	entry: 0x01, uvarint id, string user_id, varint delta, varint balance_after,
//	       string reason, string source, string key, optional time at,
//	       string kind, string operator
//	grant: 0x01, uvarint entry_id, string user_id, varint amount, varint remaining,
//	       optional time expires_at, string kind, string source, string purchase_id,
//	       string subscription, optional time at
//
// Nothing may follow the last field.
const ledgerCodecV1 = 0x01

var (
	errEntryCodec = errors.New("ledger entry is damaged: not the binary layout of schema version 10")
	errGrantCodec = errors.New("grant is damaged: not the binary layout of schema version 10")
)

func encodeEntry(e billing.Entry) []byte {
	w := newRecordWriter(ledgerCodecV1, 48+len(e.UserID)+len(e.Reason)+len(e.Source)+len(e.Key)+len(e.Kind)+len(e.Operator))
	w.uvarint(e.ID)
	w.str(e.UserID)
	w.varint(e.Delta)
	w.varint(e.BalanceAfter)
	w.str(e.Reason)
	w.str(e.Source)
	w.str(e.Key)
	w.optTime(e.At)
	w.str(string(e.Kind))
	w.str(e.Operator)
	return w.record()
}

func decodeEntry(v []byte) (billing.Entry, error) {
	var e billing.Entry
	r := newRecordReader(v, ledgerCodecV1, errEntryCodec)
	e.ID = r.uvarint()
	e.UserID = r.str()
	e.Delta = r.varint()
	e.BalanceAfter = r.varint()
	e.Reason = r.str()
	e.Source = r.str()
	e.Key = r.str()
	e.At = r.optTime()
	e.Kind = billing.EntryKind(r.str())
	e.Operator = r.str()
	return decoded(r, e)
}

func encodeGrant(g billing.Grant) []byte {
	w := newRecordWriter(ledgerCodecV1, 48+len(g.UserID)+len(g.Kind)+len(g.Source)+len(g.PurchaseID)+len(g.Subscription))
	w.uvarint(g.EntryID)
	w.str(g.UserID)
	w.varint(g.Amount)
	w.varint(g.Remaining)
	w.optTime(g.ExpiresAt)
	w.str(string(g.Kind))
	w.str(g.Source)
	w.str(g.PurchaseID)
	w.str(g.Subscription)
	w.optTime(g.At)
	return w.record()
}

func decodeGrant(v []byte) (billing.Grant, error) {
	var g billing.Grant
	r := newRecordReader(v, ledgerCodecV1, errGrantCodec)
	g.EntryID = r.uvarint()
	g.UserID = r.str()
	g.Amount = r.varint()
	g.Remaining = r.varint()
	g.ExpiresAt = r.optTime()
	g.Kind = billing.GrantKind(r.str())
	g.Source = r.str()
	g.PurchaseID = r.str()
	g.Subscription = r.str()
	g.At = r.optTime()
	return decoded(r, g)
}

// The users bucket (usersBucket, key the user id) holds each User. Since
// schema version 11 it is binary, not JSON:
//
//	0x01, string id, string email, string name, string tier,
//	string stripe_customer_id, string subscription_id, varint balance,
//	optional time next_expiry, byte unlinked (0 or 1), optional time created_at,
//	optional time updated_at, uvarint entries
//
// Nothing may follow the last field. The strings are stored as they are, so
// UsersPage's filter can still skip a record on its raw bytes first.
const userCodecV1 = 0x01

var errUserCodec = errors.New("user record is damaged: not the binary layout of schema version 11")

func encodeUser(u billing.User) []byte {
	w := newRecordWriter(userCodecV1, 64+len(u.ID)+len(u.Email)+len(u.Name)+len(u.Tier)+len(u.CustomerID)+len(u.SubscriptionID))
	w.str(u.ID)
	w.str(u.Email)
	w.str(u.Name)
	w.str(u.Tier)
	w.str(u.CustomerID)
	w.str(u.SubscriptionID)
	w.varint(u.Balance)
	w.optTime(u.NextExpiry)
	w.bool(u.Unlinked)
	w.optTime(u.CreatedAt)
	w.optTime(u.UpdatedAt)
	w.uvarint(u.Entries)
	return w.record()
}

func decodeUser(v []byte) (billing.User, error) {
	var u billing.User
	r := newRecordReader(v, userCodecV1, errUserCodec)
	u.ID = r.str()
	u.Email = r.str()
	u.Name = r.str()
	u.Tier = r.str()
	u.CustomerID = r.str()
	u.SubscriptionID = r.str()
	u.Balance = r.varint()
	u.NextExpiry = r.optTime()
	u.Unlinked = r.bool()
	u.CreatedAt = r.optTime()
	u.UpdatedAt = r.optTime()
	u.Entries = r.uvarint()
	return decoded(r, u)
}
