package cli

import (
	"bufio"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/mattn/go-isatty"

	"creditdesk/billing"
	"creditdesk/webhook"
)

// exportPage is how many records an export reads at a time: memory stays
// flat however many rows it writes.
const exportPage = 500

// exportFilter is an export's --since, --until and --user.
type exportFilter struct {
	since, until time.Time
	user         string
}

func (f exportFilter) keep(at time.Time, user string) bool {
	return (f.since.IsZero() || !at.Before(f.since)) && (f.until.IsZero() || at.Before(f.until)) &&
		(f.user == "" || user == f.user)
}

// runExport streams the ledger, purchases or events to stdout as CSV (with
// a header row) or JSON lines, a page at a time, also while creditdesk
// runs (through its socket).
func runExport(env *Env, args []string) error {
	fs := newFlags(env, "export")
	since := fs.String("since", "", "only records from then on: a duration back (30d, 72h) or a date (2026-11-01)")
	until := fs.String("until", "", "only records before this date (2026-12-01) or duration back")
	user := fs.String("user", "", "only this user's records")
	format := fs.String("format", "csv", "csv or jsonl")
	const use = "usage: creditdesk export ledger|purchases|events [--since 30d] [--until DATE] [--user ID] [--format csv|jsonl]"
	pos, err := env.parseN(fs, args, 1, use)
	if err != nil {
		return err
	}
	var f exportFilter
	now := time.Now()
	if f.since, err = parseWhen(*since, now); err != nil {
		return &exitError{code: 2, msg: "--since: " + err.Error()}
	}
	if f.until, err = parseWhen(*until, now); err != nil {
		return &exitError{code: 2, msg: "--until: " + err.Error()}
	}
	f.user = strings.TrimSpace(*user)
	if *format != "csv" && *format != "jsonl" {
		return &exitError{code: 2, msg: "--format is csv or jsonl"}
	}
	var export func(webhook.AdminService, exportFilter, *rowWriter) error
	switch pos[0] {
	case "ledger":
		export = exportLedger
	case "purchases":
		export = exportPurchases
	case "events":
		export = exportEvents
	default:
		return &exitError{code: 2, msg: use}
	}
	svc, done, err := env.data(false)
	if err != nil {
		return err
	}
	defer done()
	out := bufio.NewWriterSize(env.Stdout, 64<<10)
	w := &rowWriter{jsonl: *format == "jsonl", csv: csv.NewWriter(out), json: json.NewEncoder(out)}
	if f, ok := env.Stderr.(*os.File); ok && isatty.IsTerminal(f.Fd()) {
		w.progress = f
	}
	err = export(svc, f, w)
	w.csv.Flush()
	if ferr := out.Flush(); err == nil {
		err = ferr
	}
	if err == nil {
		err = w.csv.Error()
	}
	if w.progress != nil {
		fmt.Fprintf(w.progress, "\r%s rows written\n", billing.Credits(w.rows))
	}
	return err
}

// rowWriter writes one export's rows as CSV or JSON lines.
type rowWriter struct {
	jsonl    bool
	csv      *csv.Writer
	json     *json.Encoder
	header   bool
	rows     int64
	progress io.Writer
}

// row writes one record: its CSV cells under header, or v as a JSON line.
func (w *rowWriter) row(header, cells []string, v any) error {
	w.rows++
	if w.progress != nil && w.rows%10000 == 0 {
		fmt.Fprintf(w.progress, "\r%s rows…", billing.Credits(w.rows))
	}
	if w.jsonl {
		return w.json.Encode(v)
	}
	if !w.header {
		w.header = true
		if err := w.csv.Write(header); err != nil {
			return err
		}
	}
	return w.csv.Write(cells)
}

var ledgerHeader = []string{"id", "user", "delta", "balance_after", "kind", "reason", "source", "operator", "at"}

// exportLedger writes every user's entries, user by user in id order, each
// user's oldest first.
func exportLedger(svc webhook.AdminService, f exportFilter, w *rowWriter) error {
	write := func(user string) error {
		es, err := svc.Ledger(user, 1<<30)
		if err != nil {
			return err
		}
		for i := len(es) - 1; i >= 0; i-- {
			e := es[i]
			if !f.keep(e.At, e.UserID) {
				continue
			}
			j := entryJSON{ID: e.ID, Delta: e.Delta, BalanceAfter: e.BalanceAfter, Reason: e.Reason, Source: e.Source, Operator: e.Operator, At: e.At}
			cells := []string{strconv.FormatUint(e.ID, 10), e.UserID, strconv.FormatInt(e.Delta, 10), strconv.FormatInt(e.BalanceAfter, 10),
				string(e.Kind), e.Reason, e.Source, e.Operator, e.At.UTC().Format(time.RFC3339Nano)}
			if err := w.row(ledgerHeader, cells, struct {
				User string `json:"user"`
				Kind string `json:"kind"`
				entryJSON
			}{e.UserID, string(e.Kind), j}); err != nil {
				return err
			}
		}
		return nil
	}
	if f.user != "" {
		return write(f.user)
	}
	after := ""
	for {
		us, err := svc.UsersPage(after, "", exportPage)
		if err != nil {
			return err
		}
		for _, u := range us {
			if err := write(u.ID); err != nil {
				return err
			}
		}
		if len(us) < exportPage {
			return nil
		}
		after = us[len(us)-1].ID
	}
}

