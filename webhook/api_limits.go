package webhook

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"golang.org/x/time/rate"
)

// Limit is a token bucket: Rate requests per second on average, at most
// Burst at once.
type Limit struct {
	Rate  rate.Limit
	Burst int
}

// String is the limit as ParseLimit reads it, e.g. "5/10s".
func (l Limit) String() string {
	if l.Rate <= 0 || l.Burst <= 0 {
		return "0/1s"
	}
	per := time.Duration(float64(l.Burst) / float64(l.Rate) * float64(time.Second))
	return fmt.Sprintf("%d/%s", l.Burst, per)
}

// Limits are the per-key rate limits of the app's API.
type Limits struct {
	// Stripe covers checkout and portal, which call Stripe.
	Stripe Limit
	// Credits covers reads, spends and grants.
	Credits Limit
	// MaxConns caps the public server's open connections
	// (CREDITDESK_MAX_CONNS).
	MaxConns int
}

// Rate-limit settings in the environment.
const (
	EnvCheckoutRate = "CREDITDESK_CHECKOUT_RATE"
	EnvAPIRate      = "CREDITDESK_API_RATE"
)

// DefaultLimits are 5 checkout or portal requests per 10 s per key, and 200
// reads, spends or grants per second per key with bursts of 400.
func DefaultLimits() Limits {
	return Limits{
		Stripe:   Limit{Rate: rate.Every(2 * time.Second), Burst: 5},
		Credits:  Limit{Rate: 200, Burst: 400},
		MaxConns: DefaultMaxConns,
	}
}

// ParseLimit reads "N/DURATION" (N requests per DURATION, at most N at once),
// such as "5/10s" or "400/2s".
func ParseLimit(s string) (Limit, error) {
	n, per, ok := strings.Cut(strings.TrimSpace(s), "/")
	count, err := strconv.Atoi(strings.TrimSpace(n))
	if !ok || err != nil || count <= 0 {
		return Limit{}, fmt.Errorf("rate %q: want N/DURATION, such as 5/10s", s)
	}
	d, err := time.ParseDuration(strings.TrimSpace(per))
	if err != nil || d <= 0 {
		return Limit{}, fmt.Errorf("rate %q: want N/DURATION, such as 5/10s", s)
	}
	return Limit{Rate: rate.Limit(float64(count) / d.Seconds()), Burst: count}, nil
}

// LimitsFromEnv returns DefaultLimits changed by CREDITDESK_CHECKOUT_RATE,
// CREDITDESK_API_RATE and CREDITDESK_MAX_CONNS as getenv reports them.
func LimitsFromEnv(getenv func(string) string) (Limits, error) {
	l := DefaultLimits()
	for _, v := range []struct {
		name string
		dst  *Limit
	}{{EnvCheckoutRate, &l.Stripe}, {EnvAPIRate, &l.Credits}} {
		if s := getenv(v.name); s != "" {
			lim, err := ParseLimit(s)
			if err != nil {
				return Limits{}, fmt.Errorf("%s: %w", v.name, err)
			}
			*v.dst = lim
		}
	}
	n, err := MaxConnsFromEnv(getenv)
	if err != nil {
		return Limits{}, err
	}
	l.MaxConns = n
	return l, nil
}

type limiterKey struct {
	key   string
	class string
}

// allow takes a token from the key's bucket for class; when there is none it
// says how long until there is.
func (a *API) allow(keyName, class string) (time.Duration, bool) {
	lim := a.limits.Credits
	if class == "stripe" {
		lim = a.limits.Stripe
	}
	k := limiterKey{keyName, class}
	a.mu.Lock()
	l, ok := a.limiters[k]
	if !ok {
		l = rate.NewLimiter(lim.Rate, lim.Burst)
		a.limiters[k] = l
	}
	a.mu.Unlock()
	now := time.Now()
	res := l.ReserveN(now, 1)
	if !res.OK() {
		return time.Hour, false
	}
	if d := res.DelayFrom(now); d > 0 {
		res.CancelAt(now)
		return max(d, time.Second), false
	}
	return 0, true
}
