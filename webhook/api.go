package webhook

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"creditdesk/billing"
	"creditdesk/storage"
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

// stripeTimeout bounds one checkout or portal call to Stripe.
const stripeTimeout = 20 * time.Second

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

type limiterKey struct {
	key   string
	class string
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
	handle("POST /api/stripe/checkout", a.guard("stripe", a.checkout))
	handle("POST /api/stripe/portal", a.guard("stripe", a.portal))
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

// apiError is an error answer: {"error": {"code", "message"}} with Status.
type apiError struct {
	Status  int
	Code    string
	Message string
}

func (e *apiError) Error() string { return e.Code + ": " + e.Message }

type errorJSON struct {
	Error errorDetail `json:"error"`
}

type errorDetail struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	// Credits is the spendable balance, on insufficient_credits only.
	Credits *int64 `json:"credits,omitempty"`
}

func writeError(w http.ResponseWriter, e *apiError) {
	writeJSON(w, e.Status, errorJSON{Error: errorDetail{Code: e.Code, Message: e.Message}})
}

var errUnauthorized = &apiError{http.StatusUnauthorized, "unauthorized", "missing or invalid API key"}

// guard authenticates the bearer key and applies the key's limit for class
// before h runs. A failure says nothing about which part was wrong.
func (a *API) guard(class string, h func(w http.ResponseWriter, r *http.Request, keyName string)) http.Handler {
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

// decodeJSON reads one JSON object of at most MaxAPIBody bytes into v,
// refusing unknown fields and anything after the object.
func decodeJSON(body io.Reader, v any) *apiError {
	raw, err := io.ReadAll(io.LimitReader(body, MaxAPIBody+1))
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			return errTooLarge
		}
		return &apiError{http.StatusBadRequest, "invalid_body", "could not read the request body"}
	}
	if len(raw) > MaxAPIBody {
		return errTooLarge
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		msg := "request body must be one JSON object"
		var typeErr *json.UnmarshalTypeError
		switch {
		case errors.As(err, &typeErr) && typeErr.Field != "":
			msg = fmt.Sprintf("field %q has the wrong type (%s)", typeErr.Field, typeErr.Value)
		case strings.HasPrefix(err.Error(), "json: unknown field "):
			return &apiError{http.StatusBadRequest, "unknown_field", strings.TrimPrefix(err.Error(), "json: ")}
		case errors.Is(err, io.EOF):
			msg = "request body is empty; send a JSON object"
		}
		return &apiError{http.StatusBadRequest, "invalid_json", msg}
	}
	if _, err := dec.Token(); err != io.EOF {
		return &apiError{http.StatusBadRequest, "invalid_json", "request body must be exactly one JSON object"}
	}
	return nil
}

var errTooLarge = &apiError{http.StatusRequestEntityTooLarge, "body_too_large", "request body is larger than 64 KiB"}

// amountRequest is the body of a spend or grant.
type amountRequest struct {
	Amount *int64 `json:"amount"`
	Reason string `json:"reason"`
}

// decodeAmount reads and checks a spend or grant body.
func decodeAmount(body io.Reader) (amountRequest, *apiError) {
	var req amountRequest
	if e := decodeJSON(body, &req); e != nil {
		return req, e
	}
	if req.Amount == nil || *req.Amount <= 0 || *req.Amount > billing.MaxAPIAmount {
		return req, &apiError{http.StatusBadRequest, "invalid_amount", fmt.Sprintf("amount must be a whole number of credits from 1 to %d", int64(billing.MaxAPIAmount))}
	}
	if len(req.Reason) > billing.MaxReasonLength {
		return req, &apiError{http.StatusBadRequest, "invalid_reason", fmt.Sprintf("reason is longer than %d bytes", billing.MaxReasonLength)}
	}
	return req, nil
}

// checkoutRequest is the body of POST /api/stripe/checkout, as the common
// starter kits send it.
type checkoutRequest struct {
	PriceID    string `json:"priceId"`
	Type       string `json:"type"`
	Mode       string `json:"mode"`
	UserID     string `json:"userId"`
	SuccessURL string `json:"successUrl"`
	CancelURL  string `json:"cancelUrl"`
}

// decodeCheckout reads and checks a checkout body.
func decodeCheckout(body io.Reader) (checkoutRequest, *apiError) {
	var req checkoutRequest
	if e := decodeJSON(body, &req); e != nil {
		return req, e
	}
	switch {
	case !billing.ValidID(req.UserID):
		return req, invalid("userId is required: the id of the user in your app")
	case req.PriceID == "" && req.Type == "":
		return req, invalid("one of priceId or type is required")
	case len(req.PriceID) > billing.MaxIDLength || len(req.Type) > billing.MaxIDLength:
		return req, invalid("priceId or type is too long")
	case req.Mode != "" && req.Mode != "payment" && req.Mode != "subscription":
		return req, invalid(`mode must be "payment" or "subscription"`)
	case !validReturnURL(req.SuccessURL):
		return req, invalid("successUrl must be an absolute http(s) URL")
	case !validReturnURL(req.CancelURL):
		return req, invalid("cancelUrl must be an absolute http(s) URL")
	}
	return req, nil
}

