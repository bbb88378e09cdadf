package sshconsole

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/lipgloss"
	gossh "golang.org/x/crypto/ssh"

	"creditdesk/billing"
	"creditdesk/internal/testkit"
	"creditdesk/internal/testkit/sshterm"
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
	svc, _ := testkit.SampleService(t)
	return svc
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
	c, _, err := sshterm.Dial(addr, signer)
	return c, err
}

func lastBytes(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}
