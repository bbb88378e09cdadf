package storage

import (
	"errors"
	"math"
	"testing"
	"time"

	"creditdesk/billing"
)

func TestPostRefusesAmountsAndBalancesBeyondMaxCredits(t *testing.T) {
	st := openTemp(t)
	now := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	n := 0
	post := func(user string, delta int64, allowNegative bool) error {
		n++
		return st.Update(now, func(btx billing.Tx) error {
			tx := btx.(*Tx)
			_, _, err := tx.Post(billing.Posting{UserID: user, Delta: delta, Key: "k" + string(rune('a'+n)), Reason: "t", Source: "manual",
				Kind: "manual", AllowNegative: allowNegative})
			return err
		})
	}
	balance := func(user string) (b int64, entries uint64) {
		_ = st.View(now, func(btx billing.Tx) error {
			tx := btx.(*Tx)
			u, _, _ := tx.User(user)
			b, entries = u.Balance, u.Entries
			return nil
		})
		return b, entries
	}
	for _, d := range []int64{billing.MaxCredits + 1, -billing.MaxCredits - 1, math.MaxInt64, math.MinInt64} {
		if err := post("u1", d, true); !errors.Is(err, billing.ErrInvalid) {
			t.Errorf("delta %d: %v, want ErrInvalid", d, err)
		}
	}
	if err := post("u1", billing.MaxCredits, false); err != nil {
		t.Fatalf("exactly MaxCredits: %v", err)
	}
	// One more would wrap nothing, but is past the bound: refused, nothing written.
	if err := post("u1", 1, false); !errors.Is(err, billing.ErrInvalid) {
		t.Fatalf("balance past MaxCredits: %v", err)
	}
	if b, e := balance("u1"); b != billing.MaxCredits || e != 1 {
		t.Fatalf("after refusal: balance %d, %d entries", b, e)
	}
	// The same below zero, for forced debts.
	if err := post("u2", -billing.MaxCredits, true); err != nil {
		t.Fatalf("debt of exactly MaxCredits: %v", err)
	}
	if err := post("u2", -1, true); !errors.Is(err, billing.ErrInvalid) {
		t.Fatalf("debt past MaxCredits: %v", err)
	}
	if b, e := balance("u2"); b != -billing.MaxCredits || e != 1 {
		t.Fatalf("after refusal: balance %d, %d entries", b, e)
	}
	if _, err := st.Verify(); err != nil {
		t.Fatalf("verify: %v", err)
	}
}

func TestAddAndMulCreditsAtTheBounds(t *testing.T) {
	for _, c := range []struct {
		a, b int64
		sum  int64
		ok   bool
	}{
		{billing.MaxCredits, 0, billing.MaxCredits, true},
		{billing.MaxCredits, 1, 0, false},
		{-billing.MaxCredits, -1, 0, false},
		{billing.MaxCredits, -billing.MaxCredits, 0, true},
		{math.MaxInt64, 1, 0, false},
		{math.MinInt64, -1, 0, false},
		{math.MinInt64, math.MaxInt64, 0, false},
	} {
		if s, ok := billing.AddCredits(c.a, c.b); ok != c.ok || (ok && s != c.sum) {
			t.Errorf("AddCredits(%d, %d) = %d %v", c.a, c.b, s, ok)
		}
	}
	for _, c := range []struct {
		a, b int64
		ok   bool
	}{
		{1_000_000, 1_000_000, true},
		{1_000_000, 1_000_001, false},
		{billing.MaxCredits, 2, false},
		{3_037_000_500, 3_037_000_500, false}, // wraps int64
		{billing.MaxCredits, 0, true},
	} {
		if _, ok := billing.MulCredits(c.a, c.b); ok != c.ok {
			t.Errorf("MulCredits(%d, %d) ok=%v", c.a, c.b, ok)
		}
	}
}