// portalRequest is the body of POST /api/stripe/portal.
type portalRequest struct {
	UserID    string `json:"userId"`
	ReturnURL string `json:"returnUrl"`
}

// decodePortal reads and checks a portal body.
func decodePortal(body io.Reader) (portalRequest, *apiError) {
	var req portalRequest
	if e := decodeJSON(body, &req); e != nil {
		return req, e
	}
	switch {
	case !billing.ValidID(req.UserID):
		return req, invalid("userId is required: the id of the user in your app")
	case !validReturnURL(req.ReturnURL):
		return req, invalid("returnUrl must be an absolute http(s) URL")
	}
	return req, nil
}

func invalid(msg string) *apiError { return &apiError{http.StatusBadRequest, "invalid_request", msg} }

// validReturnURL accepts "" (the default) or an absolute http(s) URL.
func validReturnURL(s string) bool {
	if s == "" {
		return true
	}
	if len(s) > 2048 {
		return false
	}
	u, err := url.Parse(s)
	return err == nil && (u.Scheme == "https" || u.Scheme == "http") && u.Host != ""
}

// userJSON is GET /api/users/{id}.
type userJSON struct {
	ID           string            `json:"id"`
	Credits      int64             `json:"credits"`
	Tier         string            `json:"tier"`
	Subscription *subscriptionJSON `json:"subscription"`
	Grants       []grantJSON       `json:"grants"`
}

type subscriptionJSON struct {
	Status            string     `json:"status"`
	Plan              string     `json:"plan,omitempty"`
	PeriodEnd         *time.Time `json:"period_end"`
	CancelAtPeriodEnd bool       `json:"cancel_at_period_end"`
}

type grantJSON struct {
	Remaining int64      `json:"remaining"`
	ExpiresAt *time.Time `json:"expires_at"`
	Source    string     `json:"source"`
}

func timePtr(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	t = t.UTC()
	return &t
}

func (a *API) getUser(w http.ResponseWriter, r *http.Request, _ string) {
	id := r.PathValue("id")
	b, err := a.svc.UserBalance(id)
	if errors.Is(err, storage.ErrNotFound) {
		writeError(w, &apiError{http.StatusNotFound, "user_not_found", "no user with this id: they have not bought anything nor been granted credits yet"})
		return
	}
	if err != nil {
		a.internal(w, "read user", err)
		return
	}
	out := userJSON{ID: b.User.ID, Credits: b.Spendable, Tier: b.User.Tier, Grants: make([]grantJSON, 0, len(b.Grants))}
	if p := b.Plan; p != nil {
		out.Subscription = &subscriptionJSON{Status: p.Status, Plan: p.Plan, PeriodEnd: timePtr(p.PeriodEnd), CancelAtPeriodEnd: p.CancelAtPeriodEnd}
	}
	for _, g := range b.Grants {
		out.Grants = append(out.Grants, grantJSON{Remaining: g.Remaining, ExpiresAt: timePtr(g.ExpiresAt), Source: g.Source})
	}
	writeJSON(w, http.StatusOK, out)
}

// postingJSON is the answer to a spend or grant.
type postingJSON struct {
	Credits int64  `json:"credits"`
	EntryID uint64 `json:"entry_id"`
}

type postFunc func(ctx context.Context, keyName, user string, amount int64, reason, idemKey string) (billing.APIResult, error)

func (a *API) spend(w http.ResponseWriter, r *http.Request, keyName string) {
	a.post(w, r, keyName, "spend", a.svc.Spend)
}

func (a *API) grant(w http.ResponseWriter, r *http.Request, keyName string) {
	a.post(w, r, keyName, "grant", a.svc.APIGrant)
}

func (a *API) post(w http.ResponseWriter, r *http.Request, keyName, op string, fn postFunc) {
	idem := r.Header.Get("Idempotency-Key")
	if idem == "" {
		writeError(w, &apiError{http.StatusBadRequest, "idempotency_key_required", "send an Idempotency-Key header: a retry with the same key " + op + "s once"})
		return
	}
	if !billing.ValidID(idem) {
		writeError(w, &apiError{http.StatusBadRequest, "invalid_idempotency_key", fmt.Sprintf("Idempotency-Key must be 1 to %d printable characters", billing.MaxIDLength)})
		return
	}
	user := r.PathValue("id")
	if !billing.ValidID(user) {
		writeError(w, invalid(fmt.Sprintf("user id must be 1 to %d printable characters", billing.MaxIDLength)))
		return
	}
	req, e := decodeAmount(http.MaxBytesReader(w, r.Body, MaxAPIBody))
	if e != nil {
		writeError(w, e)
		return
	}
	res, err := fn(r.Context(), keyName, user, *req.Amount, req.Reason, idem)
	var insufficient *billing.ErrInsufficient
	switch {
	case err == nil:
		if res.Replayed {
			w.Header().Set("Idempotent-Replayed", "true")
		}
		writeJSON(w, http.StatusOK, postingJSON{Credits: res.Credits, EntryID: res.EntryID})
	case errors.As(err, &insufficient):
		bal := insufficient.Balance
		writeJSON(w, http.StatusPaymentRequired, errorJSON{Error: errorDetail{Code: "insufficient_credits",
			Message: fmt.Sprintf("user has %d credits, %d requested; nothing was spent", bal, insufficient.Requested), Credits: &bal}})
	case errors.Is(err, billing.ErrIdempotencyMismatch):
		writeError(w, &apiError{http.StatusUnprocessableEntity, "idempotency_key_reused", "this Idempotency-Key was already used for a different request; use a new key for a new " + op})
	case errors.Is(err, billing.ErrInvalid):
		writeError(w, invalid(strings.TrimPrefix(err.Error(), billing.ErrInvalid.Error()+": ")))
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		writeError(w, &apiError{http.StatusServiceUnavailable, "unavailable", "request cancelled; retry with the same Idempotency-Key"})
	default:
		a.internal(w, op, err)
	}
}

