package cli

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/debug"
	"sync"
	"syscall"
	"time"

	"creditdesk/billing"
	"creditdesk/internal/config"
	"creditdesk/internal/metrics"
	"creditdesk/internal/remote"
	"creditdesk/internal/simulate"
	"creditdesk/storage"
	"creditdesk/tui"
	"creditdesk/webhook"
)

// app is a running creditdesk: store, billing service, processor and HTTP
// server, started and stopped in the right order.
type app struct {
	store    *storage.Store
	svc      *billing.Service
	server   *webhook.Server
	log      *slog.Logger
	procStop context.CancelFunc
	procDone chan struct{}
	srvDone  chan error
	url      string
	secrets  []string
	keyKind  config.KeyKind
	stripe   *appStripe // nil without STRIPE_SECRET_KEY
	// stopAdmin closes the admin socket.
	stopAdmin func()
	// senderDone is closed when the app webhooks' sender has stopped.
	senderDone chan struct{}
}

type appOptions struct {
	demo          bool
	requireSecret bool
	log           *slog.Logger
	// mode (serve, console, demo) and notice describe this process to
	// consoles that attach to it.
	mode   string
	notice string
	// metrics, when set, is told about commits, entries and API requests.
	metrics *metrics.Metrics
	// tls is serve's HTTPS flags (nil: plain HTTP).
	tls *tlsOptions
}

// serveMemoryLimit is the Go runtime's soft memory limit unless GOMEMLIMIT
// is set; bbolt's mapped pages come on top of it.
const serveMemoryLimit = 48 << 20

func startApp(env *Env, opt appOptions) (*app, error) {
	cfg := env.Config
	if os.Getenv("GOGC") == "" {
		// The live heap is small (tens of MB) and the receiver allocates per
		// request: collecting less often buys about a tenth more throughput.
		debug.SetGCPercent(400)
	}
	if os.Getenv("GOMEMLIMIT") == "" {
		// ...but not past a soft limit: near it the collector runs as often
		// as it must, so a burst does not take the heap to five times its
		// live size (issue 13: serve under 100 MiB resident).
		debug.SetMemoryLimit(serveMemoryLimit)
	}
	kind, err := config.CheckSecretKey(cfg.SecretKey)
	if err != nil {
		return nil, err
	}
	secrets := config.WebhookSecrets(cfg.WebhookSecret)
	if err := config.CheckWebhookSecrets(secrets, opt.requireSecret); err != nil {
		return nil, err
	}
	r, err := rules(env, opt.demo)
	if err != nil {
		return nil, err
	}
	limits, err := webhook.LimitsFromEnv(os.Getenv)
	if err != nil {
		return nil, err
	}
	lineItems, err := stripeLineItems(env, r)
	if err != nil {
		return nil, err
	}
	hooks, err := config.LoadAppWebhooks(cfg.CatalogPath, os.Getenv)
	if err != nil {
		return nil, err
	}
	// A second process on a held database: say who holds it before the
	// port it also holds gets in the way.
	if c, err := dialRunning(cfg.DB); err == nil {
		info := c.Info()
		return nil, fmt.Errorf("%s is held by creditdesk %s (pid %d): stop it first (systemctl stop creditdesk), or attach a console to it: creditdesk --db %s",
			cfg.DB, info.Mode, info.PID, cfg.DB)
	}
	srvTLS, err := opt.tls.prepare(&cfg, opt.log)
	if err != nil {
		return nil, err
	}
	// Bind first: a taken port should not leave a database file behind.
	ln, err := webhook.Listen(cfg.Addr)
	if err != nil {
		srvTLS.Close()
		return nil, err
	}
	var obs storage.Observer
	if opt.metrics != nil {
		obs = opt.metrics
	}
	st, err := storage.Open(cfg.DB, storage.Options{Observer: obs, Role: opt.mode})
	if err != nil {
		ln.Close()
		srvTLS.Close()
		return nil, err
	}
	outbox, endpoints := appWebhookConfig(hooks, r)
	svc := billing.NewService(st, billing.Options{Rules: r, Log: opt.log, Fetcher: lineItems, Outbox: outbox})
	sc, err := newAppStripe(env, r, svc, opt.log)
	if err != nil {
		st.Close()
		ln.Close()
		srvTLS.Close()
		return nil, err
	}
	rc := webhook.NewReceiver(svc, secrets)
	rc.Log = opt.log
	a := &app{store: st, svc: svc, log: opt.log, secrets: secrets, keyKind: kind, procDone: make(chan struct{}), srvDone: make(chan error, 1)}
	a.server = webhook.NewServer(cfg.WebhookPath, rc, func() error {
		if !svc.Running() {
			return errors.New("processor not running")
		}
		return nil
	})
	// The app's API (/api/users/..., /api/stripe/checkout, /api/stripe/portal).
	api := webhook.NewAPI(svc, sc.api(), limits)
	api.Log = opt.log
	if opt.metrics != nil {
		api.Observe = opt.metrics.ObserveAPI
		opt.metrics.Watch(svc)
	}
	api.Mount(a.server.Mux)
	a.server.Use(ln)
	a.server.UseTLS(srvTLS)
	// The command line reaches this process through a socket beside the
	// database while it holds the file.
	a.url = srvTLS.URL(a.server.Addr()) + cfg.WebhookPath
	admin := http.NewServeMux()
	admin.Handle("/", webhook.NewAdminHandler(svc))
	admin.Handle("/console/", remote.NewHandler(svc, sc.operator(svc, cfg), remote.Info{PID: os.Getpid(), Mode: opt.mode,
		WebhookURL: a.url, Notice: opt.notice, Demo: opt.demo}))
	if a.stopAdmin, err = webhook.ServeAdmin(cfg.DB, admin); err != nil {
		opt.log.Warn("no admin socket: commands cannot reach this process while it runs", "err", err)
		a.stopAdmin = func() {}
	}
	var procCtx context.Context
	procCtx, a.procStop = context.WithCancel(context.Background())
	go func() {
		defer close(a.procDone)
		_ = svc.Run(procCtx)
	}()
	a.stripe = sc
	sc.start(procCtx) // catalog sync and resync in the background
	a.senderDone = startSender(procCtx, svc, endpoints, cfg.DB, opt.log)
	go func() { a.srvDone <- a.server.Serve() }()
	return a, nil
}

