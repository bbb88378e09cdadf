package billing

import (
	"errors"
	"fmt"
	"sort"
	"time"
)

// The ledger maths: what one posting, or one expiry, does to a user's
// balance and open grants. ApplyPosting, ApplyExpiry, ApplyExpiryWhere and
// SpendableOf are pure functions of the records they are given; Post,
// ExpireDue, ExpireGrants and Spendable read those records from a Tx and
// have it write what the maths returned (Tx.WriteLedger), in the caller's
// transaction. A store persists; it decides nothing.

// ExpiredReason is the reason of an entry that writes off credits past
// their expiry.
const ExpiredReason = "expired at period end"

// NewUser is a user nobody has seen before: the default tier, no credits.
func NewUser(id string, now time.Time) User {
	return User{ID: id, Tier: DefaultTier, CreatedAt: now}
}

// GrantChange is what a ledger change does to one grant: store it (a new
// grant, or an open one with less left) or, when nothing is left, remove
// it, so only open grants are ever stored.
type GrantChange struct {
	Grant Grant
	// New marks the grant the posting's entry creates: its EntryID is the
	// id the store gives that entry.
	New bool
}

// Removed reports whether the grant is used up and is to be removed.
func (c GrantChange) Removed() bool { return c.Grant.Remaining <= 0 }

// LedgerChange is what ApplyPosting or ExpireGrants computed.
type LedgerChange struct {
	// Entries are appended in order: expiries first, then the posting's
	// own entry. Their ID is zero: the store numbers them as it appends.
	Entries []Entry
	// Grants are the grants that changed, in spending order.
	Grants []GrantChange
	// User is the user after the change (balance, next expiry, entries).
	User User
	// Posted reports whether the last entry is the posting's own (false
	// when a clamped debit found nothing to take, or for an expiry).
	Posted bool
	// Expired is how many credits expiry entries wrote off.
	Expired int64
}

// CheckPosting refuses a posting that no state makes valid: no idempotency
// key, zero credits, or more than one entry may move.
func CheckPosting(p Posting) error {
	if p.Key == "" {
		return errors.New("ledger posting without idempotency key")
	}
	if p.Delta == 0 {
		return errors.New("ledger posting of zero credits")
	}
	if !InCreditRange(p.Delta) {
		return fmt.Errorf("%w: %s credits is more than one entry may move (at most %s)", ErrInvalid,
			Credits(p.Delta), Credits(MaxCredits))
	}
	return nil
}

