package billing

import (
	"errors"
	"fmt"
	"time"
)

var errNoRollups = errors.New("this store keeps no rollups")

// TopUsers is how many users the Overview and report list by spend.
const TopUsers = 5

// Insight returns the rollups of the UTC days from since's through
// until's, with the plans now and the top users by spend. It reads one
// small record a day, whatever the store holds.
func (s *Service) Insight(since, until time.Time) (Insight, error) {
	is, ok := s.store.(InsightStore)
	if !ok {
		return Insight{}, errNoRollups
	}
	if until.Before(since) {
		return Insight{}, fmt.Errorf("%w: the period ends (%s) before it starts (%s)", ErrInvalid, DayOf(until), DayOf(since))
	}
	days := DaysBetween(since, until)
	if len(days) > 3700 {
		return Insight{}, fmt.Errorf("%w: %d days is more than a report covers (at most about 10 years)", ErrInvalid, len(days))
	}
	return is.Insight(days[0], days[len(days)-1], TopUsers)
}

// RecentInsight is Insight for the last n days up to today, on the
// service's clock: what the Overview opens on.
func (s *Service) RecentInsight(n int) (Insight, error) {
	now := s.now()
	return s.Insight(now.Add(-time.Duration(n-1)*24*time.Hour), now)
}
