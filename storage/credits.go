package storage

import (
	"fmt"

	"creditdesk/billing"
)

// checkPosting is the balance after delta, or an error when it would be
// beyond ±MaxCredits.
func checkPosting(userID string, balance, delta int64) (int64, error) {
	after, ok := billing.AddCredits(balance, delta)
	if !ok {
		return 0, fmt.Errorf("%w: user %s has %s credits; %+d would take the balance beyond ±%s", billing.ErrInvalid, userID,
			billing.Credits(balance), delta, billing.Credits(billing.MaxCredits))
	}
	return after, nil
}
