package cli

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"creditdesk/billing"
	"creditdesk/internal/safetext"
	"creditdesk/storage"
	"creditdesk/webhook"
)

// shown is s as a table row may show it: without control characters or
// escape sequences (safetext.Clean), since reasons, names and emails come
// from outside. JSON output keeps s as it is.
func shown(s string) string { return safetext.Clean(s) }

// newTable is a command's table on w, columns two spaces apart, with its
// header line written.
func newTable(w io.Writer, header string) *tabwriter.Writer {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, header)
	return tw
}

// printRows prints rows as a table under header, a line each from row; when
// there are none and empty is not "", the line empty instead.
func printRows[T any](env *Env, rows []T, empty, header string, row func(T) string) error {
	if len(rows) == 0 && empty != "" {
		fmt.Fprintln(env.Stdout, empty)
		return nil
	}
	tw := newTable(env.Stdout, header)
	for _, r := range rows {
		fmt.Fprintln(tw, row(r))
	}
	return tw.Flush()
}

// printList is items as JSON with asJSON (none is []), else printRows.
func printList[T any](env *Env, asJSON bool, items []T, empty, header string, row func(T) string) error {
	if asJSON {
		if items == nil {
			items = []T{}
		}
		return printJSON(env, items)
	}
	return printRows(env, items, empty, header, row)
}

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
	// A running creditdesk answers its socket at once; asking it first
	// spares waiting out the file's lock.
	if c, derr := webhook.DialAdmin(env.Config.DB); derr == nil {
		return c, func() {}, nil
	}
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

// fetch reads what a command shows with read, from env.data(false), and
// lets go of the database or the socket before the command prints it.
func fetch[T any](env *Env, read func(webhook.AdminService) (T, error)) (T, error) {
	svc, done, err := env.data(false)
	if err != nil {
		var zero T
		return zero, err
	}
	defer done()
	return read(svc)
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
	out, err := fetch(env, func(svc webhook.AdminService) ([]userJSON, error) {
		out := []userJSON{}
		after := ""
		for {
			page, err := svc.UsersPage(after, *filter, 1000)
			if err != nil {
				return nil, err
			}
			for _, u := range page {
				out = append(out, userJSON{ID: u.ID, Email: u.Email, Tier: u.Tier, Credits: u.Balance, StripeCustomerID: u.CustomerID})
			}
			if len(page) < 1000 {
				return out, nil
			}
			after = page[len(page)-1].ID
		}
	})
	if err != nil {
		return err
	}
	if *asJSON {
		return printJSON(env, out)
	}
	return printRows(env, out, "", "USER\tCREDITS\tTIER\tEMAIL\tCUSTOMER", func(u userJSON) string {
		return fmt.Sprintf("%s\t%d\t%s\t%s\t%s", shown(u.ID), u.Credits, shown(u.Tier), shown(u.Email), shown(u.StripeCustomerID))
	})
}

func runEvents(env *Env, args []string) error {
	fs := newFlags(env, "events")
	asJSON := fs.Bool("json", false, "print JSON")
	limit := fs.Int("limit", 50, "how many, newest first")
	state := fs.String("state", "", "only events in this state (received, waiting, applied, ignored, failed)")
	if _, err := env.parse(fs, args); err != nil {
		return err
	}
	switch billing.EventState(*state) {
	case "", billing.StateReceived, billing.StateWaiting, billing.StateApplied, billing.StateIgnored, billing.StateFailed:
	default:
		return &exitError{code: 2, msg: fmt.Sprintf("events: no state %q; the states are received, waiting, applied, ignored, failed", *state)}
	}
	evs, err := fetch(env, func(ops webhook.AdminService) ([]billing.EventRecord, error) {
		return ops.EventsInState(*state, *limit)
	})
	if err != nil {
		return err
	}
	return printList(env, *asJSON, evs, "", "SEQ\tRECEIVED\tTYPE\tUSER\tAMOUNT\tSTATE\tREASON", func(e billing.EventRecord) string {
		return fmt.Sprintf("%d\t%s\t%s\t%s\t%d\t%s\t%s", e.Seq, e.ReceivedAt.Local().Format(time.DateTime), shown(e.Type), shown(e.User), e.Amount, e.State, shown(e.Reason))
	})
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
	pos, err := env.parseN(fs, args, 1, "usage: creditdesk ledger USER [--json]")
	if err != nil {
		return err
	}
	es, err := fetch(env, func(ops webhook.AdminService) ([]billing.Entry, error) { return ops.Ledger(pos[0], 1<<30) })
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
	return printRows(env, out, "", "ID\tAT\tDELTA\tBALANCE\tSOURCE\tOPERATOR\tREASON", func(e entryJSON) string {
		return fmt.Sprintf("%d\t%s\t%+d\t%d\t%s\t%s\t%s", e.ID, e.At.Local().Format(time.DateTime), e.Delta, e.BalanceAfter,
			shown(e.Source), shown(cmp.Or(e.Operator, "-")), shown(e.Reason))
	})
}

func runVerify(env *Env, args []string) error {
	fs := newFlags(env, "verify")
	if _, err := env.parse(fs, args); err != nil {
		return err
	}
	r, err := fetch(env, webhook.AdminService.Verify)
	if err != nil {
		return &exitError{code: 1, msg: "verify: " + err.Error()}
	}
	fmt.Fprintf(env.Stdout, "ok: %d users, %d ledger entries, %d events (%d applied); every invariant holds\n", r.Users, r.Entries, r.Events, r.Applied)
	return nil
}

func runAttention(env *Env, args []string) error {
	fs := newFlags(env, "attention")
	asJSON := fs.Bool("json", false, "print JSON")
	if _, err := env.parse(fs, args); err != nil {
		return err
	}
	items, err := fetch(env, webhook.AdminService.Attention)
	if err != nil {
		return err
	}
	empty := "nothing needs you: every event is applied and every purchase resolved"
	return printList(env, *asJSON, items, empty, "SINCE\tKIND\tID\tUSER\tWHAT\tFIX", func(it billing.AttentionItem) string {
		fix := map[string]string{"retry": "creditdesk retry " + shown(it.ID) + " (or Attention, r)", "assign": "assign a type in the console (Attention, a)",
			"link": "link to a user in the console (Attention, l)"}[it.Action]
		switch {
		case fix != "":
		case it.Kind == billing.AttnBackup:
			fix = "make the backup directory writable, with room (serve's log says why)"
		case it.Kind == billing.AttnStore:
			fix = "free disk space or restore the last backup (serve's log says why)"
		default:
			fix = "in the Stripe Dashboard"
		}
		return fmt.Sprintf("%s\t%s\t%s\t%s\t%s\t%s", it.At.Local().Format(time.DateTime), it.Kind, shown(it.ID), shown(it.User), shown(it.Detail), fix)
	})
}
