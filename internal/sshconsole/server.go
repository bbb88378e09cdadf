// Package sshconsole serves the console over SSH: each session gets its own
// console, drawn with its own renderer, acting as the operator its key
// names. Only public keys listed in an authorized_keys file get in.
//
// A session is independent of every other: its program writes to its own
// channel, so a client that stops reading stalls its own console only (the
// live feed drops for it, as for any slow subscriber), never the receiver
// or another console.
package sshconsole

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"
	"time"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/lipgloss"
	"github.com/charmbracelet/ssh"
	"github.com/charmbracelet/wish"
	"github.com/charmbracelet/wish/activeterm"
	"github.com/charmbracelet/wish/bubbletea"
	"github.com/muesli/termenv"
	gossh "golang.org/x/crypto/ssh"

	"creditdesk/billing"
)

// Config configures the SSH server.
type Config struct {
	// Addr is the address to listen on, such as ":2222" or "127.0.0.1:0".
	Addr string
	// AuthorizedKeys is the authorized_keys file whose keys may log in. It
	// is read again at every login: a key added or removed counts at once.
	AuthorizedKeys string
	// HostKeyPath is the server's private host key: an ed25519 key created
	// there (mode 0600) on first start and reused after.
	HostKeyPath string
	// Log receives connections, refusals and errors; nil discards them.
	Log *slog.Logger
}

// NewConsole builds the console model for one session. ctx is the
// session's context carrying the operator (billing.WithOperator(ctx,
// "ssh:"+name)); it ends with the session. r is the session's lipgloss
// renderer. end is called when the session ends.
type NewConsole func(ctx context.Context, r *lipgloss.Renderer) (m tea.Model, end func())

// Server is a running SSH console server.
type Server struct {
	srv        *ssh.Server
	ln         net.Listener
	log        *slog.Logger
	newConsole NewConsole
	hostKey    string // SHA256 fingerprint
	served     chan struct{}

	mu       sync.Mutex
	closing  bool
	sessions map[*session]struct{}

	shutdownOnce sync.Once
	shutdownErr  error
}

// session is one console being served.
type session struct {
	program *tea.Program // nil until built; guarded by Server.mu
	end     func()       // ends the console, once; nil until built
	done    chan struct{}
}

// Start listens on cfg.Addr and serves a console to every session that
// authenticates with a key in cfg.AuthorizedKeys. It refuses to start, with
// a one-line error naming the file, when that file is missing or holds no
// usable key.
func Start(cfg Config, newConsole NewConsole) (*Server, error) {
	if newConsole == nil {
		return nil, errors.New("ssh: no console")
	}
	log := cfg.Log
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	kf, err := checkAuthorizedKeys(cfg.AuthorizedKeys)
	if err != nil {
		return nil, err
	}
	if kf.skipped > 0 {
		log.Warn("ssh: keys with options (from=, command=, ...) cannot open the console", "file", cfg.AuthorizedKeys, "skipped", kf.skipped)
	}
	if cfg.HostKeyPath == "" {
		return nil, errors.New("ssh: no host key path")
	}
	signer, err := loadHostKey(cfg.HostKeyPath)
	if err != nil {
		return nil, err
	}
	s := &Server{log: log, newConsole: newConsole, hostKey: gossh.FingerprintSHA256(signer.PublicKey()),
		served: make(chan struct{}), sessions: map[*session]struct{}{}}
	keys := newKeyChecker(cfg.AuthorizedKeys, log)
	s.srv, err = wish.NewServer(
		wish.WithAddress(cfg.Addr),
		func(srv *ssh.Server) error { srv.AddHostKey(signer); return nil },
		// A connection that does not authenticate in handshakeTimeout is
		// dropped (a scanner, or thousands of idle sockets, would else
		// keep descriptors the receiver needs); check clears the deadline
		// once a key is accepted.
		func(srv *ssh.Server) error {
			srv.ConnCallback = func(ctx ssh.Context, c net.Conn) net.Conn {
				ac := &authConn{Conn: c, until: time.Now().Add(handshakeTimeout)}
				_ = ac.SetDeadline(time.Time{})
				ctx.SetValue(connKey{}, ac)
				return ac
			}
			return nil
		},
		// Public keys only: no password or keyboard-interactive handler
		// is set, so the server offers neither.
		wish.WithPublicKeyAuth(keys.check),
		// The last runs first: log, then require a terminal, then serve.
		wish.WithMiddleware(s.consoleMiddleware(), activeterm.Middleware(), s.logMiddleware()),
	)
	if err != nil {
		return nil, fmt.Errorf("ssh: %w", err)
	}
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return nil, fmt.Errorf("ssh: %w", err)
	}
	s.ln = ln
	go func() {
		defer close(s.served)
		if err := s.srv.Serve(ln); err != nil && !errors.Is(err, ssh.ErrServerClosed) {
			log.Error("ssh: server stopped", "err", err)
		}
	}()
	return s, nil
}

// Addr is the address the server listens on, with a port 0 resolved.
func (s *Server) Addr() string { return s.ln.Addr().String() }

// HostKeyFingerprint is the host key's SHA256 fingerprint, as ssh shows it
// at the first connection.
func (s *Server) HostKeyFingerprint() string { return s.hostKey }

// sessionGrace is how long Shutdown waits, once connections are closed, for
// the consoles to notice.
const sessionGrace = 2 * time.Second

// Shutdown stops accepting sessions, asks every console to quit (which
// restores the client's terminal), waits for them until ctx ends, then
// closes every connection, those of consoles that did not quit (a client
// that stopped reading) included.
// handshakeTimeout is how long a connection may take to authenticate.
var handshakeTimeout = 30 * time.Second

// connKey holds a connection's *authConn in its ssh.Context, for check to
// lift the handshake deadline.
type connKey struct{}

