package cli

import (
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"creditdesk/billing"
)

func TestHostileReasonIsPlainTextInTablesAndKeptInJSON(t *testing.T) {
	const hostile = "\u001b]0;PWNED\u0007\u001b[2Jimage\tfor\nZoë"
	db := filepath.Join(t.TempDir(), "hostile.db")
	st, svc := openSample(t, db)
	ctx := context.Background()
	if _, err := svc.Adjust(ctx, billing.Adjustment{User: "u1", Delta: 100, Reason: "welcome", Create: true}); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Spend(ctx, "app", "u1", 5, hostile, "k1"); err != nil {
		t.Fatal(err)
	}
	st.Close()

	code, out, stderr := run(t, nil, "ledger", "u1", "--db", db)
	if code != 0 {
		t.Fatalf("ledger: %d %s", code, stderr)
	}
	if strings.ContainsAny(out, "\u001b\u0007") || strings.Contains(out, "PWNED") {
		t.Fatalf("ledger prints terminal control:\n%q", out)
	}
	if lines := strings.Split(strings.TrimSpace(out), "\n"); len(lines) != 3 || !strings.Contains(lines[1]+lines[2], "image for Zoë") {
		t.Fatalf("want a header and two rows, the reason on one row:\n%s", out)
	}
	_, out, _ = run(t, nil, "ledger", "u1", "--json", "--db", db)
	var entries []struct {
		Reason string `json:"reason"`
	}
	if err := json.Unmarshal([]byte(out), &entries); err != nil || len(entries) != 2 {
		t.Fatalf("ledger --json: %v %s", err, out)
	}
	if entries[0].Reason != hostile && entries[1].Reason != hostile {
		t.Fatalf("JSON does not keep the reason as given: %+v", entries)
	}
}
