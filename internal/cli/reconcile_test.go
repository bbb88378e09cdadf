package cli

import (
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"creditdesk/internal/stripeapi/stripemock"
)

// TestReconcileCommandExitsNonZeroOnADifference: while serve runs, a
// checkout Stripe lists and serve never received is one line with its fix
// and exit status 1; once Stripe lists only what serve has, exit 0.
func TestReconcileCommandExitsNonZeroOnADifference(t *testing.T) {
	mock := stripemock.Start(t)
	dir := t.TempDir()
	a := startServeApp(t, filepath.Join(dir, "cd.db"))
	defer a.stop()
	if code, err := deliver(http.DefaultClient, a.url, reportEvent("evt_u", "checkout.session.completed", reportPack("cs_u", "alice", 2000, "usd"))); err != nil || code != 200 {
		t.Fatalf("deliver: %d %v", code, err)
	}
	waitApplied(t, a.svc, 1)
	var mu sync.Mutex // the proxy's handler reads what the test sets
	sessions := []string{"cs_u", "cs_gone"}
	mock.Override("GET /v1/checkout/sessions", func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		var data []string
		for _, id := range sessions {
			data = append(data, fmt.Sprintf(`{"id":%q,"object":"checkout.session","created":%d,"mode":"payment","payment_status":"paid","status":"complete","amount_total":2000,"currency":"usd","payment_intent":"pi_%s"}`,
				id, time.Now().Add(-time.Hour).Unix(), id))
		}
		fmt.Fprintf(w, `{"object":"list","url":"/v1/checkout/sessions","has_more":false,"data":[%s]}`, strings.Join(data, ","))
	})
	code, out, stderr := runStripe(t, dir, mock, "sk_test_123", "reconcile", "--since", "7d")
	if code != 1 || strings.Count(strings.TrimSpace(out), "\n") != 0 || !strings.Contains(out, "missing    cs_gone: checkout completed in Stripe (20.00 USD)") ||
		!strings.Contains(out, "creditdesk resync --since") || !strings.Contains(stderr, "1 difference between Stripe and creditdesk") {
		t.Fatalf("reconcile with a gap: exit %d\nstdout %q\nstderr %q", code, out, stderr)
	}
	mu.Lock()
	sessions = []string{"cs_u"}
	mu.Unlock()
	code, out, stderr = runStripe(t, dir, mock, "sk_test_123", "reconcile", "--json")
	if code != 0 || !strings.Contains(out, `"differences": []`) || !strings.Contains(out, `"checkout": 1`) {
		t.Fatalf("reconcile that agrees: exit %d\nstdout %s\nstderr %q", code, out, stderr)
	}
}
