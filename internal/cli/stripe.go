package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"strings"
	"time"

	"creditdesk/billing"
	"creditdesk/internal/config"
	"creditdesk/internal/stripeapi"
	"creditdesk/storage"
)

// The commands that act through the Stripe API. Each builds one client from
// STRIPE_SECRET_KEY and STRIPE_API_BASE; failures are one line.

// apiTimeout bounds one command's API calls.
const apiTimeout = 2 * time.Minute

// stripeSession is a Stripe client with the store it keeps links and
// caches in.
type stripeSession struct {
	client *stripeapi.Client
	svc    *billing.Service
	store  *storage.Store
	// note says the demo catalog is being sold, "" otherwise.
	note string
}

func (s *stripeSession) close() {
	if s.store != nil {
		s.store.Close()
	}
}

// returnBase is where Checkout and the portal send the buyer back by
// default: the public URL, else the local listen address.
func returnBase(cfg config.Config) string {
	if cfg.PublicURL != "" {
		return strings.TrimRight(cfg.PublicURL, "/")
	}
	return "http://" + cfg.Addr
}

// clientConfig is the stripeapi configuration from env and a catalog.
func clientConfig(env *Env, cat billing.Catalog) stripeapi.Config {
	c := env.Config
	return stripeapi.Config{SecretKey: c.SecretKey, APIBase: c.APIBase, Catalog: cat, SuccessURL: c.SuccessURL,
		CancelURL: c.CancelURL, ReturnBase: returnBase(c)}
}

// sellingCatalog is what checkout links sell from: the configured catalog,
// or with none configured and a test key, the demo catalog's plans and
// packs at their sample prices (sold with ad-hoc prices), so that trying
// checkout needs no setup. A live key never sells the demo catalog.
func sellingCatalog(cat billing.Catalog, live bool) (billing.Catalog, string) {
	if len(cat.Plans)+len(cat.Packs) > 0 || live {
		return cat, ""
	}
	demo := billing.SampleCatalog()
	for _, p := range demo.Plans {
		p.PriceIDs = nil
	}
	for _, p := range demo.Packs {
		p.PriceIDs = nil
	}
	demo.ProductMap, demo.PaymentLinks = cat.ProductMap, cat.PaymentLinks
	return demo, "no catalog configured (creditdesk.toml): selling the demo plans and packs at sample prices (test mode only)"
}

// openStripe builds the client and opens the store for a command.
func openStripe(env *Env) (*stripeSession, error) {
	if _, err := config.CheckSecretKey(env.Config.SecretKey); err != nil {
		return nil, err
	}
	r, err := rules(env, false)
	if err != nil {
		return nil, err
	}
	kind, _ := config.CheckSecretKey(env.Config.SecretKey)
	cat, note := sellingCatalog(r.Catalog, kind.Live)
	lineItems, err := stripeapi.New(clientConfig(env, cat), nil)
	if err != nil {
		return nil, err
	}
	st, err := openStore(env, false)
	if err != nil {
		return nil, err
	}
	svc := billing.NewService(st, billing.Options{Rules: r, Fetcher: lineItems, Log: discardLogger()})
	c, err := stripeapi.New(clientConfig(env, cat), svc)
	if err != nil {
		st.Close()
		return nil, err
	}
	return &stripeSession{client: c, svc: svc, store: st, note: note}, nil
}

func apiContext() (context.Context, context.CancelFunc) {
	ctx, stop := signalContext()
	ctx, cancel := context.WithTimeout(ctx, apiTimeout)
	return ctx, func() { cancel(); stop() }
}

// withStripe runs fn with a Stripe session for the command and a context
// that apiTimeout and a signal end, and closes the session after.
func withStripe(env *Env, fn func(ctx context.Context, s *stripeSession) error) error {
	s, err := openStripe(env)
	if err != nil {
		return err
	}
	defer s.close()
	ctx, cancel := apiContext()
	defer cancel()
	return fn(ctx, s)
}

// catalogFreeClient is a Stripe client for a command that needs neither the
// catalog nor the store (webhook setup, reconcile's listing), the key
// checked first.
func catalogFreeClient(env *Env) (*stripeapi.Client, error) {
	if _, err := config.CheckSecretKey(env.Config.SecretKey); err != nil {
		return nil, err
	}
	return stripeapi.New(clientConfig(env, billing.Catalog{}), nil)
}

func usageErr(msg string) error { return &exitError{code: 2, msg: msg} }

