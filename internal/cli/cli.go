// Package cli is creditdesk's command line: it reads the configuration,
// wires store, billing, receiver and console together and runs one command.
package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"

	"creditdesk/billing"
	"creditdesk/internal/config"
	"creditdesk/storage"
)

// Main runs the command line and returns the process exit status.
func Main(args []string, stdout, stderr io.Writer) int {
	if err := config.LoadDotEnv(); err != nil {
		fmt.Fprintln(stderr, "creditdesk:", err)
		return 2
	}
	cmd, args := splitCommand(args)
	if cmd == "console" && len(args) == 1 && (args[0] == "-h" || args[0] == "--help" || args[0] == "-help") {
		cmd, args = "help", nil
	}
	c, ok := commands[cmd]
	if !ok {
		fmt.Fprintf(stderr, "creditdesk: unknown command %q\n\n", cmd)
		usage(stderr)
		return 2
	}
	env := &Env{Stdout: stdout, Stderr: stderr, Config: config.FromEnv()}
	err := c.run(env, args)
	var exit *exitError
	switch {
	case err == nil:
		return 0
	case errors.Is(err, flag.ErrHelp):
		return 0
	case errors.As(err, &exit):
		if exit.msg != "" {
			fmt.Fprintln(stderr, "creditdesk:", shown(exit.msg))
		}
		return exit.code
	default:
		// Errors can carry Stripe's messages and ids from outside.
		fmt.Fprintln(stderr, "creditdesk:", shown(err.Error()))
		return 1
	}
}

// splitCommand returns the command named in args and the arguments it
// gets. The name is the first argument, or the first after leading --db
// and --config flags (`creditdesk --db F users`), so that an alias carrying
// the common flags works for every command; with no name it is the console.
func splitCommand(args []string) (string, []string) {
	i := 0
	for i < len(args) && strings.HasPrefix(args[i], "-") {
		name, _, inline := strings.Cut(strings.TrimLeft(args[i], "-"), "=")
		if name != "db" && name != "config" {
			break
		}
		if inline {
			i++
		} else {
			i += 2
		}
	}
	if i >= len(args) || strings.HasPrefix(args[i], "-") {
		return "console", args
	}
	rest := append(append([]string{}, args[:i]...), args[i+1:]...)
	return args[i], rest
}

// Env is what a command runs with.
type Env struct {
	Stdout, Stderr io.Writer
	Config         config.Config
}

// ctx is the context of a command's request: it names the operator, the
// Unix user running the command line, for the ledger.
func (env *Env) ctx() context.Context {
	return billing.WithOperator(context.Background(), billing.LocalOperator())
}

type command struct {
	summary string
	run     func(env *Env, args []string) error
}

var commands map[string]command

func init() {
	commands = map[string]command{
		"console":    {"console and webhook receiver (the default)", runConsole},
		"serve":      {"webhook receiver and processor without a console; logs to stdout", runServe},
		"demo":       {"console fed by a built-in Stripe simulator; no account needed", runDemo},
		"users":      {"list users [--json]", runUsers},
		"events":     {"list recent events [--json] [--limit N] [--state waiting|failed|…]", runEvents},
		"ledger":     {"USER: a user's ledger [--json]", runLedger},
		"grant":      {"USER N --reason TEXT: add credits by hand", runGrant},
		"revoke":     {"USER N --reason TEXT [--force]: take credits by hand", runRevoke},
		"verify":     {"check every invariant of the database", runVerify},
		"attention":  {"what needs you: waiting and failed events, unresolved or unlinked purchases [--json]", runAttention},
		"export":     {"ledger|purchases|events [--since 30d] [--user ID] [--format csv|jsonl]: stream records to stdout", runExport},
		"report":     {"[--since 30d] [--until DATE] [--json]: revenue, credits and plans by day", runReport},
		"retry":      {"EVENT | --failed | --all: queue events again now (also while creditdesk runs)", runRetry},
		"backup":     {"FILE: a verified copy of the database, also while creditdesk runs", runBackup},
		"restore":    {"FILE --db DB: put a backup in place of a stopped database (the old one is kept)", runRestore},
		"simulate":   {"send signed simulated Stripe events; a load generator", runSimulate},
		"apikey":     {"create NAME | list | revoke NAME: keys for your app's API", runAPIKey},
		"appwebhook": {"secret: create or rotate the signing secret of the webhooks to your app (shown once)", runAppWebhook},
		"deliveries": {"[--failed] [--json] | resend ID | resend --failed | enable ENDPOINT: messages to your app", runDeliveries},
		"checkout":   {"USER TYPE [--promo] [--tax] [--manual-capture]: print a Stripe Checkout link", runCheckout},
		"portal":     {"USER: print a Stripe customer portal link", runPortal},
		"captures":   {"list payments authorized and waiting for capture", runCaptures},
		"capture":    {"PI: capture an authorized payment (credits follow Stripe's event)", runCapture},
		"cancel":     {"PI: release an authorized payment", runCancel},
		"reconcile":  {"[--since 30d] [--json]: Stripe's payments, refunds and lost disputes against purchases and ledger; non-zero exit on differences", runReconcile},
		"resync":     {"[--since 72h] [--failed-only]: fetch missed events from Stripe's Events API", runResync},
		"catalog":    {"[--sync]: Stripe products, prices and coupons against the catalog", runCatalog},
		"webhook":    {"setup URL [--dry-run]: create the Stripe webhook endpoint", runWebhook},
		"doctor":     {"check key, account, webhook endpoints and events; non-zero exit on problems", runDoctor},
		"help":       {"this list", func(env *Env, _ []string) error { usage(env.Stdout); return nil }},
	}
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "usage: creditdesk [command] [flags]")
	fmt.Fprintln(w)
	for _, name := range []string{"console", "serve", "demo", "users", "events", "ledger", "grant", "revoke", "verify", "attention", "report", "export", "retry", "backup", "restore", "simulate", "apikey", "appwebhook", "deliveries",
		"checkout", "portal", "captures", "capture", "cancel", "resync", "reconcile", "catalog", "webhook", "doctor", "help"} {
		fmt.Fprintf(w, "  %-10s %s\n", name, commands[name].summary)
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Every command takes --db FILE (CREDITDESK_DB, default creditdesk.db) and --config FILE (CREDITDESK_CONFIG, default creditdesk.toml),")
	fmt.Fprintln(w, "before or after its name. console and serve listen on --addr HOST:PORT (CREDITDESK_ADDR, default 127.0.0.1:4242).")
	fmt.Fprintln(w, "Stripe: STRIPE_SECRET_KEY, STRIPE_WEBHOOK_SECRET (comma-separated to rotate); a .env file in the working directory is read.")
	fmt.Fprintln(w, "Links: CREDITDESK_PUBLIC_URL, CREDITDESK_SUCCESS_URL, CREDITDESK_CANCEL_URL; STRIPE_API_BASE points the API elsewhere (stripe-mock).")
}

