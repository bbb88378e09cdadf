// Package billing holds creditdesk's rules: which Stripe event grants or
// takes back which credits, plan state, purchase resolution. The rules are
// plain functions over plain types (Rules.Decide); Service runs them over
// the store: it ingests verified events, applies them in arrival order and
// serves the console's reads and the operator's actions.
package billing

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"
)

// LineItemFetcher reads a checkout session's line items through the Stripe
// API. A *TransientError means try again later.
type LineItemFetcher interface {
	SessionLineItems(ctx context.Context, sessionID string) (LineItems, error)
}

// TransientError marks a failure worth retrying (network, rate limit, 5xx).
type TransientError struct{ Err error }

func (e *TransientError) Error() string { return e.Err.Error() }
func (e *TransientError) Unwrap() error { return e.Err }

// Options configure a Service.
type Options struct {
	Rules Rules
	// Clock returns now; default time.Now. Everything billing dates or
	// waits for reads it.
	Clock func() time.Time
	// After returns a channel that receives once d has passed on Clock;
	// default time.After. A test that moves Clock by hand gives its own,
	// so that Run's waits (retries, sweeps, the expiry run every minute,
	// fault backoff) follow its clock.
	After func(d time.Duration) <-chan time.Time
	Log   *slog.Logger
	// Fetcher reads line items; nil when no secret key is configured.
	Fetcher LineItemFetcher
	// BatchSize bounds how many events one processor transaction applies
	// (default 256). A batch takes what is pending up to this: under a
	// burst many events share one commit and its fsync; at a trickle a
	// batch is the event that just arrived.
	BatchSize int
	// WaitLimit is how long after its arrival (received_at, for webhooks
	// and resynced events alike) an event may wait for a missing piece
	// (default 72h, Stripe's retry window). Past it the
	// piece will not come by webhook: the event is set aside as ignored and
	// flagged in Attention, where it can be retried.
	WaitLimit time.Duration
	// FaultSettle is how long writes must work, with no fault seen, before
	// a store fault (full disk, I/O error) is over: /healthz answers 200
	// again and Attention drops it. Default 10s.
	FaultSettle time.Duration
	// Outbox configures the messages to the founder's app; with no
	// endpoints, none is written.
	Outbox OutboxConfig
}

// Service runs the billing rules over a store.
type Service struct {
	store   Store
	rules   Rules
	clock   func() time.Time
	after   func(time.Duration) <-chan time.Time
	log     *slog.Logger
	fetcher LineItemFetcher
	batch   int
	wait    time.Duration
	hub     hub

	wake    chan struct{}
	fresh   fresh // bodies just ingested, until the processor takes them
	running atomic.Bool
	// retryAll asks the processor to retry every waiting event now (after
	// an operator action supplied a missing piece).
	retryAll atomic.Bool
	started  time.Time

	received, duplicates, applied, ignored atomic.Uint64
	rejMu                                  sync.Mutex
	rejected                               map[string]uint64
	problems                               problems
	outcomes                               outcomes
	faults                                 storeFaults

	outbox     OutboxConfig
	outboxWake chan struct{}
}

// NewService returns a service over store. Call Run to start the processor.
func NewService(store Store, opt Options) *Service {
	if opt.Clock == nil {
		opt.Clock = time.Now
	}
	if opt.After == nil {
		opt.After = time.After
	}
	if opt.Log == nil {
		opt.Log = slog.New(slog.DiscardHandler)
	}
	if opt.BatchSize <= 0 {
		opt.BatchSize = 256
	}
	if opt.WaitLimit <= 0 {
		opt.WaitLimit = 72 * time.Hour
	}
	opt.Rules.LineItems = opt.Fetcher != nil
	wake := make(chan struct{}, 1)
	if len(opt.Outbox.Endpoints) > 0 {
		store = &outboxStore{Store: store, cfg: opt.Outbox, wake: wake}
	}
	return &Service{
		outbox: opt.Outbox, outboxWake: wake,
		store: store, rules: opt.Rules, clock: opt.Clock, after: opt.After, log: opt.Log, fetcher: opt.Fetcher, batch: opt.BatchSize, wait: opt.WaitLimit,
		wake: make(chan struct{}, 1), rejected: map[string]uint64{}, started: opt.Clock(),
		faults: storeFaults{settle: opt.FaultSettle},
	}
}

// Rules is the service's rules and catalog.
func (s *Service) Rules() Rules { return s.rules }

// PurchaseTypes lists the catalog's plans and packs.
func (s *Service) PurchaseTypes() []string { return s.rules.Catalog.Names() }

func (s *Service) now() time.Time { return s.clock().UTC() }
