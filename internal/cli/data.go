package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"creditdesk/billing"
	"creditdesk/internal/safetext"
	"creditdesk/internal/simulate"
	"creditdesk/storage"
	"creditdesk/webhook"
)

// shown is s as a table row may show it: without control characters or
// escape sequences (safetext.Clean), since reasons, names and emails come
// from outside. JSON output keeps s as it is.
func shown(s string) string { return safetext.Clean(s) }

func printJSON(env *Env, v any) error {
	enc := json.NewEncoder(env.Stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// data opens the database (read-only unless write) or, when a running
// creditdesk holds it, reaches that process through its admin socket, so
// the commands work while the console or serve runs. Either way the
// commands see webhook.AdminService, the interface the socket serves.
func (env *Env) data(write bool) (webhook.AdminService, func(), error) {
	st, err := openStore(env, !write)
	if err == nil {
		return billing.NewService(st, billing.Options{}), func() { st.Close() }, nil
	}
	if errors.Is(err, storage.ErrLocked) {
		if c, derr := webhook.DialAdmin(env.Config.DB); derr == nil {
			return c, func() {}, nil
		}
	}
	return nil, nil, err
}

type userJSON struct {
	ID               string `json:"id"`
	Email            string `json:"email"`
	Tier             string `json:"tier"`
	Credits          int64  `json:"credits"`
	StripeCustomerID string `json:"stripe_customer_id"`
}

func runUsers(env *Env, args []string) error {
	fs := newFlags(env, "users")
	asJSON := fs.Bool("json", false, "print JSON")
	filter := fs.String("filter", "", "only users whose id, email, name or customer contains TEXT")
	if _, err := env.parse(fs, args); err != nil {
		return err
	}
	svc, done, err := env.data(false)
	if err != nil {
		return err
	}
	defer done()
	out := []userJSON{}
	after := ""
	for {
		page, err := svc.UsersPage(after, *filter, 1000)
		if err != nil {
			return err
		}
		for _, u := range page {
			out = append(out, userJSON{ID: u.ID, Email: u.Email, Tier: u.Tier, Credits: u.Balance, StripeCustomerID: u.CustomerID})
		}
		if len(page) < 1000 {
			break
		}
		after = page[len(page)-1].ID
	}
	if *asJSON {
		return printJSON(env, out)
	}
	tw := tabwriter.NewWriter(env.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "USER\tCREDITS\tTIER\tEMAIL\tCUSTOMER")
	for _, u := range out {
		fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\n", shown(u.ID), u.Credits, shown(u.Tier), shown(u.Email), shown(u.StripeCustomerID))
	}
	return tw.Flush()
}

func runEvents(env *Env, args []string) error {
	fs := newFlags(env, "events")
	asJSON := fs.Bool("json", false, "print JSON")
	limit := fs.Int("limit", 50, "how many, newest first")
	state := fs.String("state", "", "only events in this state (received, waiting, applied, ignored, failed)")
	if _, err := env.parse(fs, args); err != nil {
		return err
	}
	switch storage.EventState(*state) {
	case "", storage.StateReceived, storage.StateWaiting, storage.StateApplied, storage.StateIgnored, storage.StateFailed:
	default:
		return &exitError{code: 2, msg: fmt.Sprintf("events: no state %q; the states are received, waiting, applied, ignored, failed", *state)}
	}
	ops, done, err := env.data(false)
	if err != nil {
		return err
	}
	defer done()
	evs, err := ops.EventsInState(*state, *limit)
	if err != nil {
		return err
	}
	if evs == nil {
		evs = []storage.EventRecord{}
	}
	if *asJSON {
		return printJSON(env, evs)
	}
	tw := tabwriter.NewWriter(env.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SEQ\tRECEIVED\tTYPE\tUSER\tAMOUNT\tSTATE\tREASON")
	for _, e := range evs {
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%d\t%s\t%s\n", e.Seq, e.ReceivedAt.Local().Format(time.DateTime), shown(e.Type), shown(e.User), e.Amount, e.State, shown(e.Reason))
	}
	return tw.Flush()
}

type entryJSON struct {
	ID           uint64 `json:"id"`
	Delta        int64  `json:"delta"`
	BalanceAfter int64  `json:"balance_after"`
	Reason       string `json:"reason"`
	Source       string `json:"source"`
	// Operator is who made a manual change: local:USER, ssh:KEY, api:KEY.
	Operator string    `json:"operator,omitempty"`
	At       time.Time `json:"at"`
}

func runLedger(env *Env, args []string) error {
	fs := newFlags(env, "ledger")
	asJSON := fs.Bool("json", false, "print JSON")
	pos, err := env.parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return &exitError{code: 2, msg: "usage: creditdesk ledger USER [--json]"}
	}
	ops, done, err := env.data(false)
	if err != nil {
		return err
	}
	defer done()
	es, err := ops.Ledger(pos[0], 1<<30)
	if err != nil {
		return err
	}
	out := make([]entryJSON, 0, len(es))
	for i := len(es) - 1; i >= 0; i-- { // oldest first
		e := es[i]
		out = append(out, entryJSON{ID: e.ID, Delta: e.Delta, BalanceAfter: e.BalanceAfter, Reason: e.Reason, Source: e.Source, Operator: e.Operator, At: e.At})
	}
	if *asJSON {
		return printJSON(env, out)
	}
	tw := tabwriter.NewWriter(env.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tAT\tDELTA\tBALANCE\tSOURCE\tOPERATOR\tREASON")
	for _, e := range out {
		who := e.Operator
		if who == "" {
			who = "-"
		}
		fmt.Fprintf(tw, "%d\t%s\t%+d\t%d\t%s\t%s\t%s\n", e.ID, e.At.Local().Format(time.DateTime), e.Delta, e.BalanceAfter, shown(e.Source), shown(who), shown(e.Reason))
	}
	return tw.Flush()
}

func runGrant(env *Env, args []string) error  { return adjust(env, "grant", args) }
func runRevoke(env *Env, args []string) error { return adjust(env, "revoke", args) }

func adjust(env *Env, verb string, args []string) error {
	fs := newFlags(env, verb)
	reason := fs.String("reason", "", "why (required; kept in the ledger)")
	force := false
	if verb == "revoke" {
		fs.BoolVar(&force, "force", false, "allow the balance to go below zero")
	}
	key := fs.String("key", "", "idempotency key: the same key twice changes the balance once")
	for _, a := range args {
		if len(a) > 1 && a[0] == '-' && a[1] >= '0' && a[1] <= '9' {
			other := map[string]string{"grant": "revoke", "revoke": "grant"}[verb]
			return &exitError{code: 2, msg: fmt.Sprintf("%s: N is a positive number of credits, got %s; to go the other way use creditdesk %s", verb, a, other)}
		}
	}
	pos, err := env.parse(fs, args)
	if err != nil {
		return err
	}
	use := fmt.Sprintf("usage: creditdesk %s USER N --reason TEXT", verb)
	if len(pos) != 2 {
		return &exitError{code: 2, msg: use}
	}
	n, err := strconv.ParseInt(strings.ReplaceAll(pos[1], ",", ""), 10, 64)
	if err != nil || n <= 0 {
		return &exitError{code: 2, msg: fmt.Sprintf("%s: N must be a positive whole number of credits, got %q", verb, pos[1])}
	}
	if strings.TrimSpace(*reason) == "" {
		return &exitError{code: 2, msg: verb + " needs --reason TEXT: every manual change says why"}
	}
	if verb == "revoke" {
		n = -n
	}
	ops, done, err := env.data(true)
	if err != nil {
		return err
	}
	defer done()
	start := time.Now()
	known, err := ops.UsersPage("", pos[0], 1000)
	if err != nil {
		return err
	}
	isNew := !slices.ContainsFunc(known, func(u billing.User) bool { return u.ID == pos[0] })
	e, err := ops.Adjust(env.ctx(), pos[0], n, *reason, force, *key)
	var insufficient *storage.ErrInsufficient
	if errors.As(err, &insufficient) {
		return fmt.Errorf("%v; nothing changed (pass --force to go below zero)", err)
	}
	if err != nil {
		return err
	}
	if *key != "" && e.At.Before(start.Add(-time.Second)) {
		fmt.Fprintf(env.Stdout, "%s: key %s was already used (entry %d, %+d credits on %s); nothing changed\n",
			pos[0], *key, e.ID, e.Delta, e.At.Local().Format(time.DateTime))
		return nil
	}
	fmt.Fprintf(env.Stdout, "%s: %+d credits, balance %s (entry %d)\n", pos[0], e.Delta, billing.Credits(e.BalanceAfter), e.ID)
	if isNew {
		fmt.Fprintf(env.Stderr, "note: %s was not a user yet; it is now (check the id if that is a surprise)\n", pos[0])
	}
	return nil
}

func runVerify(env *Env, args []string) error {
	fs := newFlags(env, "verify")
	if _, err := env.parse(fs, args); err != nil {
		return err
	}
	ops, done, err := env.data(false)
	if err != nil {
		return err
	}
	defer done()
	r, err := ops.Verify()
	if err != nil {
		return &exitError{code: 1, msg: "verify: " + err.Error()}
	}
	fmt.Fprintf(env.Stdout, "ok: %d users, %d ledger entries, %d events (%d applied); every invariant holds\n", r.Users, r.Entries, r.Events, r.Applied)
	return nil
}

func runSimulate(env *Env, args []string) error {
	fs := newFlags(env, "simulate")
	cfg := simulate.Config{}
	fs.StringVar(&cfg.URL, "url", "http://"+env.Config.Addr+env.Config.WebhookPath, "webhook URL")
	// The secret is never a flag: a command line is visible to every user
	// in ps. It comes from the environment (.env) or a file.
	secretFile := fs.String("secret-file", "", "read the webhook signing secret from FILE (default: STRIPE_WEBHOOK_SECRET)")
	cfg.Secret = env.Config.WebhookSecret
	fs.IntVar(&cfg.Count, "count", 100, "events to send")
	fs.Float64Var(&cfg.Rate, "rate", 0, "events per second (0: as fast as possible)")
	fs.IntVar(&cfg.Concurrency, "concurrency", 8, "requests in flight")
	fs.DurationVar(&cfg.Duration, "duration", 0, "stop after this long")
	fs.BoolVar(&cfg.Load, "load", false, "only independent pack checkouts (load testing)")
	fs.Uint64Var(&cfg.Seed, "seed", 0, "event stream seed (0: random)")
	if _, err := env.parse(fs, args); err != nil {
		return err
	}
	if *secretFile != "" {
		b, err := os.ReadFile(*secretFile)
		if err != nil {
			return &exitError{code: 2, msg: fmt.Sprintf("simulate --secret-file: %v", err)}
		}
		cfg.Secret = strings.TrimSpace(string(b))
	}
	if secrets := strings.Split(cfg.Secret, ","); cfg.Secret != "" {
		cfg.Secret = strings.TrimSpace(secrets[0])
	} else {
		return &exitError{code: 2, msg: "simulate needs the receiver's signing secret: set STRIPE_WEBHOOK_SECRET or pass --secret-file FILE"}
	}
	ctx, cancel := signalContext()
	defer cancel()
	rep, err := simulate.Run(ctx, cfg)
	if err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	if rep.Sent > 0 && rep.Errors == rep.Sent {
		why := strings.TrimPrefix(rep.FirstError, fmt.Sprintf("Post %q: ", cfg.URL))
		return &exitError{code: 1, msg: fmt.Sprintf("no response from %s: %s (is creditdesk running there?)", cfg.URL, why)}
	}
	fmt.Fprintln(env.Stdout, rep.String())
	if rep.OK < rep.Sent {
		msg := fmt.Sprintf("%d of %d events were not acknowledged", rep.Sent-rep.OK, rep.Sent)
		switch {
		case rep.ByStatus[400] > 0:
			msg += "; 400 means the receiver refused the signature: sign with the receiver's own STRIPE_WEBHOOK_SECRET"
		case rep.ByStatus[404] > 0:
			msg += "; 404 means nothing listens at that path: the receiver's path is /api/stripe/webhook"
		}
		return &exitError{code: 1, msg: msg}
	}
	return nil
}

func runAttention(env *Env, args []string) error {
	fs := newFlags(env, "attention")
	asJSON := fs.Bool("json", false, "print JSON")
	if _, err := env.parse(fs, args); err != nil {
		return err
	}
	ops, done, err := env.data(false)
	if err != nil {
		return err
	}
	defer done()
	items, err := ops.Attention()
	if err != nil {
		return err
	}
	if items == nil {
		items = []billing.AttentionItem{}
	}
	if *asJSON {
		return printJSON(env, items)
	}
	if len(items) == 0 {
		fmt.Fprintln(env.Stdout, "nothing needs you: every event is applied and every purchase resolved")
		return nil
	}
	tw := tabwriter.NewWriter(env.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SINCE\tKIND\tID\tUSER\tWHAT\tFIX")
	for _, it := range items {
		fix := map[string]string{"retry": "retry in the console (Attention, r)", "assign": "assign a type in the console (Attention, a)",
			"link": "link to a user in the console (Attention, l)"}[it.Action]
		if fix == "" {
			fix = "in the Stripe Dashboard"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", it.At.Local().Format(time.DateTime), it.Kind, shown(it.ID), shown(it.User), shown(it.Detail), fix)
	}
	return tw.Flush()
}
