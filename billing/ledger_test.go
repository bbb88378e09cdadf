package billing_test

import (
	"errors"
	"math/rand/v2"
	"testing"
	"time"

	. "creditdesk/billing"
)

// book is a user's ledger kept in memory with the pure ledger maths: what
// a store does with a LedgerChange, without a disk.
type book struct {
	user    User
	open    map[uint64]Grant
	entries []Entry
	keys    map[string]bool
	nextID  uint64
}

func newBook(id string, now time.Time) *book {
	return &book{user: NewUser(id, now), open: map[uint64]Grant{}, keys: map[string]bool{}}
}

func (b *book) grants() []Grant {
	gs := make([]Grant, 0, len(b.open))
	for _, g := range b.open {
		gs = append(gs, g)
	}
	SortGrants(gs)
	return gs
}

func (b *book) write(ch LedgerChange) {
	var last uint64
	for _, e := range ch.Entries {
		b.nextID++
		e.ID, last = b.nextID, b.nextID
		b.entries = append(b.entries, e)
		b.keys[e.Key] = true
	}
	for _, c := range ch.Grants {
		g := c.Grant
		if c.New {
			g.EntryID = last
		}
		if c.Removed() {
			delete(b.open, g.EntryID)
		} else {
			b.open[g.EntryID] = g
		}
	}
	if len(ch.Entries) > 0 {
		b.user = ch.User
	}
}

func (b *book) post(p Posting, now time.Time) (LedgerChange, error) {
	if p.UserID == "" {
		p.UserID = b.user.ID
	}
	ch, err := ApplyPosting(b.user, b.grants(), p, now)
	if err == nil {
		b.write(ch)
	}
	return ch, err
}

// check is what storage's Verify checks of one user.
func (b *book) check(t *testing.T) {
	t.Helper()
	var sum, held int64
	for _, e := range b.entries {
		sum += e.Delta
		if e.BalanceAfter != sum {
			t.Fatalf("entry %d: balance after %d, running sum %d", e.ID, e.BalanceAfter, sum)
		}
	}
	if sum != b.user.Balance || uint64(len(b.entries)) != b.user.Entries {
		t.Fatalf("balance %d over %d entries; entries sum to %d over %d", b.user.Balance, b.user.Entries, sum, len(b.entries))
	}
	var next time.Time
	for _, g := range b.open {
		if g.Remaining <= 0 || g.Remaining > g.Amount {
			t.Fatalf("grant %d holds %d of %d", g.EntryID, g.Remaining, g.Amount)
		}
		held += g.Remaining
		if g.Expires() && (next.IsZero() || g.ExpiresAt.Before(next)) {
			next = g.ExpiresAt
		}
	}
	if (b.user.Balance >= 0 && held != b.user.Balance) || (b.user.Balance < 0 && held != 0) {
		t.Fatalf("balance %d, grants hold %d", b.user.Balance, held)
	}
	if !next.Equal(b.user.NextExpiry) {
		t.Fatalf("next expiry %v, grants say %v", b.user.NextExpiry, next)
	}
}

func TestApplyPostingSpendsEarliestExpiryFirst(t *testing.T) {
	b := newBook("u", t0)
	end := t0.Add(30 * day)
	b.post(Posting{Delta: 1000, Key: "pack", Kind: KindPack}, t0)
	b.post(Posting{Delta: 2500, Key: "plan", Kind: KindPlan, ExpiresAt: end}, t0)
	ch, err := b.post(Posting{Delta: -600, Key: "spend", Kind: KindSpend}, t0)
	if err != nil || !ch.Posted || ch.Entries[0].BalanceAfter != 2900 {
		t.Fatalf("spend: %+v %v", ch, err)
	}
	gs := b.grants()
	if gs[0].Kind != KindPlan || gs[0].Remaining != 1900 || gs[1].Remaining != 1000 {
		t.Fatalf("spend did not take plan credits first: %+v", gs)
	}
	if !b.user.NextExpiry.Equal(end) {
		t.Fatalf("next expiry %v", b.user.NextExpiry)
	}
	b.check(t)
}

