package simulate

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stripe/stripe-go/v76/webhook"

	"creditdesk/internal/testkit"
)

// receiver is a Stripe webhook endpoint that verifies signatures (with the
// default 5-minute tolerance) and remembers the event ids it accepted.
type receiver struct {
	mu     sync.Mutex
	ids    map[string]int
	bad    int
	status func(id string) int // nil: 200
}

func (rc *receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	e, err := webhook.ConstructEventWithOptions(body, r.Header.Get("Stripe-Signature"), secret,
		webhook.ConstructEventOptions{IgnoreAPIVersionMismatch: true})
	rc.mu.Lock()
	defer rc.mu.Unlock()
	if err != nil || r.Method != http.MethodPost || !strings.HasPrefix(r.Header.Get("Content-Type"), "application/json") {
		rc.bad++
		http.Error(w, "bad signature", http.StatusBadRequest)
		return
	}
	rc.ids[e.ID]++
	if rc.status != nil {
		w.WriteHeader(rc.status(e.ID))
	}
}

func newReceiver(t *testing.T) (*receiver, *httptest.Server) {
	rc := &receiver{ids: map[string]int{}}
	srv := httptest.NewServer(rc)
	t.Cleanup(srv.Close)
	return rc, srv
}

func (rc *receiver) counts() (requests, distinct, bad int) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	for _, n := range rc.ids {
		requests += n
	}
	return requests, len(rc.ids), rc.bad
}

func TestRunDeliversEverySignedEvent(t *testing.T) {
	rc, srv := newReceiver(t)
	r, err := Run(context.Background(), Config{URL: srv.URL, Secret: secret, Count: 400, Concurrency: 8, Seed: 9})
	if err != nil {
		t.Fatal(err)
	}
	requests, distinct, bad := rc.counts()
	if r.Sent != 400 || r.OK != 400 || r.ByStatus[200] != 400 || r.Errors != 0 || requests != 400 || bad != 0 {
		t.Fatalf("report %+v; receiver got %d requests, %d rejected", r, requests, bad)
	}
	if r.Duplicates != requests-distinct || r.Duplicates == 0 {
		t.Errorf("report counts %d redeliveries, receiver saw %d repeated ids", r.Duplicates, requests-distinct)
	}
	if !(0 < r.P50 && r.P50 <= r.P95 && r.P95 <= r.P99 && r.P99 <= r.Max && r.Max <= r.Elapsed) || r.EventsPerSec() <= 0 {
		t.Errorf("latencies p50 %v p95 %v p99 %v max %v elapsed %v, %v events/s", r.P50, r.P95, r.P99, r.Max, r.Elapsed, r.EventsPerSec())
	}
	if !strings.HasPrefix(r.String(), "sent 400 in ") || !strings.Contains(r.String(), "200×400") {
		t.Errorf("summary %q", r)
	}
}

func TestRunLoadModeSendsUniqueEventsAndCountsStatuses(t *testing.T) {
	rc, srv := newReceiver(t)
	var n atomic.Int64
	rc.status = func(string) int { // every 10th request fails
		if n.Add(1)%10 == 0 {
			return http.StatusInternalServerError
		}
		return http.StatusOK
	}
	r, err := Run(context.Background(), Config{URL: srv.URL, Secret: secret, Count: 500, Concurrency: 4, Load: true})
	if err != nil {
		t.Fatal(err)
	}
	requests, distinct, _ := rc.counts()
	if requests != 500 || distinct != 500 || r.Duplicates != 0 {
		t.Errorf("load run: %d requests, %d distinct ids, %d redeliveries", requests, distinct, r.Duplicates)
	}
	if r.Sent != 500 || r.OK != 450 || r.ByStatus[200] != 450 || r.ByStatus[500] != 50 {
		t.Errorf("report %+v", r)
	}
	if !strings.HasSuffix(r.String(), "200×450 500×50") {
		t.Errorf("summary %q", r)
	}
}

func TestRunHonoursRate(t *testing.T) {
	_, srv := newReceiver(t)
	// 41 events at 200/s are scheduled over 200ms: the run cannot be faster.
	r, err := Run(context.Background(), Config{URL: srv.URL, Secret: secret, Count: 41, Rate: 200, Concurrency: 4, Load: true})
	if err != nil {
		t.Fatal(err)
	}
	if r.Sent != 41 || r.Elapsed < 200*time.Millisecond || r.Elapsed > 3*time.Second {
		t.Errorf("sent %d in %v; want 41 in about 200ms", r.Sent, r.Elapsed)
	}
	// A duration caps the run: slots at 0, 10ms, … 290ms fit in 300ms, and
	// no more are sent on a busy machine whose timers fire late.
	r, err = Run(context.Background(), Config{URL: srv.URL, Secret: secret, Duration: 300 * time.Millisecond, Rate: 100, Concurrency: 2})
	if err != nil {
		t.Fatal(err)
	}
	if r.Sent < 5 || r.Sent > 30 || r.Elapsed > 3*time.Second {
		t.Errorf("sent %d in %v; want at most 30 in about 300ms", r.Sent, r.Elapsed)
	}
}

