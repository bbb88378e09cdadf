package billing_test

import (
	"context"
	"sync"
	"testing"
	"time"

	. "creditdesk/billing"
)

// fakeClock is a clock the test moves: Now is where it was set, and a
// channel from After receives when Advance passes its time.
type fakeClock struct {
	mu     sync.Mutex
	now    time.Time
	timers []fakeTimer
	armed  chan struct{} // a signal each time After is called
}

type fakeTimer struct {
	at time.Time
	c  chan time.Time
}

func newFakeClock(now time.Time) *fakeClock {
	return &fakeClock{now: now, armed: make(chan struct{}, 1)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) After(d time.Duration) <-chan time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	ch := make(chan time.Time, 1)
	if d <= 0 {
		ch <- c.now
	} else {
		c.timers = append(c.timers, fakeTimer{at: c.now.Add(d), c: ch})
	}
	select {
	case c.armed <- struct{}{}:
	default:
	}
	return ch
}

// Advance moves the clock by d and fires the timers it passes.
func (c *fakeClock) Advance(d time.Duration) {
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

// Run waits on the injected clock: the expiry run every minute happens
// when the test's clock passes the minute, not when a minute of wall time
// has.
func TestRunExpiresOnTheInjectedClock(t *testing.T) {
	clock := newFakeClock(t0)
	st := newMemStore()
	svc := NewService(st, Options{Rules: Rules{Catalog: testCatalog()}, Clock: clock.Now, After: clock.After})
	if err := st.Update(t0, func(tx Tx) error {
		_, _, err := Post(tx, Posting{UserID: "u1", Delta: 100, Key: "plan", Kind: KindPlan, ExpiresAt: t0.Add(30 * time.Second)})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	feed, stop := svc.Subscribe()
	defer stop()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- svc.Run(ctx) }()
	defer func() {
		cancel()
		<-done
	}()
	<-clock.armed // Run is waiting
	clock.Advance(time.Minute)
	select {
	case a := <-feed:
		if a.Kind != ActivityExpiry || a.User != "u1" || a.Amount != -100 {
			t.Fatalf("activity %+v, want u1's 100 credits expired", a)
		}
	case <-time.After(10 * time.Second): // a failsafe, not a wait the test relies on
		t.Fatal("no expiry after the clock passed the minute")
	}
	if d, err := svc.UserDetail("u1"); err != nil || d.User.Balance != 0 || d.Spendable != 0 {
		t.Fatalf("after expiry: %+v %v", d.User, err)
	}
}
