// Command benchsink is the trivial webhook handler docs/bench-corpus.sh
// measures as the ceiling HTTP allows on the machine: it reads each
// request's body and answers 200, on any path, with nothing else (no
// signature check, no storage). It is a benchmark tool, built by the bench
// script into a temporary folder and never part of the creditdesk binary.
//
//	benchsink -addr 127.0.0.1:PORT
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:0", "listen `ADDRESS`")
	flag.Parse()
	srv := &http.Server{Addr: *addr, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.WriteHeader(http.StatusOK)
	})}
	if err := srv.ListenAndServe(); err != nil && !errors.Is(err, http.ErrServerClosed) {
		fmt.Fprintln(os.Stderr, "benchsink:", err)
		os.Exit(1)
	}
}