// stop closes the server (no new requests; requests in flight finish and
// are stored), lets the processor apply what is stored, then closes the
// store.
func (a *app) stop() error {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	err := a.server.Shutdown(ctx)
	a.stopAdmin()
	a.procStop()
	a.stripe.wait()
	select {
	case <-a.procDone:
	case <-time.After(5 * time.Second):
		a.log.Warn("processor did not finish in 5s; unapplied events stay stored and are applied on next start")
	}
	select {
	case <-a.senderDone:
	case <-time.After(15 * time.Second):
		a.log.Warn("app webhooks: a delivery did not finish; it is sent again on next start")
	}
	if cerr := a.store.Close(); err == nil {
		err = cerr
	}
	return err
}

func signalContext() (context.Context, context.CancelFunc) {
	// SIGHUP too: a closed terminal stops creditdesk as cleanly as q does.
	return signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
}

func runServe(env *Env, args []string) error {
	fs := newFlags(env, "serve")
	fs.StringVar(&env.Config.Addr, "addr", env.Config.Addr, "listen address (CREDITDESK_ADDR)")
	backups := backupFlags(fs)
	tlsOpt := tlsFlags(fs, &env.Config)
	sshOpt := sshFlags(fs)
	metricsAddr := fs.String("metrics-addr", os.Getenv("CREDITDESK_METRICS_ADDR"),
		"serve Prometheus metrics at HOST:PORT/metrics (CREDITDESK_METRICS_ADDR; off unless given; keep it private, e.g. 127.0.0.1:9464)")
	if _, err := env.parse(fs, args); err != nil {
		return err
	}
	if err := backups.check(); err != nil {
		return err
	}
	log := slog.New(slog.NewTextHandler(env.Stdout, nil))
	var m *metrics.Metrics
	metricsURL := ""
	if *metricsAddr != "" {
		m = metrics.New()
		bound, stopMetrics, err := metrics.Serve(*metricsAddr, m) // bound before the database opens
		if err != nil {
			return err
		}
		defer stopMetrics()
		metricsURL = "http://" + bound + "/metrics"
	}
	a, err := startApp(env, appOptions{requireSecret: true, log: log, mode: "serve", notice: catalogNotice(env), metrics: m, tls: tlsOpt})
	if err != nil {
		return err
	}
	if metricsURL != "" {
		log.Info("metrics", "url", metricsURL)
	}
	stopSSH, err := startSSH(sshOpt, a, env.Config.DB, log, tui.Options{WebhookURL: a.url, DBPath: env.Config.DB,
		Notice: catalogNotice(env), Operator: a.stripe.operator(a.svc, env.Config)})
	if err != nil {
		a.stop()
		return err
	}
	mode := "no STRIPE_SECRET_KEY (API features off)"
	if env.Config.SecretKey != "" {
		mode = fmt.Sprintf("key %s", config.Mask(env.Config.SecretKey))
	}
	log.Info("creditdesk serving", "webhook", a.url, "db", env.Config.DB, "webhook_secrets", len(a.secrets), "stripe", mode,
		"catalog", catalogSummary(env, a.svc.Rules().Catalog))
	if note := catalogNotice(env); note != "" {
		log.Warn(note)
	}
	feed, stopFeed := a.svc.Subscribe()
	defer stopFeed()
	go logActivity(log, feed)
	ctx, cancel := signalContext()
	defer cancel()
	bctx, stopBackups := context.WithCancel(context.Background())
	backupsDone := backups.start(bctx, a)
	select {
	case <-ctx.Done():
		log.Info("shutting down: stop accepting, apply stored events, close store")
	case err := <-a.srvDone:
		if err != nil {
			log.Error("server", "err", err)
		}
	}
	stopBackups()
	backupsDone()
	// SSH sessions end before the store closes.
	sctx, scancel := context.WithTimeout(context.Background(), 2*time.Second)
	if err := stopSSH(sctx); err != nil {
		log.Warn("ssh shutdown", "err", err)
	}
	scancel()
	if err := a.stop(); err != nil {
		return err
	}
	log.Info("stopped")
	return nil
}

