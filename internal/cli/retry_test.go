package cli

import (
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"creditdesk/billing"
	"creditdesk/internal/testkit"
)

// TestRetryCommandQueuesWaitingEventsThroughServe: a headless serve needs
// no console to retry: `creditdesk retry` reaches it through the socket and
// the retry is recorded with the operator.
func TestRetryCommandQueuesWaitingEventsThroughServe(t *testing.T) {
	db := filepath.Join(t.TempDir(), "r.db")
	a := startServeApp(t, db)
	defer a.stop()
	feed, stop := a.svc.Subscribe()
	defer stop()

	now := time.Now().Unix()
	body := []byte(fmt.Sprintf(`{"id":"evt_inv_wait","object":"event","type":"invoice.paid","created":%d,"api_version":"2023-10-16",
		"data":{"object":{"id":"in_wait","object":"invoice","customer":"cus_w","subscription":"sub_w","status":"paid","paid":true,
		"lines":{"data":[{"price":{"id":"price_nowhere"},"period":{"start":%d,"end":%d}}]}}}}`, now, now, now+30*86400))
	if code, err := deliver(http.DefaultClient, a.url, body); err != nil || code != 200 {
		t.Fatalf("deliver: %d %v", code, err)
	}
	testkit.Eventually(t, 5*time.Second, "the invoice waits", func() bool {
		evs, _ := a.svc.EventsInState("waiting", 10)
		return len(evs) == 1
	})

	if code, _, stderr := run(t, nil, "retry", "--db", db); code != 2 || !strings.Contains(stderr, "usage") {
		t.Fatalf("retry without what: %d %q", code, stderr)
	}
	if code, out, stderr := run(t, nil, "retry", "--all", "--db", db); code != 0 || !strings.Contains(out, "queued evt_inv_wait again; creditdesk applies it now") {
		t.Fatalf("retry --all: %d %q %q", code, out, stderr)
	}
	if code, out, _ := run(t, nil, "retry", "--failed", "--db", db); code != 0 || !strings.Contains(out, "nothing to retry") {
		t.Fatalf("retry --failed with nothing failed: %d %q", code, out)
	}
	if code, _, stderr := run(t, nil, "retry", "evt_nope", "--db", db); code == 0 || !strings.Contains(stderr, "evt_nope") {
		t.Fatalf("retry of an unknown event: %d %q", code, stderr)
	}
	want := billing.LocalOperator()
	for {
		select {
		case act := <-feed:
			if act.Type == "retry" {
				if act.Operator != want || act.Reason != "evt_inv_wait" {
					t.Fatalf("retry activity %+v, want operator %s", act, want)
				}
				return
			}
		case <-time.After(5 * time.Second):
			t.Fatal("the retry never showed in the live feed")
		}
	}
}