// SortGrants puts grants in the order credits are spent: earliest expiry
// first, grants that never expire last, older before newer.
func SortGrants(gs []Grant) {
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

// ExpiryDue reports whether some of the user's credits are past their
// expiry at now (and are not written off yet).
func ExpiryDue(u User, now time.Time) bool {
	return !u.NextExpiry.IsZero() && !u.NextExpiry.After(now)
}

// SpendableOf is the user's balance without credits past their expiry at
// now that no expiry entry has written off yet. open are the user's open
// grants; they are needed only when ExpiryDue.
func SpendableOf(u User, open []Grant, now time.Time) int64 {
	if !ExpiryDue(u, now) {
		return u.Balance
	}
	b := u.Balance
	for _, g := range open {
		if g.Remaining > 0 && g.Expires() && !g.ExpiresAt.After(now) {
			b -= g.Remaining
		}
	}
	return b
}

// ApplyExpiry writes off, as entries of their own, the user's grants whose
// expiry has passed at now.
func ApplyExpiry(u User, open []Grant, now time.Time) (LedgerChange, error) {
	if !ExpiryDue(u, now) {
		return LedgerChange{User: u}, nil
	}
	return ApplyExpiryWhere(u, open, func(g Grant) bool { return g.Expires() && !g.ExpiresAt.After(now) }, ExpiredReason, now)
}

// ApplyExpiryWhere writes off now, with reason, what is left of every open
// grant that match selects (a cancelled plan's credits). An entry is dated
// at the grant's expiry when that has passed, else at now; its key is
// expire:USER:GRANT, so a grant expires once.
func ApplyExpiryWhere(u User, open []Grant, match func(Grant) bool, reason string, now time.Time) (LedgerChange, error) {
	ch := LedgerChange{User: u}
	gs := append([]Grant(nil), open...)
	for i, g := range gs {
		if g.Remaining <= 0 || !match(g) {
			continue
		}
		at := now
		if g.Expires() && g.ExpiresAt.Before(at) {
			at = g.ExpiresAt
		}
		var okB, okT bool
		ch.User.Balance, okB = AddCredits(ch.User.Balance, -g.Remaining)
		ch.Expired, okT = AddCredits(ch.Expired, g.Remaining)
		if !okB || !okT {
			return LedgerChange{}, fmt.Errorf("user %s: balance or grant %d beyond ±%s credits: the record is damaged; run creditdesk verify",
				u.ID, g.EntryID, Credits(MaxCredits))
		}
		ch.Entries = append(ch.Entries, Entry{UserID: u.ID, Delta: -g.Remaining, BalanceAfter: ch.User.Balance,
			Reason: reason, Source: g.Source, Key: fmt.Sprintf("expire:%s:%d", u.ID, g.EntryID), At: at, Kind: KindExpire})
		gs[i].Remaining = 0
		ch.Grants = append(ch.Grants, GrantChange{Grant: gs[i]})
		ch.User.Entries++
	}
	if len(ch.Entries) > 0 {
		ch.User.NextExpiry = nextExpiry(gs)
	}
	return ch, nil
}

// ApplyPosting is what posting p does to user u, whose open grants (in
// spending order, see SortGrants) are open, at now. u is the stored user,
// or NewUser for one not stored yet. open is read only by a debit, or when
// some credits are past their expiry (ExpiryDue): a grant to a user whose
// expiries are written off may be given none.
//
// Credits past their expiry are written off first (ApplyExpiry), so a debit
// never spends them. A debit takes from the grants of p.FromPurchase first,
// then earliest expiry first; what the grants cannot cover is debt. A debit
// beyond the balance fails with *ErrInsufficient unless p.AllowNegative;
// with p.Clamp it takes what there is instead (nothing: no entry). A grant
// first pays back debt; what is left becomes a new grant. The balance stays
// within ±MaxCredits or the posting is ErrInvalid.
func ApplyPosting(u User, open []Grant, p Posting, now time.Time) (LedgerChange, error) {
	if err := CheckPosting(p); err != nil {
		return LedgerChange{}, err
	}
	if p.At.IsZero() {
		p.At = now
	}
	ch, err := ApplyExpiry(u, open, now)
	if err != nil {
		return LedgerChange{}, err
	}
	gs := openAfter(open, ch.Grants)
	u = ch.User
	delta := p.Delta
	if delta < 0 && p.OnlyFromPurchase {
		var held int64
		for _, g := range gs {
			if g.PurchaseID == p.FromPurchase && g.Remaining > 0 {
				held += g.Remaining
			}
		}
		if held == 0 {
			return ch, nil
		}
		delta = -min(-delta, held)
	}
	if delta < 0 && p.PaidOnly {
		var paid, free int64
		for _, g := range gs {
			if g.Kind == KindFree {
				free += g.Remaining
			} else {
				paid += g.Remaining
			}
		}
		if !p.AllowNegative || free > 0 {
			if paid == 0 {
				return ch, nil
			}
			delta = -min(-delta, paid)
			p.AllowNegative = false
		}
	}
	if delta < 0 {
		want := -delta
		if u.Balance < want && !p.AllowNegative {
			if !p.Clamp {
				return LedgerChange{}, &ErrInsufficient{UserID: u.ID, Balance: max(u.Balance, 0), Requested: want}
			}
			want = max(u.Balance, 0)
			if want == 0 {
				return ch, nil
			}
			delta = -want
		}
		var taken []GrantChange
		from := gs
		if p.PaidOnly {
			from = nil
			for _, g := range gs {
				if g.Kind != KindFree {
					from = append(from, g)
				}
			}
		}
		taken, u.NextExpiry = consume(from, want, p.FromPurchase)
		if p.PaidOnly {
			u.NextExpiry = nextExpiry(openAfter(gs, taken))
		}
		ch.Grants = append(ch.Grants, taken...)
	}
	after, err := checkPosting(u.ID, u.Balance, delta)
	if err != nil {
		return LedgerChange{}, err
	}
	e := Entry{UserID: p.UserID, Delta: delta, BalanceAfter: after, Reason: p.Reason, Source: p.Source,
		Key: p.Key, At: p.At, Kind: p.Kind, Operator: p.Operator}
	if delta > 0 {
		// A grant first pays back any debt; the rest is spendable.
		remaining := delta
		if u.Balance < 0 {
			remaining = max(0, u.Balance+delta)
		}
		if remaining > 0 {
			g := Grant{UserID: p.UserID, Amount: delta, Remaining: remaining, ExpiresAt: p.ExpiresAt,
				Kind: p.Kind, Source: p.Source, PurchaseID: p.PurchaseID, Subscription: p.Subscription, At: p.At}
			ch.Grants = append(ch.Grants, GrantChange{Grant: g, New: true})
			if g.Expires() && (u.NextExpiry.IsZero() || g.ExpiresAt.Before(u.NextExpiry)) {
				u.NextExpiry = g.ExpiresAt
			}
		}
	}
	ch.Entries = append(ch.Entries, e)
	u.Balance = after
	u.Entries++
	ch.User, ch.Posted = u, true
	return ch, nil
}

// openAfter is open with the changes applied: used-up grants left out.
func openAfter(open []Grant, changes []GrantChange) []Grant {
	if len(changes) == 0 {
		return open
	}
	gone := map[uint64]bool{}
	for _, c := range changes {
		if c.Removed() {
			gone[c.Grant.EntryID] = true
		}
	}
	out := make([]Grant, 0, len(open))
	for _, g := range open {
		if !gone[g.EntryID] {
			out = append(out, g)
		}
	}
	return out
}

// consume takes want credits from gs (in spending order): those of
// purchase first if given, then earliest expiry first. Whatever the grants
// cannot cover is debt. It returns the grants it took from and the earliest
// expiry still open.
func consume(gs []Grant, want int64, purchase string) ([]GrantChange, time.Time) {
	order := append([]Grant(nil), gs...)
	if purchase != "" {
		order = order[:0]
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
	var taken []GrantChange
	for i := range order {
		g := &order[i]
		if want == 0 {
			break
		}
		take := min(g.Remaining, want)
		g.Remaining -= take
		want -= take
		taken = append(taken, GrantChange{Grant: *g})
	}
	return taken, nextExpiry(order)
}

// nextExpiry is the earliest expiry among grants with credits left.
func nextExpiry(gs []Grant) time.Time {
	var next time.Time
	for _, g := range gs {
		if g.Remaining > 0 && g.Expires() && (next.IsZero() || g.ExpiresAt.Before(next)) {
			next = g.ExpiresAt
		}
	}
	return next
}

// Post appends one ledger entry in tx, with the balance and grants
// ApplyPosting computes. A key already used returns its entry and
// fresh=false, changing nothing. Before the posting, credits past their
// expiry are written off (ExpireDue) and a user not stored yet is stored
// (EnsureUser), even when the posting is then refused: an error leaves it
// to the caller to roll back.
func Post(tx Tx, p Posting) (e Entry, fresh bool, err error) {
	if err := CheckPosting(p); err != nil {
		return Entry{}, false, err
	}
	if prev, ok, err := tx.EntryByKey(p.Key); err != nil || ok {
		return prev, false, err
	}
	if _, err := ExpireDue(tx, p.UserID); err != nil {
		return Entry{}, false, err
	}
	u, err := EnsureUser(tx, p.UserID)
	if err != nil {
		return Entry{}, false, err
	}
	// Only a debit reads the open grants (expiry is done above): a user
	// with thousands of grants is granted more without reading them.
	var gs []Grant
	if p.Delta < 0 {
		if gs, err = tx.Grants(p.UserID); err != nil {
			return Entry{}, false, err
		}
	}
	ch, err := ApplyPosting(u, gs, p, tx.Now())
	if err != nil {
		return Entry{}, false, err
	}
	entries, err := tx.WriteLedger(ch)
	if err != nil || !ch.Posted {
		return Entry{}, false, err
	}
	return entries[len(entries)-1], true, nil
}

// EnsureUser returns the stored user, storing NewUser if there is none.
func EnsureUser(tx Tx, id string) (User, error) {
	if id == "" {
		return User{}, errors.New("empty user id")
	}
	u, ok, err := tx.User(id)
	if err != nil || ok {
		return u, err
	}
	u = NewUser(id, tx.Now())
	return u, tx.PutUser(u)
}

// ExpireDue writes off in tx the user's credits past their expiry at the
// transaction's clock (ApplyExpiry) and returns how many expired.
func ExpireDue(tx Tx, userID string) (int64, error) {
	u, ok, err := tx.User(userID)
	if err != nil || !ok || !ExpiryDue(u, tx.Now()) {
		return 0, err
	}
	gs, err := tx.Grants(u.ID)
	if err != nil {
		return 0, err
	}
	ch, err := ApplyExpiry(u, gs, tx.Now())
	if err != nil {
		return 0, err
	}
	_, err = tx.WriteLedger(ch)
	return ch.Expired, err
}

// ExpireGrants expires now, in tx, every grant of the user that match
// selects, with reason (ApplyExpiryWhere), and returns how many credits
// expired.
func ExpireGrants(tx Tx, userID string, match func(Grant) bool, reason string) (int64, error) {
	u, ok, err := tx.User(userID)
	if err != nil || !ok {
		return 0, err
	}
	gs, err := tx.Grants(u.ID)
	if err != nil {
		return 0, err
	}
	ch, err := ApplyExpiryWhere(u, gs, match, reason, tx.Now())
	if err != nil {
		return 0, err
	}
	_, err = tx.WriteLedger(ch)
	return ch.Expired, err
}

// Spendable is SpendableOf at the transaction's clock; it reads the grants
// only when some credits are past their expiry.
func Spendable(tx Tx, u User) (int64, error) {
	if !ExpiryDue(u, tx.Now()) {
		return u.Balance, nil
	}
	gs, err := tx.Grants(u.ID)
	if err != nil {
		return 0, err
	}
	return SpendableOf(u, gs, tx.Now()), nil
}
