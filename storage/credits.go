package storage

import (
	"errors"
	"fmt"
)

// MaxCredits is the most credits one ledger entry moves and one balance
// holds, either way: 10^12, far beyond any real pack and far below where
// int64 arithmetic wraps, so sums of a few bounded amounts never overflow.
const MaxCredits int64 = 1_000_000_000_000

// ErrInvalid marks input the store refuses: an amount beyond MaxCredits, or
// a posting that would leave a balance beyond it. billing.ErrInvalid is the
// same error, so callers see a refused input (400, a one-line CLI error).
var ErrInvalid = errors.New("invalid")

// InCreditRange reports whether n is within ±MaxCredits.
func InCreditRange(n int64) bool { return n >= -MaxCredits && n <= MaxCredits }

// AddCredits is a+b when both and the sum are within ±MaxCredits; ok is
// false otherwise (including sums that would wrap int64).
func AddCredits(a, b int64) (sum int64, ok bool) {
	if !InCreditRange(a) || !InCreditRange(b) {
		return 0, false
	}
	sum = a + b // cannot wrap: |a|, |b| ≤ 10^12
	return sum, InCreditRange(sum)
}

// MulCredits is a*b for a count of credits and a quantity, when the product
// is within ±MaxCredits.
func MulCredits(a, b int64) (int64, bool) {
	if !InCreditRange(a) || b < -MaxCredits || b > MaxCredits {
		return 0, false
	}
	if a == 0 || b == 0 {
		return 0, true
	}
	p := a * b
	if p/b != a || !InCreditRange(p) {
		return 0, false
	}
	return p, true
}

// checkPosting is the balance after delta, or an error when it would be
// beyond ±MaxCredits.
func checkPosting(userID string, balance, delta int64) (int64, error) {
	after, ok := AddCredits(balance, delta)
	if !ok {
		return 0, fmt.Errorf("%w: user %s has %s credits; %+d would take the balance beyond ±%s", ErrInvalid, userID,
			FormatCredits(balance), delta, FormatCredits(MaxCredits))
	}
	return after, nil
}
