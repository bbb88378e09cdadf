// Command benchreceiver is the founder's app in `make bench` (docs/bench.sh):
// it listens on a loopback port, verifies every message with the Standard
// Webhooks library, answers 204, and when it has N messages (or after a
// time limit) prints how many arrived, duplicates, and the delivery lag
// (arrival less the message's timestamp, the time its change was applied):
// p50, p99, max. Not part of creditdesk.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"slices"
	"sync"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:0", "listen address (loopback)")
	secretFile := flag.String("secret-file", "", "file whose first line is the whsec_ secret")
	want := flag.Int("n", 0, "stop after this many distinct messages")
	limit := flag.Duration("limit", 2*time.Minute, "stop after this long in any case")
	portFile := flag.String("port-file", "", "write the port here once listening")
	flag.Parse()
	raw, err := os.ReadFile(*secretFile)
	if err != nil {
		fmt.Fprintln(os.Stderr, "benchreceiver:", err)
		os.Exit(2)
	}
	var secret string
	fmt.Sscan(string(raw), &secret)
	wh, err := standardwebhooks.NewWebhook(secret)
	if err != nil {
		fmt.Fprintln(os.Stderr, "benchreceiver:", err)
		os.Exit(2)
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		fmt.Fprintln(os.Stderr, "benchreceiver:", err)
		os.Exit(2)
	}
	if *portFile != "" {
		_ = os.WriteFile(*portFile, []byte(fmt.Sprint(ln.Addr().(*net.TCPAddr).Port)), 0o600)
	}
	var mu sync.Mutex
	seen := map[string]bool{}
	var lags []time.Duration
	dups, bad := 0, 0
	done := make(chan struct{})
	var once sync.Once
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		now := time.Now()
		if err := wh.Verify(body, r.Header); err != nil {
			mu.Lock()
			bad++
			mu.Unlock()
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		var m struct {
			Timestamp time.Time `json:"timestamp"`
		}
		_ = json.Unmarshal(body, &m)
		id := r.Header.Get("webhook-id")
		mu.Lock()
		if seen[id] {
			dups++
		} else {
			seen[id] = true
			lags = append(lags, now.Sub(m.Timestamp))
		}
		n := len(seen)
		mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
		if *want > 0 && n >= *want {
			once.Do(func() { close(done) })
		}
	})}
	go func() { _ = srv.Serve(ln) }()
	select {
	case <-done:
	case <-time.After(*limit):
	}
	mu.Lock()
	defer mu.Unlock()
	slices.Sort(lags)
	q := func(p float64) time.Duration {
		if len(lags) == 0 {
			return 0
		}
		return lags[min(len(lags)-1, int(p*float64(len(lags))))].Round(time.Millisecond)
	}
	fmt.Printf("app received %d messages (%d duplicates, %d bad signatures): delivery lag p50 %v p99 %v max %v\n",
		len(seen), dups, bad, q(0.50), q(0.99), q(1))
}
