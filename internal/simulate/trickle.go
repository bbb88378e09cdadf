package simulate

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"time"
)

// Trickle posts one generated event at a time to url until ctx ends, as
// demo mode's stand-in for Stripe. It waits every() before each event
// (nil means a random 1–2 s), so the receiver has a moment to start. Events
// carry wall-clock "created" times and a random seed, so a restarted demo
// never replays stored event ids. A failed delivery (no response, or a
// non-2xx status) is passed to onErr only the first time that exact error
// occurs, so a down receiver cannot flood the console. Trickle returns when
// ctx ends.
func Trickle(ctx context.Context, url, secret string, every func() time.Duration, onErr func(error)) {
	if every == nil {
		every = func() time.Duration { return time.Second + rand.N(time.Second) }
	}
	client := &http.Client{Timeout: 5 * time.Second}
	g := NewGenerator(rand.Uint64(), time.Now())
	g.Now = time.Now
	g.Mistakes = true
	seen := map[string]bool{}
	for sleepUntil(ctx, time.Now().Add(every())) {
		ev := g.Next()
		status, err := Send(ctx, client, url, secret, ev)
		if err == nil && (status < 200 || status > 299) {
			err = fmt.Errorf("simulate: webhook receiver answered %d %s", status, http.StatusText(status))
		}
		if err == nil || ctx.Err() != nil || onErr == nil {
			continue
		}
		if msg := err.Error(); !seen[msg] && len(seen) < 100 {
			seen[msg] = true
			onErr(err)
		}
	}
}