func TestRunCountsTransportErrors(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL
	srv.Close() // nothing listens any more
	r, err := Run(context.Background(), Config{URL: url, Secret: secret, Count: 20, Concurrency: 3})
	if err != nil {
		t.Fatal(err)
	}
	if r.Sent != 20 || r.Errors != 20 || r.OK != 0 || len(r.ByStatus) != 0 || r.FirstError == "" || !strings.Contains(r.String(), "20 errors") {
		t.Errorf("report %+v, %q", r, r)
	}
}

func TestRunStopsOnCancel(t *testing.T) {
	_, srv := newReceiver(t)
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	r, err := Run(ctx, Config{URL: srv.URL, Secret: secret, Count: 1_000_000, Rate: 50, Concurrency: 2})
	if !errors.Is(err, context.DeadlineExceeded) || r.Sent == 0 || r.Sent > 10 {
		t.Errorf("err %v, sent %d", err, r.Sent)
	}
}

func TestRunRejectsBadConfig(t *testing.T) {
	for _, c := range []Config{{Count: 1}, {URL: "http://x"}, {URL: "http://x", Count: 1, Rate: -1}} {
		if _, err := Run(context.Background(), c); err == nil {
			t.Errorf("%+v accepted", c)
		}
	}
}

func TestPercentilesAreExact(t *testing.T) {
	lat := make([]time.Duration, 200)
	for i := range lat {
		lat[i] = time.Duration(i+1) * time.Millisecond
	}
	for p, want := range map[float64]time.Duration{.50: 100 * time.Millisecond, .95: 190 * time.Millisecond, .99: 198 * time.Millisecond, 1: 200 * time.Millisecond} {
		if got := percentile(lat, p); got != want {
			t.Errorf("p%v = %v, want %v", p*100, got, want)
		}
	}
	if percentile([]time.Duration{7}, .99) != 7 || percentile(nil, .5) != 0 {
		t.Error("degenerate inputs")
	}
}

func TestReportString(t *testing.T) {
	r := Report{Sent: 10000, OK: 10000, ByStatus: map[int]int{200: 10000}, Elapsed: 1920 * time.Millisecond,
		P50: 1200 * time.Microsecond, P95: 3100 * time.Microsecond, P99: 6 * time.Millisecond, Max: 12 * time.Millisecond}
	want := "sent 10000 in 1.92s: 5208 events/s, ack p50 1.2ms p95 3.1ms p99 6.0ms max 12ms, 200×10000"
	if got := r.String(); got != want {
		t.Errorf("got  %q\nwant %q", got, want)
	}
}

func TestTrickleSendsUntilCancelled(t *testing.T) {
	rc, srv := newReceiver(t)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	var errs atomic.Int64
	go func() {
		defer close(done)
		Trickle(ctx, srv.URL, secret, func() time.Duration { return 2 * time.Millisecond }, func(error) { errs.Add(1) })
	}()
	testkit.Eventually(t, 5*time.Second, "trickle sends 5 events", func() bool { n, _, _ := rc.counts(); return n >= 5 })
	cancel()
	select {
	case <-done:
	case <-time.After(2 * time.Second):
		t.Fatal("Trickle did not return after cancel")
	}
	// A request cut off by the cancel may still be in the handler: Close
	// waits for it, so what the receiver counted is final.
	srv.Close()
	if n, _, bad := rc.counts(); bad != 0 || errs.Load() != 0 {
		t.Errorf("after cancel: %d requests, %d rejected, %d errors reported (a cancel is not an error)", n, bad, errs.Load())
	}
}

func TestTrickleReportsEachErrorOnce(t *testing.T) {
	rc, srv := newReceiver(t)
	rc.status = func(string) int { return http.StatusServiceUnavailable }
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var mu sync.Mutex
	var reported []string
	done := make(chan struct{})
	go func() {
		defer close(done)
		Trickle(ctx, srv.URL, secret, func() time.Duration { return time.Millisecond }, func(err error) {
			mu.Lock()
			reported = append(reported, err.Error())
			mu.Unlock()
		})
	}()
	testkit.Eventually(t, 5*time.Second, "trickle sends 20 events", func() bool { n, _, _ := rc.counts(); return n >= 20 })
	cancel()
	<-done
	if len(reported) != 1 || !strings.Contains(reported[0], "503") {
		t.Errorf("20 failed deliveries reported as %q; want one 503 error", reported)
	}
}
