package sshconsole

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"creditdesk/internal/simulate"
	"creditdesk/internal/testkit/sshterm"
)

const (
	benchEvents  = 10_000
	benchWorkers = 16 // concurrent Ingest callers, as webhook connections are
	// clientWindow is the channel window x/crypto/ssh's client grants: the
	// server sends this much unread before its writes block.
	clientWindow = 2 << 20
)

// BenchmarkIngestWithSSHSessions measures svc.Ingest of Stripe-shaped
// events (the simulator's checkout.session.completed bodies, with the
// processor running as in serve) while SSH consoles watch the live feed: none,
// or eight of which one never reads its stdout. It reports throughput and
// Ingest latency percentiles, and fails unless every reading console drew
// the events. Run with -benchtime=1x; each iteration is 10,000 events.
func BenchmarkIngestWithSSHSessions(b *testing.B) {
	for _, sc := range []struct {
		readers int
		stalled bool
	}{{0, false}, {7, true}, {7, false}, {0, true}} {
		name := fmt.Sprintf("sessions=%d", sc.readers+btoi(sc.stalled))
		if sc.stalled {
			name += "/one-stalled"
		}
		b.Run(name, func(b *testing.B) {
			var lat []time.Duration
			var elapsed, cpu time.Duration
			for b.Loop() {
				l, d, c := ingestWithSessions(b, sc.readers, sc.stalled)
				lat = append(lat, l...)
				elapsed += d
				cpu += c
			}
			slices.Sort(lat)
			b.ReportMetric(float64(len(lat))/elapsed.Seconds(), "events/s")
			b.ReportMetric(ms(lat[len(lat)/2]), "p50-ms")
			b.ReportMetric(ms(lat[len(lat)*99/100]), "p99-ms")
			b.ReportMetric(ms(lat[len(lat)-1]), "max-ms")
			// CPU of the whole process (consoles and the in-process SSH
			// clients included) per 1,000 events: what the sessions cost,
			// less moved by a noisy disk than the rates are.
			b.ReportMetric(ms(cpu)*1000/float64(len(lat)), "cpu-ms/kevent")
		})
	}
}

func btoi(v bool) int {
	if v {
		return 1
	}
	return 0
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// ingestWithSessions runs one round: a fresh store and processor, the SSH
// server with n consoles (the first stalled), then benchEvents Ingest calls.
func ingestWithSessions(b *testing.B, nReaders int, stall bool) (lat []time.Duration, elapsed, cpu time.Duration) {
	b.StopTimer()
	svc := newService(b)
	procCtx, stopProc := context.WithCancel(context.Background())
	procDone := make(chan struct{})
	go func() {
		defer close(procDone)
		_ = svc.Run(procCtx)
	}()
	f := startFixture(b, realConsole(svc))
	g := simulate.NewLoadGenerator(1, time.Now())
	next := func() []byte { return g.Next().Body }

	var readers []*sshterm.Terminal
	for range nReaders {
		readers = append(readers, sshterm.Open(b, f.srv.Addr(), f.key.signer, 120, 40, true))
	}
	for _, r := range readers {
		r.WaitFor("creditdesk", "1 Overview")
	}
	if stall {
		// Rows to draw, so each frame of the stalled console is large.
		for range 200 {
			if _, _, err := svc.Ingest(next(), "bench-warmup"); err != nil {
				b.Fatal(err)
			}
		}
		stalled := sshterm.Open(b, f.srv.Addr(), f.key.signer, 240, 80, false)
		stallClient(b, stalled)
	}
	for _, r := range readers {
		r.Reset()
	}

	bodies := make([][]byte, benchEvents)
	for i := range bodies {
		bodies[i] = next()
	}
	lat = make([]time.Duration, benchEvents)
	var nextIdx atomic.Int64
	var wg sync.WaitGroup
	b.StartTimer()
	start, cpu0 := time.Now(), cpuTime()
	for range benchWorkers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(nextIdx.Add(1) - 1)
				if i >= benchEvents {
					return
				}
				t0 := time.Now()
				if _, _, err := svc.Ingest(bodies[i], "bench"); err != nil {
					b.Error(err)
					return
				}
				lat[i] = time.Since(t0)
			}
		}()
	}
	wg.Wait()
	elapsed, cpu = time.Since(start), cpuTime()-cpu0
	b.StopTimer()

	// Every reading console drew the events (their type in the Live tab).
	for _, r := range readers {
		deadline := time.Now().Add(10 * time.Second)
		for !strings.Contains(r.Screen(), "checkout.session.completed") {
			if time.Now().After(deadline) {
				b.Fatalf("a reading console did not draw the events:\n%s", lastBytes(r.Screen(), 2000))
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	// Shutdown ends the stalled session too.
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	t0 := time.Now()
	if err := f.srv.Shutdown(ctx); err != nil {
		b.Fatal(err)
	}
	if d := time.Since(t0); d > 5*time.Second {
		b.Fatalf("Shutdown took %v", d)
	}
	stopProc()
	<-procDone
	b.StartTimer()
	return lat, elapsed, cpu
}

// stallClient makes the console of a client that never reads stuck: it
// switches tabs (each a full redraw) until the server has sent the whole
// window and sends no more.
func stallClient(b testing.TB, term *sshterm.Terminal) {
	deadline := time.Now().Add(60 * time.Second)
	last, since := int64(-1), time.Now()
	for {
		n := term.Received.Load()
		if n != last {
			last, since = n, time.Now()
		}
		if n >= clientWindow && time.Since(since) > 300*time.Millisecond {
			return
		}
		if time.Now().After(deadline) {
			b.Fatalf("the client that never reads received %d bytes and is not stuck after 60s", n)
		}
		term.Send("\t")
		time.Sleep(2 * time.Millisecond)
	}
}