type exitError struct {
	code int
	msg  string
}

func (e *exitError) Error() string { return e.msg }

// newFlags is a flag set with the flags every command shares, --db and
// --config, so that one shell alias carrying them works for every command;
// a command that reads no database or no catalog accepts them all the same.
// Its errors come back from env.parse as one line; -h prints the flags.
func newFlags(env *Env, name string) *flag.FlagSet {
	fs := flag.NewFlagSet("creditdesk "+name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.StringVar(&env.Config.DB, "db", env.Config.DB, "database file (CREDITDESK_DB)")
	fs.StringVar(&env.Config.CatalogPath, "config", env.Config.CatalogPath, "catalog file (CREDITDESK_CONFIG, else creditdesk.toml in the working directory)")
	return fs
}

// parse parses flags wherever they stand among positional arguments and
// returns the positional ones. -h prints the flags; a bad flag is a one-line
// error pointing at -h.
func (env *Env) parse(fs *flag.FlagSet, args []string) ([]string, error) {
	fs.SetOutput(io.Discard)
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				fmt.Fprintf(env.Stderr, "usage of %s:\n", fs.Name())
				fs.SetOutput(env.Stderr)
				fs.PrintDefaults()
				return nil, err
			}
			return nil, &exitError{code: 2, msg: fmt.Sprintf("%v (%s -h lists the flags)", err, fs.Name())}
		}
		args = fs.Args()
		if len(args) == 0 {
			return pos, nil
		}
		if args[0] == "--" {
			return append(pos, args[1:]...), nil
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
}

// parseN is parse for a command that takes exactly n words after its
// flags; other counts are the usage line (exit 2).
func (env *Env) parseN(fs *flag.FlagSet, args []string, n int, usage string) ([]string, error) {
	pos, err := env.parse(fs, args)
	if err == nil && len(pos) != n {
		err = &exitError{code: 2, msg: usage}
	}
	return pos, err
}

// openStore opens the database for a command. A database held by a running
// creditdesk is a plain one-line error.
func openStore(env *Env, readOnly bool) (*storage.Store, error) {
	if readOnly {
		if _, err := os.Stat(env.Config.DB); errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("no database at %s: pass --db FILE or set CREDITDESK_DB", env.Config.DB)
		}
	}
	st, err := storage.Open(env.Config.DB, storage.Options{ReadOnly: readOnly})
	if err != nil {
		return nil, err
	}
	return st, nil
}

// rules builds the billing rules from --config, creditdesk.toml or the
// sample catalog (demo), plus env price mappings.
func rules(env *Env, demo bool) (billing.Rules, error) {
	var cat billing.Catalog
	switch {
	case env.Config.CatalogPath != "":
		var err error
		if cat, err = billing.LoadCatalog(env.Config.CatalogPath); err != nil {
			return billing.Rules{}, err
		}
	case demo:
		cat = billing.SampleCatalog()
	default:
		cat = billing.Catalog{FreeCredits: billing.DefaultFreeCredits}
	}
	if err := cat.ApplyEnv(os.Environ()); err != nil {
		return billing.Rules{}, err
	}
	return billing.Rules{Catalog: cat}, nil
}

func discardLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }
