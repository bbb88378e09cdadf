package cli

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"creditdesk/billing"
	"creditdesk/internal/stripeapi"
)

// appStripe is a running creditdesk's Stripe client and its background
// work (catalog sync and resync at start). A nil *appStripe is "no key":
// its methods return nil interfaces, never a typed nil.
type appStripe struct {
	client *stripeapi.Client
	log    *slog.Logger
	done   chan struct{}

	mu     sync.Mutex
	status string // the last background progress line, for the console
	svc    *billing.Service
}

// stripeLineItems is the Stripe client billing's processor reads line
// items with (billing.Options.Fetcher); nil when no secret key is set. It
// only calls Stripe, so it is built before the service; a bad key fails
// here, before anything else starts.
func stripeLineItems(env *Env, r billing.Rules) (billing.LineItemFetcher, error) {
	if env.Config.SecretKey == "" {
		return nil, nil
	}
	c, err := stripeapi.New(clientConfig(env, r.Catalog), nil)
	if err != nil {
		return nil, err
	}
	return c, nil
}

// newAppStripe builds the client once from the configuration, over svc's
// records; nil when no secret key is set.
func newAppStripe(env *Env, r billing.Rules, svc *billing.Service, log *slog.Logger) (*appStripe, error) {
	if env.Config.SecretKey == "" {
		return nil, nil
	}
	if log == nil {
		log = discardLogger()
	}
	cfg := clientConfig(env, r.Catalog)
	cfg.Log = log
	c, err := stripeapi.New(cfg, svc)
	if err != nil {
		return nil, err
	}
	return &appStripe{client: c, log: log, svc: svc}, nil
}

// api is the billing.Stripe for the app's HTTP API.
func (s *appStripe) api() billing.Stripe {
	if s == nil {
		return nil
	}
	return s.client
}

// start, in the background, syncs the catalog and resyncs from the newest
// stored event, logging progress. ctx ending stops it; wait waits for it.
func (s *appStripe) start(ctx context.Context) {
	if s == nil {
		return
	}
	s.done = make(chan struct{})
	go func() {
		defer close(s.done)
		if res, err := s.client.SyncCatalog(ctx); err != nil {
			s.setStatus("catalog sync failed: " + err.Error())
			s.log.Warn("catalog sync", "err", err)
		} else {
			s.setStatus(res.String())
		}
		res, err := s.client.AutoResync(ctx, func(p stripeapi.ResyncProgress) {
			s.setStatus(p.String())
			s.log.Info("resync", "progress", p.String())
		})
		switch {
		case errors.Is(err, stripeapi.ErrNothingStored):
			s.setStatus(err.Error())
			s.log.Info("resync skipped", "why", err.Error())
		case err != nil:
			s.setStatus("resync failed: " + err.Error())
			s.log.Warn("resync", "err", err)
		default:
			s.setStatus(res.String())
			// After a restore, this is what came back from Stripe.
			s.log.Info("resync done", "recovered", res.Stored, "already_stored", res.Duplicates, "since", res.Since.UTC().Format(time.RFC3339))
		}
	}()
}

// wait waits up to 5 seconds for the background work to stop.
func (s *appStripe) wait() {
	if s == nil || s.done == nil {
		return
	}
	select {
	case <-s.done:
	case <-time.After(5 * time.Second):
		s.log.Warn("stripe background work did not stop in 5s")
	}
}

func (s *appStripe) setStatus(line string) {
	s.mu.Lock()
	s.status = line
	s.mu.Unlock()
	if s.svc != nil {
		s.svc.Announce("stripe", line)
	}
}

// Status is the last line the background work reported.
func (s *appStripe) Status() string {
	if s == nil {
		return ""
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.status
}
