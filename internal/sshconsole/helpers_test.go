package sshconsole

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
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

// realConsole serves the real console over svc, as internal/cli does.
func realConsole(svc *billing.Service) NewConsole {
	return func(ctx context.Context, r *lipgloss.Renderer) (tea.Model, func()) {
		return tui.NewSession(ctx, svc, tui.Options{Renderer: r, WebhookURL: "http://127.0.0.1:0/webhook"})
	}
}

// testLog is a logger whose output the test can read.
type testLog struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *testLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *testLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

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
	return gossh.Dial("tcp", addr, &gossh.ClientConfig{
		User:            "founder",
		Auth:            []gossh.AuthMethod{gossh.PublicKeys(signer)},
		HostKeyCallback: gossh.InsecureIgnoreHostKey(),
		Timeout:         5 * time.Second,
	})
}

// terminal is an SSH session with a PTY whose output the test reads.
type terminal struct {
	t      testing.TB
	client *gossh.Client
	sess   *gossh.Session
	stdin  io.WriteCloser
	mu     sync.Mutex
	out    bytes.Buffer
	closed chan struct{} // stdout reached EOF
}

// openTerminal logs in with signer and starts a shell on a w×h PTY. When
// read is false nothing reads its stdout: the client stalls once the
// channel's window is full.
func openTerminal(t testing.TB, addr string, signer gossh.Signer, w, h int, read bool) *terminal {
	t.Helper()
	client, err := dial(addr, signer)
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
	term := &terminal{t: t, client: client, sess: sess, closed: make(chan struct{})}
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
