// Command benchsink is the pair of reference handlers docs/bench-corpus.sh
// measures serve against, on the same machine in the same run:
//
//	benchsink -addr 127.0.0.1:PORT
//	    the ceiling HTTP allows: reads each request's body and answers 200,
//	    on any path, with nothing else (no signature check, no storage).
//	benchsink -addr 127.0.0.1:PORT -log FILE
//	    the floor of any durable receiver: checks each body's
//	    Stripe-Signature against STRIPE_WEBHOOK_SECRET (stripe-go, as serve
//	    does), appends the body to FILE and answers 200 once FILE is synced,
//	    one fsync for all the bodies that arrived meanwhile. Nothing is
//	    deduplicated, indexed, compressed or applied.
//
// It is a benchmark tool, built by the bench script into a temporary folder
// and never part of the creditdesk binary.
package main

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"time"

	stripewebhook "github.com/stripe/stripe-go/v76/webhook"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:0", "listen `ADDRESS`")
	logPath := flag.String("log", "", "append each verified body to `FILE`, answering after its fsync")
	flag.Parse()
	h, closeLog, err := newHandler(*logPath, os.Getenv("STRIPE_WEBHOOK_SECRET"))
	if err != nil {
		fmt.Fprintln(os.Stderr, "benchsink:", err)
		os.Exit(2)
	}
	defer closeLog()
	srv := &http.Server{Addr: *addr, Handler: h}
	if err := srv.ListenAndServe(); err != nil && !errors.Is(err, http.ErrServerClosed) {
		fmt.Fprintln(os.Stderr, "benchsink:", err)
		os.Exit(1)
	}
}

// newHandler returns the trivial handler, or with logPath the durable one.
func newHandler(logPath, secret string) (http.Handler, func() error, error) {
	if logPath == "" {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			_, _ = io.Copy(io.Discard, r.Body)
			w.WriteHeader(http.StatusOK)
		}), func() error { return nil }, nil
	}
	if secret == "" {
		return nil, nil, errors.New("-log checks signatures: set STRIPE_WEBHOOK_SECRET")
	}
	f, err := os.OpenFile(logPath, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return nil, nil, err
	}
	l := newSyncLog(f)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/healthz" {
			return
		}
		var body bytes.Buffer
		if _, err := io.Copy(&body, r.Body); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		if err := stripewebhook.ValidatePayloadWithTolerance(body.Bytes(), r.Header.Get("Stripe-Signature"), secret, 5*time.Minute); err != nil {
			http.Error(w, "bad signature", http.StatusBadRequest)
			return
		}
		if err := l.append(body.Bytes()); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.WriteHeader(http.StatusOK)
	}), f.Close, nil
}

// syncLog appends bodies to a file with a group commit: one goroutine
// writes what has queued since its last sync and syncs it for all of them.
type syncLog struct {
	f     *os.File
	queue chan logWrite
}

type logWrite struct {
	body []byte
	done chan error
}

func newSyncLog(f *os.File) *syncLog {
	l := &syncLog{f: f, queue: make(chan logWrite, 1024)}
	go l.run()
	return l
}

func (l *syncLog) append(body []byte) error {
	done := make(chan error, 1)
	l.queue <- logWrite{body, done}
	return <-done
}

func (l *syncLog) run() {
	var group []logWrite
	for w := range l.queue {
		group = append(group[:0], w)
	more:
		for {
			select {
			case w := <-l.queue:
				group = append(group, w)
			default:
				break more
			}
		}
		var err error
		for _, w := range group {
			if _, err = l.f.Write(w.body); err != nil {
				break
			}
		}
		if err == nil {
			err = l.f.Sync()
		}
		for _, w := range group {
			w.done <- err
		}
	}
}
