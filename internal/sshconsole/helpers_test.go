package sshconsole

import (
	"bytes"
	"context"
	"creditdesk/internal/testkit"
	"crypto/ed25519"
	"crypto/rand"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/lipgloss"
	"github.com/charmbracelet/x/ansi"
	gossh "golang.org/x/crypto/ssh"

	"creditdesk/billing"
	"creditdesk/storage"
	"creditdesk/tui"
)

// clientKey is a fresh ed25519 key for a test client.
type clientKey struct {
	signer gossh.Signer
	line   string // its authorized_keys line
}

func newClientKey(t testing.TB, comment string) clientKey {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	signer, err := gossh.NewSignerFromKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	line := strings.TrimSpace(string(gossh.MarshalAuthorizedKey(signer.PublicKey())))
	if comment != "" {
		line += " " + comment
	}
	return clientKey{signer: signer, line: line + "\n"}
}

func writeFile(t testing.TB, path string, lines ...string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(strings.Join(lines, "")), 0o600); err != nil {
		t.Fatal(err)
	}
}

// newService is a billing service over a real store in a temporary
// directory.
func newService(t testing.TB) *billing.Service {
	t.Helper()
	st, err := storage.Open(filepath.Join(t.TempDir(), "c.db"), storage.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return billing.NewService(st, billing.Options{Rules: billing.Rules{Catalog: billing.SampleCatalog()}})
}

// realConsole serves the real console over svc, as internal/cli does:
// the consoles share their stats.
func realConsole(svc *billing.Service) NewConsole {
	b := sharedBackend{Backend: svc, stats: NewSharedStats(svc.Stats, 250*time.Millisecond)}
	return func(ctx context.Context, r *lipgloss.Renderer) (tea.Model, func()) {
		return tui.NewSession(ctx, b, tui.Options{Renderer: r, WebhookURL: "http://127.0.0.1:0/webhook"})
	}
}

// sharedBackend is internal/cli's sshBackend.
type sharedBackend struct {
	tui.Backend
	stats *SharedStats
}

func (b sharedBackend) Stats() billing.Stats { return b.stats.Stats() }

// testLog is a logger whose output the test can read.
type testLog struct{ testkit.SyncBuffer }

func (l *testLog) logger() *slog.Logger { return slog.New(slog.NewTextHandler(l, nil)) }

// fixture is a running server with one authorized key.
type fixture struct {
	srv     *Server
	keys    string // authorized_keys path
	hostKey string
	key     clientKey
	log     *testLog
}

func startFixture(t testing.TB, newConsole NewConsole) *fixture {
	t.Helper()
	dir := t.TempDir()
	f := &fixture{keys: filepath.Join(dir, "authorized_keys"), hostKey: filepath.Join(dir, "c.db.ssh_host_ed25519_key"),
		key: newClientKey(t, "alice@laptop"), log: &testLog{}}
	writeFile(t, f.keys, "# operators\n", f.key.line)
	srv, err := Start(Config{Addr: "127.0.0.1:0", AuthorizedKeys: f.keys, HostKeyPath: f.hostKey, Log: f.log.logger()}, newConsole)
	if err != nil {
		t.Fatal(err)
	}
	f.srv = srv
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
	})
	return f
}

func dial(addr string, signer gossh.Signer) (*gossh.Client, error) {
	c, _, err := dialCounting(addr, signer)
	return c, err
}

// dialCounting logs in and counts the bytes the client receives.
func dialCounting(addr string, signer gossh.Signer) (*gossh.Client, *atomic.Int64, error) {
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return nil, nil, err
	}
	cc := &countingConn{Conn: conn}
	c, chans, reqs, err := gossh.NewClientConn(cc, addr, &gossh.ClientConfig{
		User:            "founder",
		Auth:            []gossh.AuthMethod{gossh.PublicKeys(signer)},
		HostKeyCallback: gossh.InsecureIgnoreHostKey(),
	})
	if err != nil {
		conn.Close()
		return nil, nil, err
	}
	return gossh.NewClient(c, chans, reqs), &cc.n, nil
}

type countingConn struct {
	net.Conn
	n atomic.Int64
}

func (c *countingConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.n.Add(int64(n))
	return n, err
}

// terminal is an SSH session with a PTY whose output the test reads.
type terminal struct {
	t      testing.TB
	client *gossh.Client
	sess   *gossh.Session
	stdin  io.WriteCloser
	// received counts the bytes the connection brought, read or not.
	received *atomic.Int64
	mu       sync.Mutex
	out      bytes.Buffer
	closed   chan struct{} // stdout reached EOF
}

// openTerminal logs in with signer and starts a shell on a w×h PTY. When
// read is false nothing reads its stdout: the client stalls once the
// channel's window is full.
func openTerminal(t testing.TB, addr string, signer gossh.Signer, w, h int, read bool) *terminal {
	t.Helper()
	client, received, err := dialCounting(addr, signer)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { client.Close() })
	sess, err := client.NewSession()
	if err != nil {
		t.Fatal(err)
	}
	if err := sess.RequestPty("xterm-256color", h, w, gossh.TerminalModes{gossh.ECHO: 0}); err != nil {
		t.Fatal(err)
	}
	term := &terminal{t: t, client: client, sess: sess, received: received, closed: make(chan struct{})}
	if term.stdin, err = sess.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	stdout, err := sess.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := sess.Shell(); err != nil {
		t.Fatal(err)
	}
	if read {
		go func() {
			defer close(term.closed)
			buf := make([]byte, 32<<10)
			answered := false
			for {
				n, err := stdout.Read(buf)
				term.mu.Lock()
				term.out.Write(buf[:n])
				// Answer the background query as a dark terminal does.
				ask := !answered && bytes.Contains(term.out.Bytes(), []byte("\x1b]11;?\a\x1b[c"))
				term.mu.Unlock()
				if ask {
					answered = true
					_, _ = io.WriteString(term.stdin, "\x1b]11;rgb:1c1c/1c1c/1c1c\x1b\\\x1b[?62;22c")
				}
				if err != nil {
					return
				}
			}
		}()
	}
	return term
}

// screen is everything the session printed so far, without escape codes.
func (term *terminal) screen() string {
	term.mu.Lock()
	defer term.mu.Unlock()
	return ansi.Strip(term.out.String())
}

// reset forgets what was printed so far.
func (term *terminal) reset() {
	term.mu.Lock()
	defer term.mu.Unlock()
	term.out.Reset()
}

// waitFor waits until the output holds every one of want.
func (term *terminal) waitFor(want ...string) {
	term.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		s := term.screen()
		missing := ""
		for _, w := range want {
			if !strings.Contains(s, w) {
				missing = w
				break
			}
		}
		if missing == "" {
			return
		}
		if time.Now().After(deadline) {
			term.t.Fatalf("no %q on the screen after 10s; it shows:\n%s", missing, lastBytes(s, 3000))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (term *terminal) send(keys string) {
	term.t.Helper()
	if _, err := io.WriteString(term.stdin, keys); err != nil {
		term.t.Fatal(err)
	}
}

func lastBytes(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}
