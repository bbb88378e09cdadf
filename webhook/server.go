package webhook

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"
	"time"
)

// Health reports whether the store is open and the processor running.
type Health func() error

// storeFaults is what /healthz asks the receiver's inbox, when it can answer
// (*billing.Service does): why writes to the store fail, nil while they work.
type storeFaults interface{ StoreFault() error }

// Server is creditdesk's HTTP server: the webhook receiver, /healthz and
// whatever else main mounts on Mux.
type Server struct {
	Mux *http.ServeMux
	// MaxConns caps the connections open at once (CREDITDESK_MAX_CONNS,
	// DefaultMaxConns); 0 means no cap. Set it before Serve.
	MaxConns int
	http     *http.Server
	ln       net.Listener
	mu       sync.Mutex
	limit    *connLimit
	tls      *TLS // UseTLS; nil is plain HTTP
}

// NewServer mounts the receiver at path and /healthz. /healthz answers 503
// with the reason while health fails or while writes to the store fail.
func NewServer(path string, rc *Receiver, health Health) *Server {
	mux := http.NewServeMux()
	mux.Handle(path, rc)
	faults, _ := rc.inbox.(storeFaults)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		err := health()
		if err == nil && faults != nil {
			err = faults.StoreFault()
		}
		if err != nil {
			writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "unavailable", "error": err.Error()})
			return
		}
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	return &Server{Mux: mux, MaxConns: maxConnsOrDefault(), http: &http.Server{
		Handler:           mux,
		MaxHeaderBytes:    MaxHeaderBytes,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       120 * time.Second,
	}}
}

// Listen binds addr; a port already taken is a one-line error naming it.
func Listen(addr string) (net.Listener, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		var op *net.OpError
		if errors.As(err, &op) {
			return nil, fmt.Errorf("cannot listen on %s: %v (is another creditdesk running? pass --addr with a free port)", addr, op.Err)
		}
		return nil, fmt.Errorf("cannot listen on %s: %w", addr, err)
	}
	return ln, nil
}

// Listen binds addr for Serve.
func (s *Server) Listen(addr string) error {
	ln, err := Listen(addr)
	if err != nil {
		return err
	}
	s.ln = ln
	return nil
}

// Use serves on a listener bound earlier (so that a taken port is found
// before anything else is opened).
func (s *Server) Use(ln net.Listener) { s.ln = ln }

// Addr is the bound address (with the real port when addr had port 0).
func (s *Server) Addr() string { return s.ln.Addr().String() }

// Serve serves until Shutdown, holding at most MaxConns connections.
func (s *Server) Serve() error {
	ln := s.ln
	if s.MaxConns > 0 {
		l := newConnLimit(ln, s.MaxConns)
		s.mu.Lock()
		s.limit = l
		s.mu.Unlock()
		s.http.ConnState = l.connState
		ln = l
	}
	var err error
	if s.tls != nil {
		err = s.serveTLS(ln)
	} else {
		err = s.http.Serve(ln)
	}
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}

// Shutdown stops accepting and waits for requests in flight, so every event
// that was acknowledged is stored before the store closes.
func (s *Server) Shutdown(ctx context.Context) error {
	err := s.http.Shutdown(ctx)
	if terr := s.tls.shutdown(ctx); err == nil {
		err = terr
	}
	return err
}

// Conns is the number of connections open now and the most open at once
// since Serve began (both 0 without a cap).
func (s *Server) Conns() (open, high int) {
	s.mu.Lock()
	l := s.limit
	s.mu.Unlock()
	if l == nil {
		return 0, 0
	}
	return l.stats()
}
