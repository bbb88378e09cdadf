// Package stripeapi is creditdesk's side of the Stripe API: checkout and
// portal links, the capture queue, resync of missed events, the catalog
// cache, webhook endpoint setup and the doctor's checks. It uses stripe-go
// v76's client, built once from the configuration; STRIPE_API_BASE points
// it at stripe-mock or any other stand-in.
//
// Every failure is one line: the Stripe error type, code, message and
// request id, never a stack trace or the key. Failures worth retrying
// (network, 429, 5xx) are *billing.TransientError.
package stripeapi

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"time"

	"github.com/stripe/stripe-go/v76"
	"github.com/stripe/stripe-go/v76/client"

	"creditdesk/billing"
	"creditdesk/internal/config"
)

// Config is what a Client is built from.
type Config struct {
	// SecretKey is STRIPE_SECRET_KEY (sk_ or rk_). Required.
	SecretKey string
	// APIBase is STRIPE_API_BASE; empty is Stripe's own API.
	APIBase string
	// Catalog is what can be bought.
	Catalog billing.Catalog
	// SuccessURL and CancelURL are Checkout's defaults; ReturnBase is the
	// base for them when they are empty (CREDITDESK_PUBLIC_URL, else the
	// local listen address).
	SuccessURL string
	CancelURL  string
	ReturnBase string
	// MaxNetworkRetries is how often stripe-go retries a request that failed
	// on the network, with backoff; every create carries an idempotency key
	// so a retry never makes a second object. 0 means the default, 3;
	// negative means none.
	MaxNetworkRetries int64
	// HTTPClient carries the requests; nil is a client with a 30s timeout.
	HTTPClient *http.Client
	// Log receives progress lines; nil discards them.
	Log *slog.Logger
	// Now is the clock; nil is time.Now.
	Now func() time.Time
}

// Client is the Stripe API as creditdesk uses it. It implements
// billing.Stripe and billing.LineItemFetcher. It never writes the store: it
// reads through Records and hands what Stripe said (a customer created,
// the catalog listed, events resynced) to Records' commands.
type Client struct {
	api     *client.API
	backend stripe.Backend
	key     string
	kind    config.KeyKind
	cfg     Config
	log     *slog.Logger
	now     func() time.Time
	rec     Records
}

// Records is what the client reads and records through billing; a
// *billing.Service is one.
type Records interface {
	User(id string) (billing.User, bool, error)
	CustomerUser(customerID string) string
	CachedPrice(id string) (billing.CachedPrice, bool, error)
	CachedCatalog() (billing.CatalogListing, error)
	PurchasesPage(before uint64, limit int) ([]billing.Purchase, error)
	EventsPage(before uint64, limit int) ([]billing.EventRecord, error)
	// CustomerCreated records a customer the client created for a user.
	CustomerCreated(userID, customerID string) error
	// CatalogListed records what a listing of the catalog found.
	CatalogListed(l billing.CatalogListing) error
	// Ingest stores an event the client read from the Events API.
	Ingest(payload []byte, source string) (billing.EventRecord, bool, error)
}

var _ Records = (*billing.Service)(nil)

var (
	_ billing.Stripe          = (*Client)(nil)
	_ billing.LineItemFetcher = (*Client)(nil)
)

// New builds the client once from the key and the API base, over rec (nil
// for a client that only calls Stripe: line items for billing's processor,
// webhook setup). An empty key is billing.ErrNoStripe; a key of the wrong
// kind (pk_, whsec_) is refused with the fix.
func New(cfg Config, rec Records) (*Client, error) {
	if cfg.SecretKey == "" {
		return nil, billing.ErrNoStripe
	}
	kind, err := config.CheckSecretKey(cfg.SecretKey)
	if err != nil {
		return nil, err
	}
	retries := cfg.MaxNetworkRetries
	switch {
	case retries == 0:
		retries = 3
	case retries < 0:
		retries = 0
	}
	hc := cfg.HTTPClient
	if hc == nil {
		hc = &http.Client{Timeout: 30 * time.Second}
	}
	bc := &stripe.BackendConfig{
		HTTPClient:        hc,
		MaxNetworkRetries: stripe.Int64(retries),
		// stripe-go logs failed requests to stderr by default, which would
		// paint over the console; errors are returned and shown instead.
		LeveledLogger: &stripe.LeveledLogger{Level: stripe.LevelNull},
	}
	if cfg.APIBase != "" {
		u, err := url.Parse(cfg.APIBase)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return nil, fmt.Errorf("STRIPE_API_BASE %q is not an http(s) URL such as http://127.0.0.1:12111", cfg.APIBase)
		}
		bc.URL = stripe.String(strings.TrimRight(cfg.APIBase, "/"))
	}
	backend := stripe.GetBackendWithConfig(stripe.APIBackend, bc)
	backends := &stripe.Backends{API: backend, Connect: backend, Uploads: backend}
	c := &Client{
		api: client.New(cfg.SecretKey, backends), backend: backend, key: cfg.SecretKey, kind: kind, cfg: cfg,
		log: cfg.Log, now: cfg.Now, rec: rec,
	}
	if c.log == nil {
		c.log = slog.New(slog.DiscardHandler)
	}
	if c.now == nil {
		c.now = time.Now
	}
	return c, nil
}