func runCheckout(env *Env, args []string) error {
	fs := newFlags(env, "checkout")
	var req billing.CheckoutRequest
	fs.BoolVar(&req.AllowPromotionCodes, "promo", false, "allow promotion codes")
	fs.BoolVar(&req.AutomaticTax, "tax", false, "automatic tax")
	fs.BoolVar(&req.ManualCapture, "manual-capture", false, "authorize now, capture later (packs only; credits at capture)")
	fs.StringVar(&req.SuccessURL, "success-url", "", "where Checkout returns after paying (CREDITDESK_SUCCESS_URL)")
	fs.StringVar(&req.CancelURL, "cancel-url", "", "where Checkout returns when abandoned (CREDITDESK_CANCEL_URL)")
	pos, err := env.parseN(fs, args, 2, "usage: creditdesk checkout USER TYPE [--promo] [--tax] [--manual-capture] [--success-url URL] [--cancel-url URL]; TYPE is a plan or pack of the catalog, or a price id (price_…)")
	if err != nil {
		return err
	}
	req.UserID = pos[0]
	if strings.HasPrefix(pos[1], "price_") {
		req.PriceID = pos[1]
	} else {
		req.Type = pos[1]
	}
	return withStripe(env, func(ctx context.Context, s *stripeSession) error {
		if s.note != "" {
			fmt.Fprintln(env.Stderr, "note:", s.note)
		}
		link, err := s.client.CreateCheckout(ctx, req)
		if err != nil {
			return err
		}
		fmt.Fprintln(env.Stdout, link.URL)
		mode := "test mode"
		if link.Livemode {
			mode = "LIVE mode"
		}
		exp := ""
		if !link.ExpiresAt.IsZero() {
			exp = ", expires " + link.ExpiresAt.Local().Format("2006-01-02 15:04")
		}
		fmt.Fprintf(env.Stderr, "checkout session %s for %s (%s%s)\n", link.SessionID, req.UserID, mode, exp)
		return nil
	})
}

func runPortal(env *Env, args []string) error {
	fs := newFlags(env, "portal")
	ret := fs.String("return-url", "", "where the portal returns to (default: the public URL)")
	pos, err := env.parseN(fs, args, 1, "usage: creditdesk portal USER [--return-url URL]")
	if err != nil {
		return err
	}
	return withStripe(env, func(ctx context.Context, s *stripeSession) error {
		url, err := s.client.CreatePortal(ctx, pos[0], *ret)
		if err != nil {
			return err
		}
		fmt.Fprintln(env.Stdout, url)
		return nil
	})
}

func runCapture(env *Env, args []string) error { return captureOrCancel(env, "capture", args) }

func runCancel(env *Env, args []string) error { return captureOrCancel(env, "cancel", args) }

func captureOrCancel(env *Env, verb string, args []string) error {
	fs := newFlags(env, verb)
	yes := fs.Bool("yes", false, "confirm a live-mode "+verb+" (it moves real money)")
	pos, err := env.parseN(fs, args, 1, "usage: creditdesk "+verb+" PAYMENT_INTENT (pi_…; `creditdesk captures` lists them)")
	if err != nil {
		return err
	}
	if kind, _ := config.CheckSecretKey(env.Config.SecretKey); kind.Live && !*yes {
		return usageErr(fmt.Sprintf("live mode: %s %s moves real money; run it again with --yes to confirm", verb, pos[0]))
	}
	return withStripe(env, func(ctx context.Context, s *stripeSession) error {
		act := s.client.Cancel
		if verb == "capture" {
			act = s.client.Capture
		}
		res, err := act(ctx, pos[0], "")
		if err != nil {
			return err
		}
		fmt.Fprintln(env.Stdout, res)
		if verb == "capture" {
			fmt.Fprintln(env.Stderr, "credits are granted when Stripe's payment_intent.succeeded event arrives at the webhook")
		}
		return nil
	})
}

func runCaptures(env *Env, args []string) error {
	fs := newFlags(env, "captures")
	if _, err := env.parse(fs, args); err != nil {
		return err
	}
	return withStripe(env, func(ctx context.Context, s *stripeSession) error {
		auths, err := s.client.Captures(ctx)
		if err != nil {
			return err
		}
		if len(auths) == 0 {
			fmt.Fprintln(env.Stdout, "no payments waiting for capture")
			return nil
		}
		printCaptures(env.Stdout, auths, time.Now())
		return nil
	})
}

func runResync(env *Env, args []string) error {
	fs := newFlags(env, "resync")
	since := fs.Duration("since", 72*time.Hour, "list events created this long ago or later (at most 720h, Stripe's retention)")
	failedOnly := fs.Bool("failed-only", false, "only events whose webhook delivery failed")
	if _, err := env.parse(fs, args); err != nil {
		return err
	}
	if *since <= 0 {
		return usageErr("--since takes a positive duration such as 72h")
	}
	if *since > stripeapi.EventRetention {
		fmt.Fprintln(env.Stderr, "note: Stripe keeps events for 30 days; listing from 720h ago")
	}
	return withStripe(env, func(ctx context.Context, s *stripeSession) error {
		res, err := s.client.Resync(ctx, stripeapi.ResyncOptions{Since: time.Now().Add(-*since), FailedOnly: *failedOnly,
			Progress: func(p stripeapi.ResyncProgress) {
				if !p.Done {
					fmt.Fprintln(env.Stderr, p)
				}
			}})
		if err != nil {
			return err
		}
		if _, err := s.svc.ProcessPending(ctx); err != nil {
			return fmt.Errorf("applying resynced events: %w", err)
		}
		fmt.Fprintln(env.Stdout, res)
		return nil
	})
}