// consoleLog writes logs next to the database so they never paint over the
// console.
func consoleLog(db string) (*slog.Logger, func()) {
	f, err := os.OpenFile(db+".log", os.O_CREATE|os.O_WRONLY|os.O_APPEND|syscall.O_NOFOLLOW, 0o600)
	if err != nil {
		return discardLogger(), func() {}
	}
	return slog.New(slog.NewTextHandler(f, nil)), func() { f.Close() }
}

func runConsole(env *Env, args []string) error {
	fs := newFlags(env, "console")
	fs.StringVar(&env.Config.Addr, "addr", env.Config.Addr, "listen address (CREDITDESK_ADDR)")
	takeOver := fs.Bool("take-over", false, "open a database whose serve stopped without closing it, and receive webhooks in this console instead")
	pos, err := env.parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		if _, ok := commands[pos[0]]; ok {
			return &exitError{code: 2, msg: fmt.Sprintf("put the command first: creditdesk %s [flags]", pos[0])}
		}
		return &exitError{code: 2, msg: fmt.Sprintf("unknown command %q (creditdesk help lists them)", pos[0])}
	}
	// A database held by a running creditdesk (serve under systemd, another
	// console, the demo): attach to it through its socket.
	if c, err := dialRunning(env.Config.DB); err == nil {
		return runAttached(env, c)
	}
	// A serve that died (kill -9, a crash) is restarted by systemd in a
	// moment: wait for it rather than take its place, which would leave it
	// unable to start.
	if h, ok := storage.ReadHolder(env.Config.DB); ok && !h.Alive() && h.Role == "serve" && !*takeOver {
		fmt.Fprintf(env.Stderr, "creditdesk serve (pid %d) held %s and stopped without closing it; waiting for it to come back…\n", h.PID, env.Config.DB)
		for range 30 {
			if c, err := dialRunning(env.Config.DB); err == nil {
				return runAttached(env, c)
			}
			time.Sleep(200 * time.Millisecond)
		}
		return &exitError{code: 1, msg: fmt.Sprintf("serve (pid %d), which holds %s, is not running: start it (systemctl start creditdesk) and run this again; "+
			"or receive webhooks in this console instead: creditdesk console --take-over --db %s", h.PID, env.Config.DB, env.Config.DB)}
	}
	log, closeLog := consoleLog(env.Config.DB)
	defer closeLog()
	notice := catalogNotice(env)
	if len(config.WebhookSecrets(env.Config.WebhookSecret)) == 0 {
		notice = "STRIPE_WEBHOOK_SECRET not set: webhooks are rejected. Set it (or run `creditdesk demo`)."
	}
	a, err := startApp(env, appOptions{log: log, mode: "console", notice: notice})
	if err != nil {
		return err
	}
	return runTUI(a, tui.Options{WebhookURL: a.url, DBPath: env.Config.DB, Notice: notice,
		Operator: a.stripe.operator(a.svc, env.Config)}, nil)
}

// dialRunning attaches to the creditdesk serving the socket beside db, if
// one does.
func dialRunning(db string) (*remote.Client, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	return remote.Dial(ctx, db)
}

