package billing

import (
	"errors"
	"fmt"
	"strconv"
)

// MaxCredits is the most credits one ledger entry moves and one balance
// holds, either way: 10^12, far beyond any real pack and far below where
// int64 arithmetic wraps, so sums of a few bounded amounts never overflow.
// Input beyond it is ErrInvalid; Stripe metadata beyond it is an Attention
// item.
const MaxCredits int64 = 1_000_000_000_000

// ErrInvalid marks input that was refused: an amount beyond MaxCredits, a
// posting that would leave a balance beyond it, operator input that makes
// no sense. Callers show it as refused input (400, a one-line CLI error).
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
			Credits(balance), delta, Credits(MaxCredits))
	}
	return after, nil
}

// Credits writes a number of credits with thousands separators: 2,500.
func Credits(n int64) string {
	s := strconv.FormatInt(n, 10)
	start := 0
	if n < 0 {
		start = 1
	}
	for i := len(s) - 3; i > start; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}
