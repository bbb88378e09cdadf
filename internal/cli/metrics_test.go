package cli

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"creditdesk/billing"
	"creditdesk/internal/config"
	"creditdesk/internal/metrics"
	"creditdesk/internal/testkit"
)

// TestMetricsCountKnownTraffic: after known traffic (signed events, a
// redelivery, a bad signature, spends through the API), the scraped figures
// are exactly that traffic.
func TestMetricsCountKnownTraffic(t *testing.T) {
	m := metrics.New()
	bound, stop, err := metrics.Serve("127.0.0.1:0", m)
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	a := testApp(t, config.Config{DB: filepath.Join(t.TempDir(), "m.db"), WebhookSecret: crashSecret},
		appOptions{requireSecret: true, mode: "serve", metrics: m})
	defer a.stop()

	const n = 12
	var bodies [][]byte
	for i := range n {
		_, _, body := packEvent(i) // 10 credits each, 12 users
		bodies = append(bodies, body)
		if code, err := deliver(http.DefaultClient, a.url, body); err != nil || code != 200 {
			t.Fatalf("deliver %d: %d %v", i, code, err)
		}
	}
	if code, _ := deliver(http.DefaultClient, a.url, bodies[0]); code != 200 {
		t.Fatal("redelivery must be acknowledged")
	}
	bad, _ := http.Post(a.url, "application/json", strings.NewReader(`{"id":"evt_x"}`))
	bad.Body.Close()

	key, err := a.svc.CreateAPIKey(context.Background(), "app")
	if err != nil {
		t.Fatal(err)
	}
	waitApplied(t, a.svc, n)
	base := strings.TrimSuffix(a.url, "/api/stripe/webhook")
	for i := range 3 {
		req, _ := http.NewRequest(http.MethodPost, base+"/api/users/u0"+fmt.Sprint(i)+"/spend", strings.NewReader(`{"amount":4}`))
		req.Header.Set("Authorization", "Bearer "+key)
		req.Header.Set("Idempotency-Key", fmt.Sprint("job-", i))
		resp, err := http.DefaultClient.Do(req)
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("spend: %v %v", resp, err)
		}
		resp.Body.Close()
	}
	req, _ := http.NewRequest(http.MethodPost, base+"/api/users/u00/spend", strings.NewReader(`{"amount":400}`))
	req.Header.Set("Authorization", "Bearer "+key)
	req.Header.Set("Idempotency-Key", "too-much")
	resp, _ := http.DefaultClient.Do(req)
	resp.Body.Close()

	fams := scrape(t, "http://"+bound+"/metrics")
	want := []struct {
		name   string
		labels map[string]string
		value  float64
	}{
		{"creditdesk_webhooks_total", map[string]string{"outcome": "accepted"}, n},
		{"creditdesk_webhooks_total", map[string]string{"outcome": "duplicate"}, 1},
		{"creditdesk_events_total", map[string]string{"type": "checkout.session.completed", "state": "applied"}, n},
		{"creditdesk_credits_total", map[string]string{"change": "granted", "kind": "pack"}, 10 * n},
		{"creditdesk_credits_total", map[string]string{"change": "spent", "kind": "spend"}, 12},
		{"creditdesk_api_request_duration_seconds", map[string]string{"route": "POST /api/users/{id}/spend", "code": "200"}, 3},
		{"creditdesk_api_request_duration_seconds", map[string]string{"route": "POST /api/users/{id}/spend", "code": "402"}, 1},
		{"creditdesk_backlog_events", nil, 0},
		{"creditdesk_processor_up", nil, 1},
	}
	for _, w := range want {
		got, ok := find(fams, w.name, w.labels)
		if !ok || got != w.value {
			t.Errorf("%s%v = %v (found %v), want %v", w.name, w.labels, got, ok, w.value)
		}
	}
	var rejected float64
	for _, mt := range fams["creditdesk_webhooks_total"].GetMetric() {
		if label(mt, "outcome") == "rejected" {
			rejected += mt.GetCounter().GetValue()
		}
	}
	if rejected != 1 {
		t.Errorf("rejected webhooks = %v, want 1", rejected)
	}
	if c, _ := find(fams, "creditdesk_commit_duration_seconds", nil); c < n {
		t.Errorf("commits observed = %v, want at least %d", c, n)
	}
	for _, name := range []string{"go_goroutines", "process_resident_memory_bytes"} {
		if _, ok := fams[name]; !ok {
			t.Errorf("missing %s", name)
		}
	}
	// The metrics listener also serves Go's profiles (how docs/PERFORMANCE.md
	// profiles serve); the public one does not.
	for u, want := range map[string]int{"http://" + bound + "/debug/pprof/heap?debug=1": 200, base + "/debug/pprof/heap?debug=1": 404} {
		resp, err := http.Get(u)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != want || want == 200 && !bytes.Contains(body, []byte("heap profile")) {
			t.Errorf("GET %s: %d, want %d", u, resp.StatusCode, want)
		}
	}
}

func waitApplied(t *testing.T, svc *billing.Service, n int) {
	t.Helper()
	testkit.Eventually(t, 10*time.Second, fmt.Sprintf("%d events applied", n), func() bool { return svc.Stats().Applied >= uint64(n) })
}

func scrape(t *testing.T, url string) map[string]*dto.MetricFamily {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(bytes.NewReader(body))
	if err != nil {
		t.Fatalf("metrics do not parse: %v\n%s", err, body)
	}
	return fams
}

func label(m *dto.Metric, name string) string {
	for _, l := range m.GetLabel() {
		if l.GetName() == name {
			return l.GetValue()
		}
	}
	return ""
}

// find returns the value of the series of name with labels: a counter's or
// gauge's value, a histogram's count.
func find(fams map[string]*dto.MetricFamily, name string, labels map[string]string) (float64, bool) {
	f, ok := fams[name]
	if !ok {
		return 0, false
	}
next:
	for _, m := range f.GetMetric() {
		for k, v := range labels {
			if label(m, k) != v {
				continue next
			}
		}
		switch {
		case m.Counter != nil:
			return m.GetCounter().GetValue(), true
		case m.Gauge != nil:
			return m.GetGauge().GetValue(), true
		case m.Histogram != nil:
			return float64(m.GetHistogram().GetSampleCount()), true
		}
	}
	return 0, false
}

// TestRefusedRequestsAreNotStoreErrors: a revoke beyond the balance is the
// operator's mistake, not the disk's: commit errors stay at 0, so an alert
// on them means the store.
func TestRefusedRequestsAreNotStoreErrors(t *testing.T) {
	m := metrics.New()
	env := &Env{Stdout: &bytes.Buffer{}, Stderr: &bytes.Buffer{}, Config: config.Config{
		DB: filepath.Join(t.TempDir(), "m.db"), Addr: "127.0.0.1:0", WebhookPath: "/api/stripe/webhook", WebhookSecret: crashSecret}}
	a, err := startApp(env, appOptions{requireSecret: true, log: discardLogger(), mode: "serve", metrics: m})
	if err != nil {
		t.Fatal(err)
	}
	defer a.stop()
	if _, err := a.svc.Adjust(context.Background(), billing.Adjustment{User: "u1", Delta: -5, Reason: "typo"}); err == nil {
		t.Fatal("a revoke beyond the balance must be refused")
	}
	bound, stop, err := metrics.Serve("127.0.0.1:0", m)
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	if v, _ := find(scrape(t, "http://"+bound+"/metrics"), "creditdesk_commit_errors_total", nil); v != 0 {
		t.Fatalf("commit errors = %v after a refused revoke, want 0", v)
	}
}
