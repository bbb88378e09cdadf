package testkit

import (
	"sync"
	"time"
)

// Clock is a clock the test moves (billing.Clock and the app-webhook
// sender's): Now is where it was set, and a channel from After receives
// when Advance passes its time.
type Clock struct {
	// Armed receives a signal each time After is called (one is kept), so
	// a test knows the code under test is waiting.
	Armed chan struct{}

	mu     sync.Mutex
	now    time.Time
	timers []timer
}

type timer struct {
	at time.Time
	c  chan time.Time
}

// NewClock is a Clock standing at now.
func NewClock(now time.Time) *Clock {
	return &Clock{now: now, Armed: make(chan struct{}, 1)}
}

// Now is where the clock stands.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// After is a channel that receives once the clock has been moved d on (at
// once when d <= 0).
func (c *Clock) After(d time.Duration) <-chan time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	ch := make(chan time.Time, 1)
	if d <= 0 {
		ch <- c.now
	} else {
		c.timers = append(c.timers, timer{at: c.now.Add(d), c: ch})
	}
	select {
	case c.Armed <- struct{}{}:
	default:
	}
	return ch
}

// WaitArmed waits, up to timeout of real time, until a channel from After
// is waiting for the clock to move on, and reports whether one is. Unlike
// a receive from Armed, whose one kept signal may be left from an earlier
// After that has fired since, it says the code under test waits now.
func (c *Clock) WaitArmed(timeout time.Duration) bool {
	deadline := time.Now().Add(timeout)
	for {
		c.mu.Lock()
		n := len(c.timers)
		c.mu.Unlock()
		if n > 0 {
			return true
		}
		if !time.Now().Before(deadline) {
			return false
		}
		select {
		case <-c.Armed:
		case <-time.After(5 * time.Millisecond):
		}
	}
}

// Advance moves the clock by d and fires the timers it passes.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
	keep := c.timers[:0]
	for _, t := range c.timers {
		if t.at.After(c.now) {
			keep = append(keep, t)
			continue
		}
		t.c <- c.now
	}
	c.timers = keep
}