func (a *API) internal(w http.ResponseWriter, what string, err error) {
	if billing.IsStoreFault(err) {
		// The disk, for now (full, failing, read-only), or a damaged file:
		// nothing was written.
		// Not logged per request; the processor logs the change once.
		writeError(w, &apiError{http.StatusServiceUnavailable, "unavailable",
			"could not " + what + ": the server cannot write to its database right now; retry later with the same Idempotency-Key"})
		return
	}
	a.logger().Error("api "+what, "err", err)
	writeError(w, &apiError{http.StatusInternalServerError, "internal", "could not " + what + "; retry (with the same Idempotency-Key)"})
}

// checkoutJSON is the answer to a checkout request.
type checkoutJSON struct {
	URL       string `json:"url"`
	SessionID string `json:"sessionId"`
}

func (a *API) checkout(w http.ResponseWriter, r *http.Request, keyName string) {
	if a.stripe == nil {
		writeError(w, errNoStripe)
		return
	}
	req, e := decodeCheckout(http.MaxBytesReader(w, r.Body, MaxAPIBody))
	if e != nil {
		writeError(w, e)
		return
	}
	idem := r.Header.Get("Idempotency-Key")
	if idem != "" && !billing.ValidID(idem) {
		writeError(w, &apiError{http.StatusBadRequest, "invalid_idempotency_key", "Idempotency-Key must be printable characters"})
		return
	}
	if idem != "" {
		idem = "api:" + keyName + ":" + idem
	}
	ctx, cancel := context.WithTimeout(r.Context(), stripeTimeout)
	defer cancel()
	link, err := a.stripe.CreateCheckout(ctx, billing.CheckoutRequest{UserID: req.UserID, Type: req.Type, PriceID: req.PriceID,
		Mode: req.Mode, SuccessURL: req.SuccessURL, CancelURL: req.CancelURL, IdempotencyKey: idem})
	if err != nil {
		a.stripeError(w, "create checkout", err)
		return
	}
	writeJSON(w, http.StatusOK, checkoutJSON{URL: link.URL, SessionID: link.SessionID})
}

func (a *API) portal(w http.ResponseWriter, r *http.Request, _ string) {
	if a.stripe == nil {
		writeError(w, errNoStripe)
		return
	}
	req, e := decodePortal(http.MaxBytesReader(w, r.Body, MaxAPIBody))
	if e != nil {
		writeError(w, e)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), stripeTimeout)
	defer cancel()
	u, err := a.stripe.CreatePortal(ctx, req.UserID, req.ReturnURL)
	if err != nil {
		a.stripeError(w, "create portal session", err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"url": u})
}

var errNoStripe = &apiError{http.StatusServiceUnavailable, "stripe_not_configured", "creditdesk has no STRIPE_SECRET_KEY: set it to create checkout and portal links"}

// stripeError answers a failed Stripe call. The Stripe client masks keys in
// its errors; the message is passed on so the app's developer sees, say, an
// unknown price.
func (a *API) stripeError(w http.ResponseWriter, what string, err error) {
	var transient *billing.TransientError
	switch {
	case errors.Is(err, billing.ErrNoCustomer):
		writeError(w, &apiError{http.StatusConflict, "no_customer", "this user has no Stripe customer yet: they need to buy something first"})
	case errors.Is(err, billing.ErrNoStripe):
		writeError(w, errNoStripe)
	case errors.Is(err, billing.ErrInvalid):
		writeError(w, invalid(err.Error()))
	case errors.As(err, &transient), errors.Is(err, context.DeadlineExceeded):
		a.logger().Warn("api "+what, "err", err)
		w.Header().Set("Retry-After", "5")
		writeError(w, &apiError{http.StatusServiceUnavailable, "stripe_unavailable", "Stripe did not answer; retry shortly"})
	default:
		a.logger().Error("api "+what, "err", err)
		writeError(w, &apiError{http.StatusBadGateway, "stripe_error", err.Error()})
	}
}