// Live reports whether the key is a live-mode key: actions move real money.
func (c *Client) Live() bool { return c.kind.Live }

// KeyKind is what kind of key the client uses.
func (c *Client) KeyKind() config.KeyKind { return c.kind }

// Catalog is the catalog the client sells from.
func (c *Client) Catalog() billing.Catalog { return c.cfg.Catalog }

func (c *Client) records() (Records, error) {
	if c.rec == nil {
		return nil, errors.New("stripeapi: this client has no records (built with New(cfg, nil))")
	}
	return c.rec, nil
}

// Error is a Stripe API error as one line.
type Error struct {
	// Type is Stripe's error type (invalid_request_error, card_error...).
	Type string
	// Code is Stripe's error code (resource_missing...), often empty.
	Code string
	// Message is Stripe's message, with anything that looks like a key
	// masked.
	Message string
	// Param names the offending parameter, when Stripe says.
	Param string
	// RequestID is Stripe's request id, for support and the Dashboard log.
	RequestID string
	// Status is the HTTP status.
	Status int
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("Stripe ")
	if e.Type != "" {
		b.WriteString(e.Type)
	} else {
		fmt.Fprintf(&b, "HTTP %d", e.Status)
	}
	if e.Code != "" {
		b.WriteString(" (" + e.Code + ")")
	}
	if e.Message != "" {
		b.WriteString(": " + oneLine(e.Message))
	}
	if e.RequestID != "" {
		b.WriteString(" [request " + e.RequestID + "]")
	}
	return b.String()
}

// Transient reports whether the call may succeed if tried again later.
func (e *Error) Transient() bool { return e.Status == http.StatusTooManyRequests || e.Status >= 500 }

// wrap turns what stripe-go returned into one line prefixed with what was
// being done: a *Error for an answer from Stripe, a *billing.TransientError
// for a network failure, a rate limit or a 5xx.
func wrap(op string, err error) error {
	if err == nil {
		return nil
	}
	var se *stripe.Error
	if errors.As(err, &se) {
		e := &Error{Type: string(se.Type), Code: string(se.Code), Message: scrub(se.Msg), Param: se.Param,
			RequestID: se.RequestID, Status: se.HTTPStatusCode}
		if e.Transient() {
			return &billing.TransientError{Err: &opError{op, e}}
		}
		return &opError{op, e}
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return &billing.TransientError{Err: &opError{op, fmt.Errorf("Stripe API did not answer in time: %w", err)}}
	}
	return &billing.TransientError{Err: &opError{op, fmt.Errorf("Stripe API unreachable: %s", oneLine(scrub(err.Error())))}}
}

// opError is an error prefixed with the operation that failed.
type opError struct {
	op  string
	err error
}

func (e *opError) Error() string { return e.op + ": " + e.err.Error() }
func (e *opError) Unwrap() error { return e.err }

// StripeError returns the Stripe API error in err, if there is one.
func StripeError(err error) (*Error, bool) {
	var e *Error
	ok := errors.As(err, &e)
	return e, ok
}

var secretRE = regexp.MustCompile(`\b(?:sk|rk|pk)_(?:test|live)_[A-Za-z0-9*]+|\bwhsec_[A-Za-z0-9]+`)

// scrub masks anything in s that looks like a Stripe key or signing secret.
func scrub(s string) string {
	return secretRE.ReplaceAllStringFunc(s, config.Mask)
}

func oneLine(s string) string {
	s = strings.ReplaceAll(s, "\r", " ")
	return strings.Join(strings.Fields(strings.ReplaceAll(s, "\n", " ")), " ")
}

// idem is an idempotency key for one create: creditdesk-<what>-<key>, with
// a fresh random key when none is given.
func idem(what, key string) string {
	if key == "" {
		key = billing.NewKey()
	}
	k := "creditdesk-" + what + "-" + key
	if len(k) > 255 {
		k = k[:255]
	}
	return k
}