var purchasesHeader = []string{"id", "user", "customer", "type", "kind", "mode", "status", "credits", "amount_total", "currency", "refunded_credits", "event", "created_at"}

// exportPurchases writes purchases newest first.
func exportPurchases(svc webhook.AdminService, f exportFilter, w *rowWriter) error {
	seq := func(p billing.Purchase) uint64 { return p.Seq }
	return newestFirst(svc.PurchasesPage, seq, func(p billing.Purchase) error {
		if !f.keep(p.CreatedAt, p.UserID) {
			return nil
		}
		cells := []string{p.ID, p.UserID, p.CustomerID, p.Type, string(p.Kind), p.Mode, p.Status, strconv.FormatInt(p.Credits, 10),
			strconv.FormatInt(p.AmountTotal, 10), p.Currency, strconv.FormatInt(p.RefundedCredits, 10), p.EventID, p.CreatedAt.UTC().Format(time.RFC3339Nano)}
		row := struct {
			ID              string    `json:"id"`
			User            string    `json:"user"`
			Customer        string    `json:"customer"`
			Type            string    `json:"type"`
			Kind            string    `json:"kind"`
			Mode            string    `json:"mode"`
			Status          string    `json:"status"`
			Credits         int64     `json:"credits"`
			AmountTotal     int64     `json:"amount_total"`
			Currency        string    `json:"currency"`
			RefundedCredits int64     `json:"refunded_credits"`
			Event           string    `json:"event"`
			CreatedAt       time.Time `json:"created_at"`
		}{p.ID, p.UserID, p.CustomerID, p.Type, string(p.Kind), p.Mode, p.Status, p.Credits, p.AmountTotal, p.Currency,
			p.RefundedCredits, p.EventID, p.CreatedAt}
		return w.row(purchasesHeader, cells, row)
	})
}

var eventsHeader = []string{"seq", "id", "type", "created", "api_version", "livemode", "received_at", "state", "reason", "user", "amount", "source"}

// exportEvents writes stored Stripe events (without payloads) newest first.
func exportEvents(svc webhook.AdminService, f exportFilter, w *rowWriter) error {
	seq := func(e billing.EventRecord) uint64 { return e.Seq }
	return newestFirst(svc.EventsPage, seq, func(e billing.EventRecord) error {
		if !f.keep(e.ReceivedAt, e.User) {
			return nil
		}
		cells := []string{strconv.FormatUint(e.Seq, 10), e.ID, e.Type, strconv.FormatInt(e.Created, 10), e.APIVersion, strconv.FormatBool(e.Livemode),
			e.ReceivedAt.UTC().Format(time.RFC3339Nano), string(e.State), e.Reason, e.User, strconv.FormatInt(e.Amount, 10), e.Source}
		return w.row(eventsHeader, cells, e)
	})
}

// newestFirst calls each for every record page reads, exportPage at a time
// from the newest; seq is a record's place in that order (1 the oldest).
func newestFirst[T any](page func(before uint64, limit int) ([]T, error), seq func(T) uint64, each func(T) error) error {
	var before uint64
	for {
		rs, err := page(before, exportPage)
		if err != nil {
			return err
		}
		for _, r := range rs {
			if err := each(r); err != nil {
				return err
			}
		}
		if len(rs) < exportPage || seq(rs[len(rs)-1]) <= 1 {
			return nil
		}
		before = seq(rs[len(rs)-1])
	}
}

// parseWhen reads "30d", "72h" (that long before now) or a date
// (2026-11-01, midnight UTC); "" is no bound.
func parseWhen(s string, now time.Time) (time.Time, error) {
	s = strings.TrimSpace(s)
	switch {
	case s == "":
		return time.Time{}, nil
	case strings.HasSuffix(s, "d"):
		n, err := strconv.Atoi(strings.TrimSuffix(s, "d"))
		if err != nil || n < 0 {
			return time.Time{}, fmt.Errorf("%q: a number of days such as 30d, a duration such as 72h, or a date such as 2026-11-01", s)
		}
		return now.AddDate(0, 0, -n), nil
	}
	if d, err := time.ParseDuration(s); err == nil {
		return now.Add(-d), nil
	}
	t, err := time.Parse(time.DateOnly, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("%q: a number of days such as 30d, a duration such as 72h, or a date such as 2026-11-01", s)
	}
	return t, nil
}
