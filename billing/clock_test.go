package billing_test

import (
	"context"
	"testing"
	"time"

	. "creditdesk/billing"
	"creditdesk/internal/testkit"
)

// Run waits on the injected clock: the expiry run every minute happens
// when the test's clock passes the minute, not when a minute of wall time
// has.
func TestRunExpiresOnTheInjectedClock(t *testing.T) {
	clock := testkit.NewClock(t0)
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
	<-clock.Armed // Run is waiting
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
