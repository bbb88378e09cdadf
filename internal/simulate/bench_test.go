package simulate

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
)

func BenchmarkGenerator(b *testing.B) {
	g := NewGenerator(1, t0)
	for b.Loop() {
		g.Next()
	}
}

func BenchmarkLoadGenerator(b *testing.B) {
	g := NewLoadGenerator(1, t0)
	for b.Loop() {
		g.Next()
	}
}

// BenchmarkRun measures the sender itself against a receiver that only acks.
func BenchmarkRun(b *testing.B) {
	srv := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	defer srv.Close()
	r, err := Run(context.Background(), Config{URL: srv.URL, Secret: secret, Count: b.N, Concurrency: 8, Load: true})
	if err != nil || r.OK != b.N {
		b.Fatalf("%v: %s", err, r)
	}
	b.ReportMetric(r.EventsPerSec(), "events/s")
	b.ReportMetric(float64(r.P99.Microseconds()), "p99-µs")
}
