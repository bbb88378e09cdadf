package webhook

import (
	"context"
	"log/slog"
	"math"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"creditdesk/billing"
)

// APIService is what the app's API needs from billing; *billing.Service is
// the real one.
type APIService interface {
	// AuthenticateAPIKey returns the name of the working key plain is.
	AuthenticateAPIKey(plain string) (name string, ok bool)
	UserBalance(id string) (billing.Balance, error)
	Spend(ctx context.Context, keyName, user string, amount int64, reason, idemKey string) (billing.APIResult, error)
	APIGrant(ctx context.Context, keyName, user string, amount int64, reason, idemKey string) (billing.APIResult, error)
}

// MaxAPIBody is the largest request body the app's API reads.
const MaxAPIBody = 64 << 10

// API is the founder's app's HTTP API: balances, spends, grants, checkout
// and portal links, each behind a bearer key and a per-key rate limit.
type API struct {
	svc    APIService
	stripe billing.Stripe
	limits Limits
	// Log gets failures of the store or of Stripe; never keys.
	Log *slog.Logger
	// Observe, when set before Mount, is told about each request: its
	// route pattern, status and duration (metrics).
	Observe func(route string, status int, d time.Duration)

	mux      *http.ServeMux
	mu       sync.Mutex
	limiters map[limiterKey]*rate.Limiter
}

// NewAPI returns the API over svc. stripe may be nil: checkout and portal
// then answer 503 stripe_not_configured.
func NewAPI(svc APIService, stripe billing.Stripe, limits Limits) *API {
	a := &API{svc: svc, stripe: stripe, limits: limits, Log: slog.New(slog.DiscardHandler), limiters: map[limiterKey]*rate.Limiter{}}
	a.mux = http.NewServeMux()
	a.Mount(a.mux)
	return a
}

func (a *API) logger() *slog.Logger {
	if a.Log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return a.Log
}

// Mount adds the API's routes to mux. Any other path under /api/ answers a
// JSON 404 (the webhook path, more specific, is untouched).
func (a *API) Mount(mux *http.ServeMux) {
	handle := func(pattern string, h http.Handler) { mux.Handle(pattern, a.observed(pattern, h)) }
	handle("GET /api/users/{id}", a.guard("credits", a.getUser))
	handle("POST /api/users/{id}/spend", a.guard("credits", a.spend))
	handle("POST /api/users/{id}/grant", a.guard("credits", a.grant))
	handle("POST /api/stripe/checkout", a.guard("stripe", a.needsStripe(a.checkout)))
	handle("POST /api/stripe/portal", a.guard("stripe", a.needsStripe(a.portal)))
	for path, allow := range map[string]string{
		"/api/users/{id}":       "GET",
		"/api/users/{id}/spend": "POST",
		"/api/users/{id}/grant": "POST",
		"/api/stripe/checkout":  "POST",
		"/api/stripe/portal":    "POST",
	} {
		mux.HandleFunc(path, func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Allow", allow)
			writeError(w, &apiError{http.StatusMethodNotAllowed, "method_not_allowed", r.Method + " is not allowed here; use " + allow})
		})
	}
	mux.HandleFunc("/api/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, &apiError{http.StatusNotFound, "not_found", "no such endpoint"})
	})
}

// observed reports each request of h to a.Observe under route.
func (a *API) observed(route string, h http.Handler) http.Handler {
	if a.Observe == nil {
		return h
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
		h.ServeHTTP(sw, r)
		a.Observe(route, sw.status, time.Since(start))
	})
}

// statusWriter remembers the status a handler answered.
type statusWriter struct {
	http.ResponseWriter
	status int
	wrote  bool
}

func (w *statusWriter) WriteHeader(code int) {
	if !w.wrote {
		w.status, w.wrote = code, true
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	w.wrote = true
	return w.ResponseWriter.Write(b)
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// ServeHTTP serves the API alone (tests, benchmarks).
func (a *API) ServeHTTP(w http.ResponseWriter, r *http.Request) { a.mux.ServeHTTP(w, r) }

// keyedHandler is a handler of a request whose API key guard has accepted;
// keyName is that key's name.
type keyedHandler func(w http.ResponseWriter, r *http.Request, keyName string)

// guard authenticates the bearer key and applies the key's limit for class
// before h runs. A failure says nothing about which part was wrong.
func (a *API) guard(class string, h keyedHandler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		auth := r.Header.Get("Authorization")
		scheme, token, _ := strings.Cut(auth, " ")
		name, ok := "", false
		if strings.EqualFold(scheme, "Bearer") {
			name, ok = a.svc.AuthenticateAPIKey(strings.TrimSpace(token))
		}
		if !ok {
			w.Header().Set("WWW-Authenticate", `Bearer realm="creditdesk"`)
			writeError(w, errUnauthorized)
			return
		}
		if wait, ok := a.allow(name, class); !ok {
			w.Header().Set("Retry-After", strconv.Itoa(int(math.Ceil(wait.Seconds()))))
			writeError(w, &apiError{http.StatusTooManyRequests, "rate_limited", "too many requests for this API key; retry after the Retry-After seconds"})
			return
		}
		h(w, r, name)
	})
}
