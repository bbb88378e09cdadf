package cli

import (
	"encoding/csv"
	"encoding/json"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
)

// TestExportStreamsTheLedgerPurchasesAndEvents: through a running serve
// and straight from the file, the ledger comes out as CSV with its header
// row (or JSON lines), filtered by user and time; purchases and events too.
func TestExportStreamsTheLedgerPurchasesAndEvents(t *testing.T) {
	db := filepath.Join(t.TempDir(), "x.db")
	a := startServeApp(t, db)
	for i := range 3 {
		_, _, body := packEvent(i) // users u00, u01, u02: +10 each
		if code, err := deliver(http.DefaultClient, a.url, body); err != nil || code != 200 {
			t.Fatalf("deliver: %d %v", code, err)
		}
	}
	waitApplied(t, a.svc, 3)
	if code, _, stderr := run(t, nil, "grant", "u01", "5", "--reason", "goodwill, \"quoted\"", "--create", "--db", db); code != 0 {
		t.Fatal(stderr)
	}

	check := func(when string) {
		code, out, stderr := run(t, nil, "export", "ledger", "--db", db)
		if code != 0 {
			t.Fatalf("%s: export ledger: %d %q", when, code, stderr)
		}
		rows, err := csv.NewReader(strings.NewReader(out)).ReadAll()
		if err != nil || len(rows) != 5 || strings.Join(rows[0], ",") != "id,user,delta,balance_after,kind,reason,source,operator,at" {
			t.Fatalf("%s: ledger CSV: %v\n%s", when, err, out)
		}
		last := rows[len(rows)-1]
		if last[1] != "u02" {
			t.Errorf("%s: rows go user by user: %v", when, rows)
		}
		code, out, _ = run(t, nil, "export", "ledger", "--user", "u01", "--format", "jsonl", "--db", db)
		lines := strings.Split(strings.TrimSpace(out), "\n")
		var e struct {
			User     string `json:"user"`
			Delta    int64  `json:"delta"`
			Reason   string `json:"reason"`
			Operator string `json:"operator"`
		}
		if code != 0 || len(lines) != 2 || json.Unmarshal([]byte(lines[1]), &e) != nil || e.User != "u01" || e.Delta != 5 ||
			e.Reason != `goodwill, "quoted"` || !strings.HasPrefix(e.Operator, "local:") {
			t.Fatalf("%s: one user's ledger as JSON lines: %d %q", when, code, out)
		}
		if _, out, _ = run(t, nil, "export", "ledger", "--since", "2000-01-01", "--until", "2001-01-01", "--db", db); strings.TrimSpace(out) != "" {
			t.Errorf("%s: a window with nothing in it: %q", when, out)
		}
		_, out, _ = run(t, nil, "export", "purchases", "--db", db)
		if rows, _ := csv.NewReader(strings.NewReader(out)).ReadAll(); len(rows) != 4 || rows[0][0] != "id" {
			t.Errorf("%s: purchases: %q", when, out)
		}
		_, out, _ = run(t, nil, "export", "events", "--format", "jsonl", "--since", "1h", "--db", db)
		if n := len(strings.Split(strings.TrimSpace(out), "\n")); n != 3 {
			t.Errorf("%s: events: %d lines %q", when, n, out)
		}
	}
	check("while serve runs")
	a.stop()
	check("from the file")
	if code, _, stderr := run(t, nil, "export", "grants", "--db", db); code != 2 || !strings.Contains(stderr, "usage") {
		t.Errorf("unknown export: %d %q", code, stderr)
	}
	if code, _, stderr := run(t, nil, "export", "ledger", "--since", "yesterday", "--db", db); code != 2 || !strings.Contains(stderr, "30d") {
		t.Errorf("bad --since: %d %q", code, stderr)
	}
}