func TestApplyPostingExpiresFirst(t *testing.T) {
	b := newBook("u", t0)
	end := t0.Add(30 * day)
	b.post(Posting{Delta: 1000, Key: "pack", Kind: KindPack}, t0)
	b.post(Posting{Delta: 2500, Key: "plan", Kind: KindPlan, ExpiresAt: end}, t0)
	after := end.Add(time.Hour)
	if s := SpendableOf(b.user, b.grants(), after); s != 1000 {
		t.Fatalf("spendable past the period end %d, want 1000", s)
	}
	// A debit past the expiry never spends expired credits: they expire
	// first, as an entry of their own dated at the expiry.
	_, err := b.post(Posting{Delta: -1500, Key: "big", Kind: KindSpend}, after)
	var insufficient *ErrInsufficient
	if !errors.As(err, &insufficient) || insufficient.Balance != 1000 {
		t.Fatalf("debit beyond the unexpired credits: %v", err)
	}
	ch, err := b.post(Posting{Delta: -100, Key: "small", Kind: KindSpend}, after)
	if err != nil || len(ch.Entries) != 2 {
		t.Fatalf("%+v %v", ch, err)
	}
	exp := ch.Entries[0]
	if exp.Kind != KindExpire || exp.Delta != -2500 || !exp.At.Equal(end) || exp.Key != "expire:u:2" || exp.Reason != ExpiredReason {
		t.Fatalf("expiry entry %+v", exp)
	}
	if ch.Entries[1].BalanceAfter != 900 || !b.user.NextExpiry.IsZero() {
		t.Fatalf("after: %+v, next expiry %v", ch.Entries[1], b.user.NextExpiry)
	}
	b.check(t)
}

func TestApplyPostingDebtAndClamp(t *testing.T) {
	b := newBook("u", t0)
	b.post(Posting{Delta: 100, Key: "g1", Kind: KindManual}, t0)
	// Forced: the balance goes below zero, the grants are used up.
	if _, err := b.post(Posting{Delta: -300, Key: "force", Kind: KindManual, AllowNegative: true}, t0); err != nil {
		t.Fatal(err)
	}
	if b.user.Balance != -200 || len(b.open) != 0 {
		t.Fatalf("balance %d, grants %+v", b.user.Balance, b.open)
	}
	// A grant pays back the debt first; only the rest is a grant.
	b.post(Posting{Delta: 250, Key: "g2", Kind: KindPack}, t0)
	if b.user.Balance != 50 || len(b.open) != 1 || b.grants()[0].Remaining != 50 || b.grants()[0].Amount != 250 {
		t.Fatalf("balance %d, grants %+v", b.user.Balance, b.grants())
	}
	// A grant smaller than the debt leaves no grant at all.
	b2 := newBook("v", t0)
	b2.post(Posting{Delta: -500, Key: "d", Kind: KindManual, AllowNegative: true}, t0)
	b2.post(Posting{Delta: 200, Key: "g", Kind: KindPack}, t0)
	if b2.user.Balance != -300 || len(b2.open) != 0 {
		t.Fatalf("balance %d, grants %+v", b2.user.Balance, b2.open)
	}
	// Clamped: takes what there is, never makes debt.
	ch, err := b.post(Posting{Delta: -80, Key: "clamp", Kind: KindRefund, Clamp: true}, t0)
	if err != nil || ch.Entries[0].Delta != -50 || b.user.Balance != 0 {
		t.Fatalf("clamp: %+v %v", ch, err)
	}
	// Clamped with nothing left: no entry at all.
	ch, err = b.post(Posting{Delta: -80, Key: "clamp2", Kind: KindRefund, Clamp: true}, t0)
	if err != nil || ch.Posted || len(ch.Entries) != 0 {
		t.Fatalf("clamp of nothing: %+v %v", ch, err)
	}
	b.check(t)
	b2.check(t)
}