// runAttached runs the console over the socket of a running creditdesk.
// Quitting leaves that process running.
func runAttached(env *Env, c *remote.Client) error {
	ctx, cancel := signalContext()
	defer cancel()
	info := c.Info()
	return tui.Run(ctx, c, tui.Options{WebhookURL: info.WebhookURL, DBPath: env.Config.DB, Notice: info.Notice,
		Demo: info.Demo, Operator: c.Operator()})
}

func runTUI(a *app, opt tui.Options, beforeStop func()) error {
	ctx, cancel := signalContext()
	defer cancel()
	err := tui.Run(billing.WithOperator(ctx, billing.LocalOperator()), a.svc, opt)
	if beforeStop != nil {
		beforeStop()
	}
	if serr := a.stop(); err == nil {
		err = serr
	}
	return err
}

func runDemo(env *Env, args []string) error {
	// The demo ignores CREDITDESK_DB and creditdesk.toml: only the flags
	// choose its database and catalog.
	env.Config.DB, env.Config.CatalogPath = "", ""
	fs := newFlags(env, "demo")
	fs.Lookup("db").Usage = "keep the demo database in FILE (default: a temporary one, removed on exit)"
	fs.Lookup("config").Usage = "sell this catalog file (default: the sample catalog)"
	if _, err := env.parse(fs, args); err != nil {
		return err
	}
	if env.Config.DB == "" {
		dir, err := os.MkdirTemp("", "creditdesk-demo-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(dir)
		env.Config.DB = filepath.Join(dir, "demo.db")
	}
	secret := make([]byte, 16)
	_, _ = rand.Read(secret)
	env.Config.WebhookSecret = "whsec_demo" + hex.EncodeToString(secret)
	env.Config.SecretKey = ""
	env.Config.Addr = "127.0.0.1:0"
	log, closeLog := consoleLog(env.Config.DB)
	defer closeLog()
	// A month of history first, so the Overview opens on a believable month.
	fmt.Fprintln(env.Stderr, "demo: simulating the last 30 days…")
	if n, err := backfillDemo(env, demoSeed(), time.Now()); err != nil {
		log.Warn("demo history", "err", err, "events", n)
	}
	a, err := startApp(env, appOptions{demo: true, requireSecret: true, log: log, mode: "demo"})
	if err != nil {
		return err
	}
	simCtx, stopSim := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		simulate.Trickle(simCtx, a.url, env.Config.WebhookSecret, nil, func(err error) { log.Warn("simulator", "err", err) })
	}()
	return runTUI(a, tui.Options{Demo: true, WebhookURL: a.url, DBPath: env.Config.DB}, func() {
		stopSim()
		wg.Wait()
	})
}

// catalogNotice warns when no catalog is configured: packs that carry
// metadata.credits still apply, but plan invoices wait for plans.
func catalogNotice(env *Env) string {
	if env.Config.CatalogPath != "" {
		return ""
	}
	return "no creditdesk.toml: plan invoices wait until plans are configured; copy creditdesk.example.toml to creditdesk.toml"
}

func catalogSummary(env *Env, c billing.Catalog) string {
	src := env.Config.CatalogPath
	if src == "" {
		src = "none"
	}
	prices := len(c.ProductMap)
	for _, n := range c.Names() {
		o, _ := c.Offer(n)
		prices += len(o.PriceIDs)
	}
	return fmt.Sprintf("%s (%d plans, %d packs, %d price ids)", src, len(c.Plans), len(c.Packs), prices)
}

// logActivity writes the live feed to the log: what the console's Live tab
// shows, for serve.
func logActivity(log *slog.Logger, feed <-chan billing.Activity) {
	for a := range feed {
		if a.Missed > 0 {
			log.Warn("log fell behind", "missed", a.Missed)
		}
		if a.Kind == billing.ActivityEvent && a.State == billing.StateReceived || a.Kind == billing.ActivityRejected {
			continue // the outcome follows; the receiver logs rejections itself
		}
		attrs := []any{"kind", string(a.Kind), "type", a.Type}
		if a.EventID != "" {
			attrs = append(attrs, "event", a.EventID)
		}
		if a.User != "" {
			attrs = append(attrs, "user", a.User)
		}
		if a.Amount != 0 {
			attrs = append(attrs, "credits", a.Amount)
		}
		if a.State != "" {
			attrs = append(attrs, "state", string(a.State))
		}
		if a.Reason != "" {
			attrs = append(attrs, "detail", a.Reason)
		}
		if a.Operator != "" {
			attrs = append(attrs, "operator", a.Operator)
		}
		switch {
		case a.State == billing.StateFailed:
			log.Warn("event", attrs...)
		default:
			log.Info("event", attrs...)
		}
	}
}
