package cli

import (
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"creditdesk/internal/config"
	"creditdesk/internal/fixtures"
)

// simulate --corpus replays the real Stripe events at a running receiver:
// each one is acknowledged, stored once under a fresh id, and a second run
// does not collide with the first.
func TestSimulateCorpusIsStoredOnceEach(t *testing.T) {
	dir := fixtures.Dir(t, "stripe-events-2020")
	const secret = "whsec_corpus_test"
	db := filepath.Join(t.TempDir(), "corpus.db")
	a := testApp(t, config.Config{DB: db, WebhookSecret: secret}, appOptions{requireSecret: true})
	defer a.stop()
	env := map[string]string{"STRIPE_WEBHOOK_SECRET": secret}
	line := regexp.MustCompile(`^sent 150 in [0-9.]+s: [0-9]+ events/s, ack p50 .* max .*, 200×150\n$`)
	for round := 1; round <= 2; round++ {
		code, out, stderr := run(t, env, "simulate", "--corpus", dir, "--count", "150", "--concurrency", "8", "--url", a.url)
		if code != 0 || !line.MatchString(out) {
			t.Fatalf("round %d: exit %d, %q %q", round, code, out, stderr)
		}
		if st := a.svc.Stats(); st.Received != uint64(150*round) || st.Duplicates != 0 || st.Events != uint64(150*round) {
			t.Fatalf("round %d: serve received %d, %d duplicates, stores %d events; want %d, 0, %d",
				round, st.Received, st.Duplicates, st.Events, 150*round, 150*round)
		}
	}
	if code, out, _ := run(t, nil, "verify", "--db", db); code != 0 || !strings.HasPrefix(out, "ok:") {
		t.Fatalf("verify: %d %q", code, out)
	}
}

func TestSimulateCorpusMistakesAreOneLine(t *testing.T) {
	env := map[string]string{"STRIPE_WEBHOOK_SECRET": "whsec_x"}
	missing := filepath.Join(t.TempDir(), "none")
	code, _, stderr := run(t, env, "simulate", "--corpus", missing, "--count", "1", "--url", "http://127.0.0.1:1/x")
	if code != 2 || stderr != "creditdesk: simulate --corpus: open "+missing+": no such file or directory\n" || strings.Count(stderr, "\n") > 1 {
		t.Errorf("missing corpus: %d %q", code, stderr)
	}
	code, _, stderr = run(t, env, "simulate", "--corpus", t.TempDir(), "--count", "1", "--url", "http://127.0.0.1:1/x")
	if code != 2 || !strings.Contains(stderr, "simulate --corpus: no Stripe events (*.json files) in") {
		t.Errorf("empty corpus: %d %q", code, stderr)
	}
}
