// Package stripemock runs stripe-mock for tests: it starts bin/stripe-mock
// on a free loopback port, waits until it answers, and puts a recording
// proxy in front of it so tests can assert the form parameters and
// idempotency keys creditdesk sent. stripe-mock echoes little back, so the
// proxy's record is the proof of what a call asked for.
//
// A missing stripe-mock fails the test with the command that installs it;
// it is never skipped.
package stripemock

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// Version is the stripe-mock the Makefile installs.
const Version = "v0.203.0"

// InstallHint is how to install it.
const InstallHint = "run `make stripe-mock` in the repository root (or `GOBIN=$PWD/bin go install github.com/stripe/stripe-mock@" + Version + "`)"

// Request is one request the proxy passed on.
type Request struct {
	Method string
	Path   string
	// Form is the form-encoded body of a POST, or the query of a GET.
	Form url.Values
	// IdempotencyKey is the Idempotency-Key header.
	IdempotencyKey string
	// StripeVersion is the Stripe-Version header.
	StripeVersion string
	Header        http.Header
}

// Server is stripe-mock behind a recording proxy.
type Server struct {
	// URL is the proxy's base URL: use it as STRIPE_API_BASE.
	URL string
	// MockURL is stripe-mock itself.
	MockURL string

	proxy *httputil.ReverseProxy

	mu       sync.Mutex
	requests []Request
	override map[string]http.HandlerFunc
}

// Binary finds stripe-mock: bin/stripe-mock in the repository root (the
// directory holding go.mod, found walking up from the working directory),
// else on PATH.
func Binary() (string, error) {
	if dir, err := os.Getwd(); err == nil {
		for {
			if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
				p := filepath.Join(dir, "bin", "stripe-mock")
				if _, err := os.Stat(p); err == nil {
					return p, nil
				}
				break
			}
			parent := filepath.Dir(dir)
			if parent == dir {
				break
			}
			dir = parent
		}
	}
	if p, err := exec.LookPath("stripe-mock"); err == nil {
		return p, nil
	}
	return "", fmt.Errorf("stripe-mock %s is not installed: %s", Version, InstallHint)
}

// Start runs stripe-mock and the proxy for the test; both stop when it
// ends.
func Start(t testing.TB) *Server {
	t.Helper()
	bin, err := Binary()
	if err != nil {
		t.Fatal(err)
	}
	var mockURL string
	for attempt := 0; ; attempt++ {
		mockURL, err = run(t, bin)
		if err == nil {
			break
		}
		if attempt == 2 {
			t.Fatalf("starting %s: %v", bin, err)
		}
	}
	s := &Server{MockURL: mockURL, override: map[string]http.HandlerFunc{}}
	target, _ := url.Parse(mockURL)
	proxy := httputil.NewSingleHostReverseProxy(target)
	s.proxy = proxy
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		r.Body.Close()
		form := r.URL.Query()
		if len(body) > 0 {
			if f, err := url.ParseQuery(string(body)); err == nil {
				form = f
			}
		}
		s.mu.Lock()
		s.requests = append(s.requests, Request{Method: r.Method, Path: r.URL.Path, Form: form,
			IdempotencyKey: r.Header.Get("Idempotency-Key"), StripeVersion: r.Header.Get("Stripe-Version"), Header: r.Header.Clone()})
		h := s.override[r.Method+" "+r.URL.Path]
		s.mu.Unlock()
		if h != nil {
			r.Body = io.NopCloser(bytes.NewReader(body))
			h(w, r)
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		r.ContentLength = int64(len(body))
		proxy.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	s.URL = srv.URL
	return s
}

// run starts stripe-mock on loopback ports the system picks (so no test
// ever collides with another on a fixed port), reads the HTTP address from
// its output and waits until it answers.
func run(t testing.TB, bin string) (string, error) {
	cmd := exec.Command(bin, "-http-addr", "127.0.0.1:", "-https-addr", "127.0.0.1:")
	out, err := cmd.StdoutPipe()
	if err != nil {
		return "", err
	}
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		return "", err
	}
	var (
		logMu sync.Mutex
		logs  strings.Builder
	)
	addrc := make(chan string, 1)
	exited := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			line := sc.Text()
			logMu.Lock()
			logs.WriteString(line + "\n")
			logMu.Unlock()
			if a, ok := strings.CutPrefix(line, "Listening for HTTP at address: "); ok {
				select {
				case addrc <- strings.TrimSpace(a):
				default:
				}
			}
		}
		_ = cmd.Wait()
		close(exited)
	}()
	output := func() string {
		logMu.Lock()
		defer logMu.Unlock()
		return strings.TrimSpace(logs.String())
	}
	stop := func() {
		_ = cmd.Process.Kill()
		<-exited
	}
	var base string
	select {
	case a := <-addrc:
		base = "http://" + a
	case <-exited:
		return "", fmt.Errorf("stripe-mock exited: %s", output())
	case <-time.After(15 * time.Second):
		stop()
		return "", fmt.Errorf("stripe-mock did not say where it listens within 15s: %s", output())
	}
	deadline := time.Now().Add(15 * time.Second)
	for {
		req, _ := http.NewRequest(http.MethodGet, base+"/v1/account", nil)
		req.SetBasicAuth("sk_test_123", "")
		if res, err := http.DefaultClient.Do(req); err == nil {
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				break
			}
		}
		select {
		case <-exited:
			return "", fmt.Errorf("stripe-mock exited: %s", output())
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			stop()
			return "", fmt.Errorf("stripe-mock did not answer on %s within 15s: %s", base, output())
		}
	}
	t.Cleanup(stop)
	return base, nil
}

// Override answers method+path (e.g. "GET /v1/events") with h instead of
// stripe-mock; requests are still recorded.
func (s *Server) Override(methodPath string, h http.HandlerFunc) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.override[methodPath] = h
}

// Forward passes r on to stripe-mock; an Override handler uses it to
// answer some requests itself and forward the others.
func (s *Server) Forward(w http.ResponseWriter, r *http.Request) { s.proxy.ServeHTTP(w, r) }

// Requests returns the requests so far, in order.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Request(nil), s.requests...)
}

// Find returns the requests to method and path.
func (s *Server) Find(method, path string) []Request {
	var out []Request
	for _, r := range s.Requests() {
		if r.Method == method && r.Path == path {
			out = append(out, r)
		}
	}
	return out
}

// Reset forgets the requests recorded so far.
func (s *Server) Reset() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.requests = nil
}
