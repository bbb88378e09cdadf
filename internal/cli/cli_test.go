package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"creditdesk/billing"
	"creditdesk/internal/config"
)

func run(t *testing.T, env map[string]string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	t.Chdir(t.TempDir()) // no .env, no creditdesk.toml
	for _, k := range []string{"STRIPE_SECRET_KEY", "STRIPE_WEBHOOK_SECRET", "CREDITDESK_DB", "CREDITDESK_ADDR", "CREDITDESK_CONFIG"} {
		t.Setenv(k, env[k])
	}
	var out, errb bytes.Buffer
	code = Main(args, &out, &errb)
	return code, out.String(), errb.String()
}

func TestEveryCommandParsesItsHelp(t *testing.T) {
	for name := range commands {
		if code, _, stderr := run(t, nil, name, "-h"); code != 0 {
			t.Errorf("%s -h: exit %d: %s", name, code, stderr)
		}
	}
}

// TestEveryCommandTakesTheCommonFlags: --db and --config are accepted by
// every command, after its name or before it, so one shell alias
// (creditdesk --db F --config C) works for all of them.
func TestEveryCommandTakesTheCommonFlags(t *testing.T) {
	dir := t.TempDir()
	db, cat := filepath.Join(dir, "x.db"), filepath.Join(dir, "creditdesk.toml")
	for name := range commands {
		for _, args := range [][]string{
			{name, "--db", db, "--config", cat, "-h"},
			{"--db", db, "--config=" + cat, name, "-h"},
			{name, "--db=" + db, "--config", cat, "--no-such-flag"},
		} {
			code, _, stderr := run(t, nil, args...)
			if strings.Contains(stderr, "not defined: -db") || strings.Contains(stderr, "not defined: -config") {
				t.Errorf("%q: %s", args, stderr)
			}
			if args[len(args)-1] == "-h" && (code != 0 || strings.Contains(stderr, "flag provided but not defined")) {
				t.Errorf("%q: exit %d: %s", args, code, stderr)
			}
			if args[len(args)-1] == "--no-such-flag" && name != "help" && (code != 2 || !strings.Contains(stderr, "not defined: -no-such-flag")) {
				t.Errorf("%q: exit %d, want 2 for the unknown flag alone: %s", args, code, stderr)
			}
		}
	}
}

