package simulate

import (
	"encoding/json"
	"fmt"
	"time"
)

// Backfill generates whole billing flows from from until now, oldest
// first, on the simulated clock (no wall time), and hands each event to
// apply with the time Stripe created it: the demo's month of history. A
// redelivery keeps its first created time, as Stripe's do. It returns how
// many events it handed over, stopping at the first error of apply.
func Backfill(seed uint64, from, now time.Time, apply func(ev Event, created time.Time) error) (int, error) {
	g := NewGenerator(seed, from)
	g.Mistakes, g.Paced = true, true
	n := 0
	for n < 100_000 {
		ev := g.Next()
		var head struct {
			Created int64 `json:"created"`
		}
		if err := json.Unmarshal(ev.Body, &head); err != nil {
			return n, fmt.Errorf("simulate: backfill event %s: %w", ev.ID, err)
		}
		at := time.Unix(head.Created, 0).UTC()
		if at.After(now) {
			return n, nil // the month is over
		}
		if err := apply(ev, at); err != nil {
			return n, err
		}
		n++
	}
	return n, nil
}