func runCatalog(env *Env, args []string) error {
	fs := newFlags(env, "catalog")
	sync := fs.Bool("sync", false, "list products, prices and coupons from Stripe first")
	if _, err := env.parse(fs, args); err != nil {
		return err
	}
	var view stripeapi.CatalogView
	if *sync {
		err := withStripe(env, func(ctx context.Context, s *stripeSession) error {
			res, err := s.client.SyncCatalog(ctx)
			if err != nil {
				return err
			}
			fmt.Fprintln(env.Stderr, res)
			view, err = s.client.CatalogView()
			return err
		})
		if err != nil {
			return err
		}
	} else {
		r, err := rules(env, false)
		if err != nil {
			return err
		}
		st, err := openStore(env, true)
		if err != nil {
			return err
		}
		defer st.Close()
		if view, err = stripeapi.ReadCatalog(billing.NewService(st, billing.Options{Rules: r}), r.Catalog); err != nil {
			return err
		}
	}
	printCatalog(env.Stdout, view)
	return nil
}

// runWebhook is `creditdesk webhook setup URL`: the Stripe webhook endpoint
// for this receiver, created with the event types creditdesk reads.
func runWebhook(env *Env, args []string) error {
	fs := newFlags(env, "webhook setup")
	dry := fs.Bool("dry-run", false, "print what would be created, create nothing")
	pos, err := env.parse(fs, args)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(env.Stderr, "usage: creditdesk webhook setup URL [--dry-run]")
		}
		return err
	}
	if len(pos) == 0 || pos[0] != "setup" {
		return usageErr("usage: creditdesk webhook setup URL [--dry-run]")
	}
	if pos = pos[1:]; len(pos) != 1 {
		return usageErr("usage: creditdesk webhook setup URL [--dry-run]; URL is this receiver's public address, e.g. https://billing.example.com" + env.Config.WebhookPath)
	}
	plan, err := stripeapi.PlanWebhook(pos[0])
	if err != nil {
		return err
	}
	if *dry {
		fmt.Fprintf(env.Stdout, "would create a webhook endpoint:\n  url          %s\n  api_version  %s\n  events       %d\n", plan.URL, plan.APIVersion, len(plan.Events))
		for _, e := range plan.Events {
			fmt.Fprintf(env.Stdout, "    %s\n", e)
		}
		return nil
	}
	c, err := catalogFreeClient(env)
	if err != nil {
		return err
	}
	ctx, cancel := apiContext()
	defer cancel()
	ep, err := c.SetupWebhook(ctx, plan)
	if err != nil {
		return err
	}
	mode := "test"
	if ep.Livemode {
		mode = "live"
	}
	fmt.Fprintf(env.Stdout, "created webhook endpoint %s (%s mode) → %s, API version %s, %d event types\n", ep.ID, mode, ep.URL, ep.APIVersion, len(ep.Events))
	if ep.Secret == "" {
		fmt.Fprintln(env.Stdout, "Stripe returned no signing secret: reveal it under Dashboard → Developers → Webhooks → "+ep.ID)
		return nil
	}
	fmt.Fprintf(env.Stdout, "signing secret (shown once): %s\n", ep.Secret)
	fmt.Fprintf(env.Stdout, "put it in .env as STRIPE_WEBHOOK_SECRET=%s and restart creditdesk\n", ep.Secret)
	return nil
}

func runDoctor(env *Env, args []string) error {
	fs := newFlags(env, "doctor")
	fs.StringVar(&env.Config.Domain, "domain", env.Config.Domain, "check that these names answer over https with a certificate valid 14 more days (CREDITDESK_DOMAIN)")
	if _, err := env.parse(fs, args); err != nil {
		return err
	}
	in := stripeapi.DoctorInput{Config: env.Config, Now: time.Now()}
	if r, err := rules(env, false); err == nil {
		var rec stripeapi.Records // nil: the client only calls Stripe
		if st, err := openStore(env, true); err != nil {
			in.StoreErr = err
		} else {
			defer st.Close()
			in.Service = billing.NewService(st, billing.Options{Rules: r})
			rec = in.Service
		}
		if c, err := stripeapi.New(clientConfig(env, r.Catalog), rec); err == nil {
			in.Client = c
		}
	} else {
		in.StoreErr = err
	}
	ctx, cancel := apiContext()
	defer cancel()
	fs2 := stripeapi.Doctor(ctx, in)
	for _, f := range fs2 {
		fmt.Fprintln(env.Stdout, f)
	}
	if stripeapi.Failed(fs2) {
		return &exitError{code: 1}
	}
	return nil
}