// TestCatalogCommandsHonourConfig: a command that reads a catalog reads the
// one --config names, whatever stands in the working directory.
func TestCatalogCommandsHonourConfig(t *testing.T) {
	dir := t.TempDir()
	db, cat := filepath.Join(dir, "x.db"), filepath.Join(dir, "elsewhere.toml")
	if err := os.WriteFile(cat, []byte("[packs.topup]\ncredits = 1000\namount = 900\ncurrency = \"usd\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if code, _, stderr := run(t, nil, "grant", "u1", "5", "--reason", "seed", "--create", "--db", db); code != 0 {
		t.Fatalf("grant: exit %d: %s", code, stderr)
	}
	code, out, stderr := run(t, nil, "--db", db, "--config", cat, "catalog")
	if code != 0 || !strings.Contains(out, "topup") {
		t.Errorf("catalog --config: exit %d, stdout %q, stderr %q; want the topup pack", code, out, stderr)
	}
	code, _, stderr = run(t, nil, "catalog", "--db", db, "--config", filepath.Join(dir, "missing.toml"))
	if code == 0 || !strings.Contains(stderr, "missing.toml") {
		t.Errorf("catalog --config missing.toml: exit %d, stderr %q; want an error naming the file", code, stderr)
	}
	code, out, stderr = run(t, nil, "webhook", "setup", "https://billing.example.com/api/stripe/webhook", "--dry-run", "--config", cat)
	if code != 0 || !strings.Contains(out, "would create") {
		t.Errorf("webhook setup --config: exit %d, stdout %q, stderr %q", code, out, stderr)
	}
}

func TestSetupMistakesAreOneLineWithTheFix(t *testing.T) {
	db := filepath.Join(t.TempDir(), "x.db")
	cases := []struct {
		name string
		env  map[string]string
		args []string
		want string
	}{
		{"publishable key", map[string]string{"STRIPE_SECRET_KEY": "pk_test_abcdefgh1234", "STRIPE_WEBHOOK_SECRET": "whsec_x"},
			[]string{"serve", "--db", db}, "publishable key (pk_…): use the secret key (sk_…)"},
		{"no webhook secret", nil, []string{"serve", "--db", db}, "STRIPE_WEBHOOK_SECRET is not set"},
		{"api key as webhook secret", map[string]string{"STRIPE_WEBHOOK_SECRET": "sk_test_abcdefgh1234"},
			[]string{"serve", "--db", db}, "takes the endpoint's signing secret"},
		{"grant without reason", nil, []string{"grant", "u1", "5", "--db", db}, "needs --reason"},
		{"unknown command", nil, []string{"frobnicate"}, "unknown command"},
	}
	for _, c := range cases {
		code, _, stderr := run(t, c.env, c.args...)
		if code == 0 || !strings.Contains(stderr, c.want) {
			t.Errorf("%s: exit %d, stderr %q, want %q", c.name, code, stderr, c.want)
		}
		if lines := strings.Count(strings.TrimSpace(stderr), "\n"); c.name != "unknown command" && lines > 0 {
			t.Errorf("%s: %d lines of error, want one: %q", c.name, lines+1, stderr)
		}
		if strings.Contains(stderr, "abcdefgh1234") {
			t.Errorf("%s: the key leaked into the error: %q", c.name, stderr)
		}
	}
}

func TestGrantRevokeUsersLedgerJSON(t *testing.T) {
	db := filepath.Join(t.TempDir(), "cli.db")
	if code, out, stderr := run(t, nil, "grant", "u1", "1,500", "--reason", "welcome", "--create", "--db", db); code != 0 || !strings.Contains(out, "balance 1,500") {
		t.Fatalf("grant: %d %q %q", code, out, stderr)
	}
	if code, _, stderr := run(t, nil, "revoke", "u1", "2000", "--reason", "abuse", "--db", db); code == 0 || !strings.Contains(stderr, "--force") {
		t.Fatalf("revoke beyond balance: %d %q", code, stderr)
	}
	if code, out, _ := run(t, nil, "revoke", "--db", db, "u1", "500", "--reason", "abuse"); code != 0 || !strings.Contains(out, "balance 1,000") {
		t.Fatalf("revoke: %d %q", code, out)
	}
	_, out, _ := run(t, nil, "users", "--json", "--db", db)
	var users []map[string]any
	if err := json.Unmarshal([]byte(out), &users); err != nil || len(users) != 1 || users[0]["credits"] != float64(1000) || users[0]["id"] != "u1" {
		t.Fatalf("users --json: %v %s", err, out)
	}
	for _, k := range []string{"id", "email", "tier", "credits", "stripe_customer_id"} {
		if _, ok := users[0][k]; !ok {
			t.Errorf("users --json lacks %q", k)
		}
	}
	_, out, _ = run(t, nil, "ledger", "u1", "--json", "--db", db)
	var entries []map[string]any
	if err := json.Unmarshal([]byte(out), &entries); err != nil || len(entries) != 2 {
		t.Fatalf("ledger --json: %v %s", err, out)
	}
	if entries[0]["delta"] != float64(1500) || entries[1]["balance_after"] != float64(1000) || entries[1]["source"] != "manual" || entries[1]["reason"] != "abuse" {
		t.Fatalf("ledger entries %v", entries)
	}
	if code, out, _ := run(t, nil, "verify", "--db", db); code != 0 || !strings.HasPrefix(out, "ok:") {
		t.Fatalf("verify: %d %q", code, out)
	}
}

func TestCommandOnHeldDatabaseSaysWhoHoldsIt(t *testing.T) {
	db := filepath.Join(t.TempDir(), "held.db")
	st := openTestStore(t, db)
	defer st.Close()
	code, _, stderr := run(t, nil, "users", "--db", db)
	if code == 0 || !strings.Contains(stderr, "in use by creditdesk (pid") {
		t.Fatalf("exit %d: %q", code, stderr)
	}
}

func TestLiveCaptureNeedsYes(t *testing.T) {
	code, _, stderr := run(t, map[string]string{"STRIPE_SECRET_KEY": "sk_live_abcdefgh1234"}, "capture", "pi_123", "--db", filepath.Join(t.TempDir(), "l.db"))
	if code == 0 || !strings.Contains(stderr, "--yes") || strings.Contains(stderr, "abcdefgh1234") {
		t.Fatalf("exit %d: %q", code, stderr)
	}
}

// While creditdesk holds the database, the data commands reach it through
// its admin socket instead of failing on the lock.
func TestCommandsReachARunningCreditdesk(t *testing.T) {
	db := filepath.Join(t.TempDir(), "run.db")
	a := testApp(t, config.Config{DB: db, WebhookSecret: "whsec_running"}, appOptions{requireSecret: true})
	defer a.stop()
	feed, stop := a.svc.Subscribe()
	defer stop()

	if code, out, stderr := run(t, nil, "grant", "u1", "700", "--reason", "support", "--create", "--db", db); code != 0 || !strings.Contains(out, "balance 700") {
		t.Fatalf("grant while running: %d %q %q", code, out, stderr)
	}
	if got := <-feed; got.Kind != billing.ActivityManual || got.Amount != 700 {
		t.Fatalf("the running console did not see the grant: %+v", got)
	}
	if code, _, stderr := run(t, nil, "revoke", "u1", "900", "--reason", "x", "--db", db); code == 0 || !strings.Contains(stderr, "--force") {
		t.Fatalf("revoke beyond balance while running: %d %q", code, stderr)
	}
	_, out, _ := run(t, nil, "users", "--json", "--db", db)
	if !strings.Contains(out, `"credits": 700`) {
		t.Fatalf("users while running: %s", out)
	}
	if code, out, _ := run(t, nil, "verify", "--db", db); code != 0 || !strings.HasPrefix(out, "ok:") {
		t.Fatalf("verify while running: %d %q", code, out)
	}
	code, out, stderr := run(t, nil, "apikey", "create", "backend", "--db", db)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	key := lines[len(lines)-1]
	if code != 0 || !strings.HasPrefix(key, "cdk_") {
		t.Fatalf("apikey create while running: %d %q %q", code, out, stderr)
	}
	if name, ok := a.svc.AuthenticateAPIKey(key); !ok || name != "backend" {
		t.Fatalf("the running process does not accept the new key: %q %v", name, ok)
	}
}

func TestAttentionCommandListsWhatNeedsTheOperator(t *testing.T) {
	db := filepath.Join(t.TempDir(), "a.db")
	st, svc := openSample(t, db)
	body := []byte(`{"id":"evt_m","object":"event","type":"checkout.session.completed","created":1700000000,"data":{"object":{"id":"cs_m","mode":"payment","payment_status":"paid","metadata":{"user_id":"u1","type":"mystery"}}}}`)
	if _, _, err := svc.Ingest(body, "test"); err != nil {
		t.Fatal(err)
	}
	svc.ProcessPending(context.Background())
	st.Close()
	code, out, _ := run(t, nil, "attention", "--db", db)
	if code != 0 || !strings.Contains(out, "unresolved") || !strings.Contains(out, "cs_m") || !strings.Contains(out, "Attention, a") {
		t.Fatalf("attention: %d %q", code, out)
	}
}

// TestSimulateNeverTakesTheSecretAsAFlag: a secret on the command line is
// visible to every user in ps; simulate reads it from the environment or a
// file.
func TestSimulateNeverTakesTheSecretAsAFlag(t *testing.T) {
	code, _, stderr := run(t, nil, "simulate", "--secret", "whsec_x", "--count", "1")
	if code != 2 || !strings.Contains(stderr, "flag provided but not defined: -secret") {
		t.Fatalf("simulate --secret: %d %q", code, stderr)
	}
	code, _, stderr = run(t, nil, "simulate", "--count", "1")
	if code != 2 || !strings.Contains(stderr, "STRIPE_WEBHOOK_SECRET or pass --secret-file") {
		t.Fatalf("simulate without a secret: %d %q", code, stderr)
	}
	code, _, stderr = run(t, nil, "simulate", "--secret-file", filepath.Join(t.TempDir(), "none"), "--count", "1")
	if code != 2 || !strings.Contains(stderr, "no such file") {
		t.Fatalf("simulate with a missing secret file: %d %q", code, stderr)
	}
}