// authConn keeps a deadline on a connection until it authenticates: the
// ssh package sets (and clears) deadlines of its own at every read and
// write, and until authenticated no deadline may be later than until.
type authConn struct {
	net.Conn
	mu     sync.Mutex
	authed bool
	until  time.Time
}

func (c *authConn) SetDeadline(t time.Time) error {
	c.mu.Lock()
	if !c.authed && (t.IsZero() || t.After(c.until)) {
		t = c.until
	}
	c.mu.Unlock()
	return c.Conn.SetDeadline(t)
}

// authenticated lifts the handshake deadline.
func (c *authConn) authenticated() {
	c.mu.Lock()
	c.authed = true
	c.mu.Unlock()
	_ = c.Conn.SetDeadline(time.Time{})
}

func (s *Server) Shutdown(ctx context.Context) error {
	s.shutdownOnce.Do(func() { s.shutdownErr = s.shutdown(ctx) })
	return s.shutdownErr
}

func (s *Server) shutdown(ctx context.Context) error {
	s.mu.Lock()
	s.closing = true
	open := make([]*session, 0, len(s.sessions))
	for sc := range s.sessions {
		open = append(open, sc)
		if p := sc.program; p != nil {
			go p.Quit() // blocks while that console is stalled
		}
	}
	s.mu.Unlock()
	if n := waitSessions(ctx.Done(), open); n > 0 {
		s.log.Warn("ssh: consoles did not quit in time; closing their connections", "consoles", n)
	}
	err := s.srv.Close()
	<-s.served
	// A console blocked writing to its client fails now; let it finish so
	// it no longer reads the store.
	grace := time.NewTimer(sessionGrace)
	defer grace.Stop()
	waitSessions(grace.C, open)
	if errors.Is(err, net.ErrClosed) {
		err = nil
	}
	return err
}

// waitSessions waits until every session in open is done or stop fires,
// and returns how many are not done.
func waitSessions[T any](stop <-chan T, open []*session) int {
	for i, sc := range open {
		select {
		case <-sc.done:
		case <-stop:
			left := 0
			for _, sc := range open[i:] {
				select {
				case <-sc.done:
				default:
					left++
				}
			}
			return left
		}
	}
	return 0
}

// consoleMiddleware serves one console per session with wish's bubbletea
// middleware, keeping hold of the program so Shutdown can quit it.
func (s *Server) consoleMiddleware() wish.Middleware {
	return func(next ssh.Handler) ssh.Handler {
		return func(sess ssh.Session) {
			sc := &session{done: make(chan struct{})}
			if !s.add(sc) {
				wish.Fatalln(sess, "creditdesk is shutting down")
				return
			}
			defer s.remove(sc)
			serve := bubbletea.MiddlewareWithProgramHandler(func(sess ssh.Session) *tea.Program {
				return s.program(sess, sc)
			}, termenv.Ascii)
			serve(next)(sess)
			s.mu.Lock()
			closing := s.closing
			s.mu.Unlock()
			if closing {
				// The console was ended by the server, not by q: say why
				// before the connection goes.
				wish.Println(sess, "creditdesk is stopping (a restart or an upgrade?); connect again in a moment")
			}
		}
	}
}

// program builds the session's console and its Bubble Tea program.
func (s *Server) program(sess ssh.Session, sc *session) *tea.Program {
	// The console's context ends with the session: when the client goes
	// or when the console quits (remove cancels it).
	ctx, cancel := context.WithCancel(sess.Context())
	ctx = billing.WithOperator(ctx, operatorOf(sess.Context()))
	in := newInput(sess)
	m, end := s.newConsole(ctx, newRenderer(sess, in))
	stop := sync.OnceFunc(func() {
		cancel()
		in.close()
		if end != nil {
			end()
		}
	})
	go func() {
		<-ctx.Done()
		stop()
	}()
	s.mu.Lock()
	defer s.mu.Unlock()
	sc.end = stop
	if m == nil || s.closing {
		return nil
	}
	// The PTY is emulated (the server allocates none), so the program
	// talks to the channel, as bubbletea.MakeOptions would have it.
	sc.program = tea.NewProgram(newPaced(m), tea.WithInput(in), tea.WithOutput(sess), tea.WithAltScreen(),
		// Signals are the process's: serve stops the consoles itself.
		tea.WithoutSignalHandler())
	return sc.program
}

func (s *Server) add(sc *session) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing {
		return false
	}
	s.sessions[sc] = struct{}{}
	return true
}

// remove ends the session's console, whichever way the session ended.
func (s *Server) remove(sc *session) {
	s.mu.Lock()
	delete(s.sessions, sc)
	end := sc.end
	s.mu.Unlock()
	if end != nil {
		end()
	}
	close(sc.done)
}

// logMiddleware logs each session's start and end with its operator; never
// a key.
func (s *Server) logMiddleware() wish.Middleware {
	return func(next ssh.Handler) ssh.Handler {
		return func(sess ssh.Session) {
			start := time.Now()
			who := operatorOf(sess.Context())
			remote := addrString(sess.RemoteAddr())
			pty, _, ok := sess.Pty()
			if !ok {
				s.log.Info("ssh: session without a terminal refused", "operator", who, "remote", remote)
				next(sess)
				return
			}
			s.log.Info("ssh: console opened", "operator", who, "remote", remote, "term", pty.Term,
				"size", fmt.Sprintf("%dx%d", pty.Window.Width, pty.Window.Height))
			next(sess)
			s.log.Info("ssh: console closed", "operator", who, "remote", remote,
				"duration", time.Since(start).Round(time.Second).String())
		}
	}
}

func addrString(a net.Addr) string {
	if a == nil {
		return ""
	}
	return a.String()
}
