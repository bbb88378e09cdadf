package storage

import (
	"encoding/json"
	"errors"
	"fmt"
	"sort"
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
	var u billing.User
	ok, err := getJSON(t.tx.Bucket(usersBucket), []byte(id), &u)
	return u, ok, err
}

// PutUser stores u, creating it if new.
func (t *Tx) PutUser(u billing.User) error {
	b := t.tx.Bucket(usersBucket)
	var prevExpiry time.Time
	if raw := b.Get([]byte(u.ID)); raw == nil {
		if u.CreatedAt.IsZero() {
			u.CreatedAt = t.now
		}
		if u.Tier == "" {
			u.Tier = "free"
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

// EnsureUser returns the user, creating an empty free-tier one if needed.
func (t *Tx) EnsureUser(id string) (billing.User, error) {
	if id == "" {
		return billing.User{}, errors.New("empty user id")
	}
	u, ok, err := t.User(id)
	if err != nil || ok {
		return u, err
	}
	u = billing.User{ID: id, Tier: "free", CreatedAt: t.now}
	return u, t.PutUser(u)
}

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

// Grants returns the user's open grants (credits left) in the order credits are spent: earliest
// expiry first, grants that never expire last, older before newer.
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
	sortGrants(gs)
	return gs, nil
}

func sortGrants(gs []billing.Grant) {
	sort.SliceStable(gs, func(i, j int) bool {
		a, b := gs[i], gs[j]
		if a.Expires() != b.Expires() {
			return a.Expires()
		}
		if a.Expires() && !a.ExpiresAt.Equal(b.ExpiresAt) {
			return a.ExpiresAt.Before(b.ExpiresAt)
		}
		return a.EntryID < b.EntryID
	})
}

func hasPrefix(k, p []byte) bool {
	return len(k) >= len(p) && string(k[:len(p)]) == string(p)
}

func (t *Tx) putGrant(g billing.Grant) error {
	return putJSON(t.tx.Bucket(grantsBucket), userKey(g.UserID, g.EntryID), g)
}

// Post appends one ledger entry and updates the balance and grants in the
// same transaction. A key already used returns its entry and fresh=false.
// Before any change, grants past their expiry are expired as entries of
// their own, so a debit never spends expired credits.
func (t *Tx) Post(p billing.Posting) (e billing.Entry, fresh bool, err error) {
	if p.Key == "" {
		return billing.Entry{}, false, errors.New("ledger posting without idempotency key")
	}
	if p.Delta == 0 {
		return billing.Entry{}, false, errors.New("ledger posting of zero credits")
	}
	if !billing.InCreditRange(p.Delta) {
		return billing.Entry{}, false, fmt.Errorf("%w: %s credits is more than one entry may move (at most %s)", billing.ErrInvalid,
			billing.Credits(p.Delta), billing.Credits(billing.MaxCredits))
	}
	if prev, ok, err := t.EntryByKey(p.Key); err != nil || ok {
		return prev, false, err
	}
	if p.At.IsZero() {
		p.At = t.now
	}
	if _, err := t.ExpireDue(p.UserID); err != nil {
		return billing.Entry{}, false, err
	}
	u, err := t.EnsureUser(p.UserID)
	if err != nil {
		return billing.Entry{}, false, err
	}
	delta := p.Delta
	if delta < 0 {
		want := -delta
		if u.Balance < want && !p.AllowNegative {
			if !p.Clamp {
				return billing.Entry{}, false, &billing.ErrInsufficient{UserID: u.ID, Balance: max(u.Balance, 0), Requested: want}
			}
			want = max(u.Balance, 0)
			if want == 0 {
				return billing.Entry{}, false, nil
			}
			delta = -want
		}
		gs, err := t.Grants(p.UserID)
		if err != nil {
			return billing.Entry{}, false, err
		}
		if u.NextExpiry, err = t.consume(gs, want, p.FromPurchase); err != nil {
			return billing.Entry{}, false, err
		}
	}
	// Refused here, the transaction is rolled back with whatever it did.
	after, err := checkPosting(u.ID, u.Balance, delta)
	if err != nil {
		return billing.Entry{}, false, err
	}
	ledger := t.tx.Bucket(ledgerBucket)
	id, err := ledger.NextSequence()
	if err != nil {
		return billing.Entry{}, false, err
	}
	e = billing.Entry{
		ID: id, UserID: p.UserID, Delta: delta, BalanceAfter: after,
		Reason: p.Reason, Source: p.Source, Key: p.Key, At: p.At, Kind: p.Kind,
		Operator: p.Operator,
	}
	if delta > 0 {
		// A grant first pays back any debt; the rest is spendable.
		remaining := delta
		if u.Balance < 0 {
			remaining = max(0, u.Balance+delta)
		}
		if remaining > 0 {
			g := billing.Grant{EntryID: id, UserID: p.UserID, Amount: delta, Remaining: remaining, ExpiresAt: p.ExpiresAt,
				Kind: p.Kind, Source: p.Source, PurchaseID: p.PurchaseID, At: p.At}
			if err := t.putGrant(g); err != nil {
				return billing.Entry{}, false, err
			}
			if g.Expires() && (u.NextExpiry.IsZero() || g.ExpiresAt.Before(u.NextExpiry)) {
				u.NextExpiry = g.ExpiresAt
			}
		}
	}
	t.noteEntry(e)
	if err := putJSON(ledger, userKey(p.UserID, id), e); err != nil {
		return billing.Entry{}, false, err
	}
	ref, _ := json.Marshal(keyRef{User: p.UserID, ID: id})
	if err := t.tx.Bucket(ledgerKeysBucket).Put([]byte(p.Key), ref); err != nil {
		return billing.Entry{}, false, err
	}
	u.Balance = e.BalanceAfter
	u.Entries++
	return e, true, t.PutUser(u)
}

// consume takes want credits from grants (in spending order): those of
// purchase first if given, then earliest expiry first. Whatever the grants
// cannot cover is debt. A grant with nothing left is removed, so only open
// grants are ever scanned. It returns the earliest expiry still open.
func (t *Tx) consume(gs []billing.Grant, want int64, purchase string) (time.Time, error) {
	order := gs
	if purchase != "" {
		order = make([]billing.Grant, 0, len(gs))
		for _, g := range gs {
			if g.PurchaseID == purchase {
				order = append(order, g)
			}
		}
		for _, g := range gs {
			if g.PurchaseID != purchase {
				order = append(order, g)
			}
		}
	}
	for i := range order {
		g := &order[i]
		if want == 0 {
			break
		}
		take := min(g.Remaining, want)
		g.Remaining -= take
		want -= take
		if err := t.saveGrant(*g); err != nil {
			return time.Time{}, err
		}
	}
	return nextExpiry(order), nil
}

// saveGrant stores an open grant, or removes it once nothing is left.
func (t *Tx) saveGrant(g billing.Grant) error {
	if g.Remaining <= 0 {
		return t.tx.Bucket(grantsBucket).Delete(userKey(g.UserID, g.EntryID))
	}
	return t.putGrant(g)
}

// nextExpiry is the earliest expiry among grants with credits left.
func nextExpiry(gs []billing.Grant) time.Time {
	var next time.Time
	for _, g := range gs {
		if g.Remaining > 0 && g.Expires() && (next.IsZero() || g.ExpiresAt.Before(next)) {
			next = g.ExpiresAt
		}
	}
	return next
}

// ExpireDue writes an expiry entry for every grant of the user whose expiry
// has passed at the transaction's clock and that still has credits, and
// returns how many credits expired.
func (t *Tx) ExpireDue(userID string) (int64, error) {
	u, ok, err := t.User(userID)
	if err != nil || !ok || u.NextExpiry.IsZero() || u.NextExpiry.After(t.now) {
		return 0, err
	}
	return t.expireGrants(u, func(g billing.Grant) bool { return g.Expires() && !g.ExpiresAt.After(t.now) }, "expired at period end")
}

// ExpireGrants expires now every grant of the user that match selects, with
// reason (a cancelled plan's credits).
func (t *Tx) ExpireGrants(userID string, match func(billing.Grant) bool, reason string) (int64, error) {
	u, ok, err := t.User(userID)
	if err != nil || !ok {
		return 0, err
	}
	return t.expireGrants(u, match, reason)
}

func (t *Tx) expireGrants(u billing.User, match func(billing.Grant) bool, reason string) (int64, error) {
	gs, err := t.Grants(u.ID)
	if err != nil {
		return 0, err
	}
	ledger := t.tx.Bucket(ledgerBucket)
	var total int64
	for i, g := range gs {
		if g.Remaining <= 0 || !match(g) {
			continue
		}
		id, err := ledger.NextSequence()
		if err != nil {
			return 0, err
		}
		at := t.now
		if g.Expires() && g.ExpiresAt.Before(at) {
			at = g.ExpiresAt
		}
		key := fmt.Sprintf("expire:%s:%d", u.ID, g.EntryID)
		var okB, okT bool
		u.Balance, okB = billing.AddCredits(u.Balance, -g.Remaining)
		total, okT = billing.AddCredits(total, g.Remaining)
		if !okB || !okT {
			return 0, fmt.Errorf("user %s: balance or grant %d beyond ±%s credits: the record is damaged; run creditdesk verify",
				u.ID, g.EntryID, billing.Credits(billing.MaxCredits))
		}
		e := billing.Entry{ID: id, UserID: u.ID, Delta: -g.Remaining, BalanceAfter: u.Balance, Reason: reason,
			Source: g.Source, Key: key, At: at, Kind: billing.KindExpire}
		gs[i].Remaining = 0
		if err := t.saveGrant(gs[i]); err != nil {
			return 0, err
		}
		t.noteEntry(e)
		if err := putJSON(ledger, userKey(u.ID, id), e); err != nil {
			return 0, err
		}
		ref, _ := json.Marshal(keyRef{User: u.ID, ID: id})
		if err := t.tx.Bucket(ledgerKeysBucket).Put([]byte(key), ref); err != nil {
			return 0, err
		}
		u.Entries++
	}
	if total == 0 {
		return 0, nil
	}
	u.NextExpiry = nextExpiry(gs)
	return total, t.PutUser(u)
}

// Spendable is the user's balance without credits past their expiry that the
// expiry run has not written off yet. Every balance shown or returned uses it.
func (t *Tx) Spendable(u billing.User) (int64, error) {
	if u.NextExpiry.IsZero() || u.NextExpiry.After(t.now) {
		return u.Balance, nil
	}
	gs, err := t.Grants(u.ID)
	if err != nil {
		return 0, err
	}
	b := u.Balance
	for _, g := range gs {
		if g.Remaining > 0 && g.Expires() && !g.ExpiresAt.After(t.now) {
			b -= g.Remaining
		}
	}
	return b, nil
}

// Entries returns up to limit of the user's entries, newest first, with ids
// below before (0: from the newest).
func (t *Tx) Entries(userID string, before uint64, limit int) ([]billing.Entry, error) {
	var out []billing.Entry
	c := t.tx.Bucket(ledgerBucket).Cursor()
	p := userPrefix(userID)
	var k, v []byte
	if before == 0 {
		k, v = c.Seek(userKey(userID, ^uint64(0)))
	} else {
		k, v = c.Seek(userKey(userID, before))
	}
	if k == nil {
		k, v = c.Last()
	} else {
		k, v = c.Prev()
	}
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
	for k, _ := c.First(); k != nil && len(k) > 8 && btoi(k[:8]) <= end; k, _ = c.Next() {
		ids = append(ids, string(k[8:]))
	}
	return ids, nil
}
