package cli

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"creditdesk/billing"
)

func TestAPIKeyCommand(t *testing.T) {
	db := filepath.Join(t.TempDir(), "k.db")
	code, out, stderr := run(t, nil, "apikey", "create", "backend", "--db", db)
	if code != 0 {
		t.Fatalf("create: exit %d: %s", code, stderr)
	}
	lines := strings.Split(strings.TrimRight(out, "\n"), "\n")
	key := lines[len(lines)-1]
	if !strings.HasPrefix(key, "cdk_") || strings.ContainsAny(key, " \t") || len(key) < 40 {
		t.Fatalf("last line %q is not the key alone:\n%s", key, out)
	}
	if code, _, stderr := run(t, nil, "apikey", "create", "backend", "--db", db); code == 0 || !strings.Contains(stderr, "exists") {
		t.Fatalf("second create with the same name: exit %d %q", code, stderr)
	}

	code, out, _ = run(t, nil, "apikey", "list", "--db", db)
	if code != 0 || !strings.Contains(out, "backend") || !strings.Contains(out, "active") || !strings.Contains(out, key[len(key)-4:]) {
		t.Fatalf("list: exit %d:\n%s", code, out)
	}
	if strings.Contains(out, key) {
		t.Fatal("list printed the key")
	}

	authenticate := func() bool {
		st := openTestStore(t, db)
		defer st.Close()
		name, ok := billing.NewService(st, billing.Options{}).AuthenticateAPIKey(key)
		return ok && name == "backend"
	}
	if !authenticate() {
		t.Fatal("the printed key does not authenticate")
	}
	if code, out, stderr := run(t, nil, "apikey", "revoke", "backend", "--db", db); code != 0 || !strings.Contains(out, "Revoked") {
		t.Fatalf("revoke: exit %d %s %s", code, out, stderr)
	}
	if authenticate() {
		t.Fatal("the revoked key still authenticates")
	}
	code, out, _ = run(t, nil, "apikey", "list", "--json", "--db", db)
	var ks []map[string]any
	if err := json.Unmarshal([]byte(out), &ks); code != 0 || err != nil || len(ks) != 1 || ks[0]["revoked_at"] == nil {
		t.Fatalf("list --json: exit %d %v:\n%s", code, err, out)
	}
	if code, _, stderr := run(t, nil, "apikey", "revoke", "nope", "--db", db); code == 0 || !strings.Contains(stderr, "no API key named") {
		t.Fatalf("revoke unknown: exit %d %q", code, stderr)
	}
	for _, args := range [][]string{{"apikey"}, {"apikey", "create"}, {"apikey", "rotate", "x"}, {"apikey", "list", "extra"}} {
		if code, _, stderr := run(t, nil, append(args, "--db", db)...); code != 2 || !strings.Contains(stderr, "usage: creditdesk apikey") {
			t.Errorf("%v: exit %d %q", args, code, stderr)
		}
	}
}

func TestBadRateLimitIsOneLine(t *testing.T) {
	t.Setenv("CREDITDESK_CHECKOUT_RATE", "lots")
	db := filepath.Join(t.TempDir(), "r.db")
	code, _, stderr := run(t, map[string]string{"STRIPE_WEBHOOK_SECRET": "whsec_x"}, "serve", "--db", db, "--addr", "127.0.0.1:0")
	if code == 0 || !strings.Contains(stderr, "CREDITDESK_CHECKOUT_RATE") || strings.Count(strings.TrimSpace(stderr), "\n") > 0 {
		t.Fatalf("exit %d, stderr %q", code, stderr)
	}
}
