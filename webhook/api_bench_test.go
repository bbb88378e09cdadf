package webhook

import (
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/time/rate"
)

// benchUsers is how many users the benchmarks spread their requests over.
const benchUsers = 100

// newBenchRig is the server over a real store on loopback, without rate
// limits, with benchUsers users holding plenty of credits.
func newBenchRig(b *testing.B) *apiRig {
	r := newAPIRig(b, Limits{Credits: Limit{Rate: rate.Inf, Burst: 1}, Stripe: DefaultLimits().Stripe}, false)
	for i := range benchUsers {
		r.seed(fmt.Sprintf("bench_%d", i), 1_000_000_000, time.Time{}, fmt.Sprintf("evt_bench_%d", i))
	}
	return r
}

// request sends one request and drains the answer so the connection is
// reused; it returns the status.
func (r *apiRig) request(method, path, body, idem string) (int, error) {
	req, err := http.NewRequest(method, r.srv.URL+path, strings.NewReader(body))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Authorization", "Bearer "+r.key)
	if idem != "" {
		req.Header.Set("Idempotency-Key", idem)
	}
	resp, err := r.client.Do(req)
	if err != nil {
		return 0, err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode, nil
}

// BenchmarkAPISpend measures durable spends (each committed and fsynced
// before its 200) over HTTP on loopback, from many concurrent clients.
func BenchmarkAPISpend(b *testing.B) {
	r := newBenchRig(b)
	parallel(b, "spends/s", func(i int64) (int, error) {
		return r.request("POST", fmt.Sprintf("/api/users/bench_%d/spend", i%benchUsers), `{"amount":1,"reason":"bench"}`, fmt.Sprint("b-", i))
	})
}

// BenchmarkAPIRead measures GET /api/users/{id} over HTTP on loopback.
func BenchmarkAPIRead(b *testing.B) {
	r := newBenchRig(b)
	parallel(b, "reads/s", func(i int64) (int, error) {
		return r.request("GET", fmt.Sprintf("/api/users/bench_%d", i%benchUsers), "", "")
	})
}

// parallel runs b.N requests, the i-th made by do, from 32 goroutines a
// CPU, and reports how many were answered a second as unit. Anything but a
// 200 fails the benchmark.
func parallel(b *testing.B, unit string, do func(i int64) (int, error)) {
	var n atomic.Int64
	b.SetParallelism(32)
	b.ResetTimer()
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if code, err := do(n.Add(1)); err != nil || code != 200 {
				b.Errorf("%s: %d %v", unit, code, err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), unit)
}

// BenchmarkAPISpendAt500 sends durable spends at a fixed 500 per second,
// each on its own goroutine as independent clients would (open loop: a slow
// answer does not delay the next request), and reports latency percentiles
// of the b.N requests.
func BenchmarkAPISpendAt500(b *testing.B) {
	const perSecond = 500
	r := newBenchRig(b)
	// Warm the connection pool so the measure is not of TCP handshakes.
	for i := range 64 {
		if _, err := r.request("GET", fmt.Sprintf("/api/users/bench_%d", i%benchUsers), "", ""); err != nil {
			b.Fatal(err)
		}
	}
	lat := make([]time.Duration, b.N)
	var wg sync.WaitGroup
	tick := time.NewTicker(time.Second / perSecond)
	defer tick.Stop()
	b.ResetTimer()
	start := time.Now()
	for i := range b.N {
		<-tick.C
		wg.Add(1)
		go func() {
			defer wg.Done()
			t0 := time.Now()
			code, err := r.request("POST", fmt.Sprintf("/api/users/bench_%d/spend", i%benchUsers), `{"amount":1,"reason":"bench"}`, fmt.Sprint("r-", i))
			lat[i] = time.Since(t0)
			if err != nil || code != 200 {
				b.Errorf("spend: %d %v", code, err)
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	slices.Sort(lat)
	pct := func(p float64) float64 {
		return float64(lat[min(len(lat)-1, int(p*float64(len(lat))))].Microseconds()) / 1000
	}
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "spends/s")
	b.ReportMetric(pct(0.50), "p50_ms")
	b.ReportMetric(pct(0.99), "p99_ms")
	b.ReportMetric(float64(lat[len(lat)-1].Microseconds())/1000, "max_ms")
}
