package cli

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"creditdesk/billing"
	"creditdesk/internal/simulate"
)

// demoHistory is how far back the demo's history goes.
const demoHistory = 30 * 24 * time.Hour

// backfillDemo gives a new demo database a month of history before the
// console opens, so the Overview shows a believable month: the
// simulator's flows of the 30 days before now, stored and applied on a
// clock that follows them (the service's injected clock), a few events at
// a time, with expiry run as the days pass. A database that already holds
// events (demo --db FILE, started before) is left as it is. It returns how
// many events it stored.
func backfillDemo(env *Env, seed uint64, now time.Time) (int, error) {
	st, err := openStore(env, false)
	if err != nil {
		return 0, err
	}
	defer st.Close()
	if c, err := st.Counts(); err != nil || c.Events > 0 {
		return 0, err
	}
	r, err := rules(env, true)
	if err != nil {
		return 0, err
	}
	clock := now.Add(-demoHistory)
	svc := billing.NewService(st, billing.Options{Rules: r, Clock: func() time.Time { return clock }, Log: discardLogger()})
	rng := rand.New(rand.NewPCG(seed, seed>>1))
	spends := 0
	apply := func(dayEnd bool) error {
		ctx := context.Background()
		if _, err := svc.ProcessPending(ctx); err != nil {
			return err
		}
		svc.ExpireDue()
		if !dayEnd {
			return nil
		}
		// The founder's app spends some of what users hold, as it would.
		users, err := svc.UsersPage("", "", 200)
		if err != nil {
			return err
		}
		for _, u := range users {
			if u.Balance < 20 || rng.IntN(3) != 0 {
				continue
			}
			spends++
			amount := 1 + rng.Int64N(u.Balance/8+1)
			if _, err := svc.Spend(ctx, "demo-app", u.ID, amount, "demo usage", fmt.Sprintf("demo-spend-%d", spends)); err != nil {
				var short *billing.ErrInsufficient
				if !errors.As(err, &short) {
					return err
				}
			}
		}
		return nil
	}
	pending := 0
	n, err := simulate.Backfill(seed, clock, now, func(ev simulate.Event, at time.Time) error {
		if pending > 0 && billing.DayOf(at) != billing.DayOf(clock) {
			// The day is over: apply what it brought on its own clock.
			if err := apply(true); err != nil {
				return err
			}
			pending = 0
		}
		clock = at
		if _, _, err := svc.Ingest(ev.Body, "simulator"); err != nil {
			return err
		}
		if pending++; pending == 16 {
			pending = 0
			return apply(false)
		}
		return nil
	})
	if err != nil {
		return n, err
	}
	clock = now
	return n, apply(false)
}

// demoSeed is a fresh seed for each demo's history.
func demoSeed() uint64 { return rand.Uint64() }
