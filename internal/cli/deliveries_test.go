package cli

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"creditdesk/billing"
	"creditdesk/internal/appwebhook"
)

// appwebhook secret shows a new secret once, keeps it 0600 beside the
// database, and on rotation names the old one by its hint only.
func TestAppWebhookSecretCreatesAndRotates(t *testing.T) {
	db := filepath.Join(t.TempDir(), "s.db")
	code, out, errOut := run(t, nil, "appwebhook", "secret", "--db", db)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	first := lines[len(lines)-1]
	if !strings.HasPrefix(first, "whsec_") || !strings.Contains(out, "shown only this once") {
		t.Fatalf("output %q", out)
	}
	fi, err := os.Stat(appwebhook.SecretPath(db))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("secret file %v %v", fi, err)
	}
	code, out, errOut = run(t, nil, "appwebhook", "secret", "--db", db)
	if code != 0 || strings.Contains(out+errOut, first) || !strings.Contains(out, appwebhook.Hint(first)) {
		t.Fatalf("rotation printed the old secret or not its hint: %q %q", out, errOut)
	}
	if code, _, errOut := run(t, nil, "appwebhook", "rotate", "--db", db); code != 2 || !strings.Contains(errOut, "usage") {
		t.Fatalf("bad verb: %d %s", code, errOut)
	}
}

// deliveries lists what the outbox holds, --failed only the failed,
// --json as JSON; resend queues one again (with the database free, for
// the next start).
func TestDeliveriesListsAndResends(t *testing.T) {
	db := filepath.Join(t.TempDir(), "d.db")
	st := openTestStore(t, db)
	ep := billing.AppEndpoint{ID: appwebhook.EndpointID("https://app.example/hooks?token=x"), URL: "https://app.example/hooks?token=x"}
	svc := billing.NewService(st, billing.Options{Outbox: billing.OutboxConfig{Endpoints: []billing.AppEndpoint{ep}}})
	for _, u := range []string{"u1", "u2"} {
		if _, err := svc.Adjust(context.Background(), billing.Adjustment{User: u, Delta: 10, Reason: "hi", Create: true, Key: u}); err != nil {
			t.Fatal(err)
		}
	}
	due, _, _ := svc.DueMessages(10, 1)
	if err := svc.RecordDeliveries([]billing.DeliveryResult{{Seq: due[0].Seq, At: due[0].CreatedAt.Add(billing.GiveUpAfter), Status: 500, Response: "oops"},
		{Seq: due[1].Seq, At: due[1].CreatedAt, OK: true, Status: 200}}); err != nil {
		t.Fatal(err)
	}
	st.Close()

	code, out, errOut := run(t, nil, "deliveries", "--db", db)
	if code != 0 || !strings.Contains(out, "credits.granted") || !strings.Contains(out, "failed") || !strings.Contains(out, "delivered") ||
		!strings.Contains(out, "500 oops") || strings.Contains(out, "token=x") {
		t.Fatalf("deliveries: %d %q %q", code, out, errOut)
	}
	code, out, _ = run(t, nil, "deliveries", "--failed", "--json", "--db", db)
	var ds []billing.Delivery
	if code != 0 || json.Unmarshal([]byte(out), &ds) != nil || len(ds) != 1 || ds[0].State != billing.DeliveryFailed || ds[0].Seq != due[0].Seq {
		t.Fatalf("--failed --json: %d %s", code, out)
	}
	code, out, errOut = run(t, nil, "deliveries", "resend", ds[0].ID, "--db", db)
	if code != 0 || !strings.Contains(out, "next starts") {
		t.Fatalf("resend: %d %q %q", code, out, errOut)
	}
	code, out, _ = run(t, nil, "deliveries", "--failed", "--db", db)
	if code != 0 || !strings.Contains(out, "no failed messages") {
		t.Fatalf("after resend: %q", out)
	}
	if code, _, errOut := run(t, nil, "deliveries", "resend", "nope", "--db", db); code != 2 || !strings.Contains(errOut, "not a delivery") {
		t.Fatalf("bad id: %d %s", code, errOut)
	}
}