func TestApplyPostingClawsBackFromThePurchaseFirst(t *testing.T) {
	b := newBook("u", t0)
	end := t0.Add(30 * day)
	b.post(Posting{Delta: 500, Key: "plan", Kind: KindPlan, ExpiresAt: end, PurchaseID: "in_1"}, t0)
	b.post(Posting{Delta: 800, Key: "pack", Kind: KindPack, PurchaseID: "cs_1"}, t0)
	// Earliest expiry would take the plan's; the refund takes the pack's.
	if _, err := b.post(Posting{Delta: -600, Key: "refund", Kind: KindRefund, FromPurchase: "cs_1", Clamp: true}, t0); err != nil {
		t.Fatal(err)
	}
	gs := b.grants()
	if len(gs) != 2 || gs[0].PurchaseID != "in_1" || gs[0].Remaining != 500 || gs[1].Remaining != 200 {
		t.Fatalf("grants %+v, want the plan's 500 untouched and 200 of the pack", gs)
	}
	// Beyond the purchase's grant, the rest comes from the others.
	b.post(Posting{Delta: 100, Key: "pack2", Kind: KindPack, PurchaseID: "cs_2"}, t0)
	b.post(Posting{Delta: -150, Key: "refund2", Kind: KindRefund, FromPurchase: "cs_2"}, t0)
	if gs := b.grants(); len(gs) != 2 || gs[0].Remaining != 450 || gs[1].Remaining != 200 {
		t.Fatalf("grants %+v", gs)
	}
	b.check(t)
}

func TestApplyPostingBounds(t *testing.T) {
	b := newBook("u", t0)
	for _, p := range []Posting{
		{Delta: 1, Key: ""},
		{Delta: 0, Key: "zero"},
		{Delta: MaxCredits + 1, Key: "big"},
		{Delta: -MaxCredits - 1, Key: "small", AllowNegative: true},
	} {
		if _, err := b.post(p, t0); err == nil {
			t.Errorf("%+v accepted", p)
		}
	}
	if _, err := b.post(Posting{Delta: MaxCredits, Key: "max", Kind: KindManual}, t0); err != nil {
		t.Fatal(err)
	}
	if _, err := b.post(Posting{Delta: 1, Key: "one more", Kind: KindManual}, t0); !errors.Is(err, ErrInvalid) {
		t.Fatalf("past MaxCredits: %v, want ErrInvalid", err)
	}
	if b.user.Balance != MaxCredits || len(b.entries) != 1 {
		t.Fatalf("a refused posting changed the book: %+v", b.user)
	}
	b.check(t)
}

func TestApplyExpiryWhereExpiresOnlyWhatMatches(t *testing.T) {
	b := newBook("u", t0)
	b.post(Posting{Delta: 300, Key: "plan", Kind: KindPlan, ExpiresAt: t0.Add(30 * day)}, t0)
	b.post(Posting{Delta: 200, Key: "pack", Kind: KindPack}, t0)
	ch, err := ApplyExpiryWhere(b.user, b.grants(), func(g Grant) bool { return g.Kind == KindPlan }, "plan cancelled", t0.Add(day))
	if err != nil || ch.Expired != 300 || len(ch.Entries) != 1 || !ch.Entries[0].At.Equal(t0.Add(day)) {
		t.Fatalf("%+v %v", ch, err)
	}
	b.write(ch)
	if b.user.Balance != 200 || !b.user.NextExpiry.IsZero() {
		t.Fatalf("%+v", b.user)
	}
	b.check(t)
}

// Random postings, in memory: whatever the sequence, the invariants that
// verify checks hold after each one, and a refused posting changes nothing.
func TestApplyPostingKeepsTheInvariants(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	runs := 3000
	if testing.Short() {
		runs = 300
	}
	for run := range runs {
		b := newBook("u", t0)
		now := t0
		for i := range 30 {
			now = now.Add(time.Duration(rng.IntN(48)) * time.Hour)
			p := Posting{Key: "k" + string(rune('a'+i)), Kind: KindManual, PurchaseID: []string{"", "p1", "p2"}[rng.IntN(3)]}
			switch rng.IntN(3) {
			case 0:
				p.Delta = -int64(1 + rng.IntN(400))
				p.AllowNegative, p.Clamp = rng.IntN(4) == 0, rng.IntN(2) == 0
				p.FromPurchase = []string{"", "p1", "p2"}[rng.IntN(3)]
			default:
				p.Delta = int64(1 + rng.IntN(400))
				if rng.IntN(2) == 0 {
					p.ExpiresAt = now.Add(time.Duration(1+rng.IntN(20*24)) * time.Hour)
				}
			}
			before := b.user
			if _, err := b.post(p, now); err != nil && b.user != before {
				t.Fatalf("run %d: a refused posting changed the user", run)
			}
			b.check(t)
			if s := SpendableOf(b.user, b.grants(), now); s > b.user.Balance {
				t.Fatalf("run %d: spendable %d above the balance %d", run, s, b.user.Balance)
			}
		}
	}
}
