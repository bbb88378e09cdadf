package cli

import (
	"bytes"
	"context"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	tea "github.com/charmbracelet/bubbletea"

	"creditdesk/billing"
	"creditdesk/internal/config"
	"creditdesk/tui"
)

// startServeApp is serve's app over db, in-process, signed with crashSecret.
func startServeApp(t *testing.T, db string) *app {
	t.Helper()
	return testApp(t, config.Config{DB: db, WebhookSecret: crashSecret}, appOptions{requireSecret: true, mode: "serve"})
}

func (c *console) keys(s ...string) {
	for _, k := range s {
		var msg tea.KeyMsg
		switch k {
		case "enter":
			msg = tea.KeyMsg{Type: tea.KeyEnter}
		case "tab":
			msg = tea.KeyMsg{Type: tea.KeyTab}
		default:
			msg = tea.KeyMsg{Type: tea.KeyRunes, Runes: []rune(k)}
		}
		var cmd tea.Cmd
		c.m, cmd = c.m.Update(msg)
		c.run(cmd)
	}
}

// TestConsoleAttachesToARunningServe is the console on the server: serve
// holds the database, the console attaches through the socket, sees a
// signed event arrive, grants once however often the grant is sent, says
// when serve stops and reattaches when it is back.
func TestConsoleAttachesToARunningServe(t *testing.T) {
	db := filepath.Join(t.TempDir(), "serve.db")
	a := startServeApp(t, db)
	defer func() { a.stop() }()

	client, err := dialRunning(db)
	if err != nil {
		t.Fatalf("attach to running serve: %v", err)
	}
	if info := client.Info(); info.Mode != "serve" || info.WebhookURL != a.url {
		t.Fatalf("info: %+v", info)
	}
	m, end := tui.NewSession(context.Background(), client, tui.Options{WebhookURL: client.Info().WebhookURL})
	defer end()
	c := &console{m: m, msgs: make(chan tea.Msg, 1024)}
	c.run(c.m.Init())
	var cmd tea.Cmd
	c.m, cmd = c.m.Update(tea.WindowSizeMsg{Width: 120, Height: 40})
	c.run(cmd)
	if v, ok := c.until([]string{"attached to serve (pid", "[1 Overview]", "none yet"}, 5*time.Second); !ok {
		t.Fatalf("attached console's first frame:\n%s", v)
	} else if strings.Contains(v, "Checkout") {
		t.Fatalf("serve has no Stripe key: the attached console must not offer the Stripe tabs:\n%s", v)
	}

	// A signed event sent to serve appears in the attached console, live.
	_, user, body := packEvent(1)
	if code, err := deliver(http.DefaultClient, a.url, body); err != nil || code != 200 {
		t.Fatalf("deliver: %d %v", code, err)
	}
	if v, ok := c.until([]string{"checkout.session.completed", user, "+10"}, 5*time.Second); !ok {
		t.Fatalf("the event did not reach the attached console:\n%s", v)
	}

	// A grant through the console's form lands in serve's ledger with the
	// Unix user who made it.
	c.keys("4")
	if v, ok := c.until([]string{user}, 5*time.Second); !ok {
		t.Fatalf("users tab:\n%s", v)
	}
	c.keys("enter")
	if v, ok := c.until([]string{"balance 10"}, 5*time.Second); !ok {
		t.Fatalf("user detail:\n%s", v)
	}
	c.keys("g")
	if v, ok := c.until([]string{"Grant credits"}, 5*time.Second); !ok {
		t.Fatalf("grant form:\n%s", v)
	}
	c.keys("250", "tab", "goodwill", "enter")
	if v, ok := c.until([]string{"y/n"}, 5*time.Second); !ok {
		t.Fatalf("grant confirmation:\n%s", v)
	}
	c.keys("y")
	if v, ok := c.until([]string{"Granted 250 credits to " + user}, 5*time.Second); !ok {
		t.Fatalf("grant from the attached console:\n%s", v)
	}
	want := billing.LocalOperator()
	es, err := a.svc.Ledger(user, 10)
	if err != nil || len(es) != 2 || es[0].Delta != 250 || es[0].Operator != want {
		t.Fatalf("serve's ledger after the console's grant: %+v %v (want operator %s)", es, err, want)
	}

	// The same grant sent twice (a retried submission) lands once.
	for range 2 {
		if _, err := client.Adjust(context.Background(), billing.Adjustment{User: user, Delta: 40, Reason: "retried", Create: true, Key: "retry-key-1"}); err != nil {
			t.Fatal(err)
		}
	}
	if es, _ = a.svc.Ledger(user, 10); len(es) != 3 || es[0].BalanceAfter != 300 || es[0].Operator != want {
		t.Fatalf("a grant sent twice: %+v", es)
	}

	// serve stops: the console says so and keeps its screen.
	if err := a.stop(); err != nil {
		t.Fatal(err)
	}
	if v, ok := c.until([]string{"stopped", "reattaching", user}, 5*time.Second); !ok {
		t.Fatalf("the console did not say serve stopped:\n%s", v)
	}
	// serve is back (systemctl restart): the console reattaches by itself
	// and shows what arrived while it was away.
	a = startServeApp(t, db)
	_, user2, body2 := packEvent(2)
	if code, err := deliver(http.DefaultClient, a.url, body2); err != nil || code != 200 {
		t.Fatalf("deliver after restart: %d %v", code, err)
	}
	c.keys("2")
	if v, ok := c.until([]string{"attached to serve (pid", "reattached", user2}, 10*time.Second); !ok {
		t.Fatalf("the console did not reattach:\n%s", v)
	}
}

// TestConsoleCommandAttachesInsteadOfFailing: `creditdesk --db DB` on a
// database serve holds finds the socket instead of the lock.
func TestConsoleCommandAttachesInsteadOfFailing(t *testing.T) {
	db := filepath.Join(t.TempDir(), "held.db")
	a := startServeApp(t, db)
	defer a.stop()
	c, err := dialRunning(db)
	if err != nil {
		t.Fatalf("a held database must be attachable: %v", err)
	}
	if c.Operator() != nil {
		t.Fatal("serve without STRIPE_SECRET_KEY must not offer the Stripe panes")
	}
	if _, err := dialRunning(filepath.Join(t.TempDir(), "free.db")); err == nil {
		t.Fatal("nothing serves a free database; dialRunning must fail so the console opens it itself")
	}
	if text, up := c.Attachment(); !up || !strings.HasPrefix(text, "attached to serve") {
		t.Fatalf("attachment %q %v", text, up)
	}
}

// TestSecondServeSaysWhoHoldsTheDatabase: a second serve (or console with
// --take-over) on a held database names the holder and the two ways on,
// before the port it also holds gets in the way.
func TestSecondServeSaysWhoHoldsTheDatabase(t *testing.T) {
	db := filepath.Join(t.TempDir(), "held.db")
	a := startServeApp(t, db)
	defer a.stop()
	env := &Env{Stdout: &bytes.Buffer{}, Stderr: &bytes.Buffer{}, Config: config.Config{
		DB: db, Addr: "127.0.0.1:0", WebhookPath: "/api/stripe/webhook", WebhookSecret: crashSecret}}
	_, err := startApp(env, appOptions{requireSecret: true, log: discardLogger(), mode: "serve"})
	if err == nil || !strings.Contains(err.Error(), "held by creditdesk serve (pid") || !strings.Contains(err.Error(), "systemctl stop creditdesk") {
		t.Fatalf("second serve: %v", err)
	}
}

// TestConsoleDoesNotTakeTheplaceOfADeadServe: serve died (its pid file is
// left); the console waits for systemd to bring it back instead of
// receiving webhooks in its place, and says how to go on.
func TestConsoleDoesNotTakeThePlaceOfADeadServe(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "dead.db")
	a := startServeApp(t, db)
	a.stop()
	// What kill -9 leaves: the pid file of a process that is gone.
	if err := os.WriteFile(db+".pid", []byte("999999 serve\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	code, _, stderr := run(t, nil, "--db", db)
	if code == 0 || !strings.Contains(stderr, "systemctl start creditdesk") || !strings.Contains(stderr, "--take-over") {
		t.Fatalf("console on a dead serve's database: %d %q", code, stderr)
	}
}

// TestWordsAfterConsoleFlagsAreNotIgnored: `creditdesk --addr X users`
// does not silently open the console.
func TestWordsAfterConsoleFlagsAreNotIgnored(t *testing.T) {
	db := filepath.Join(t.TempDir(), "x.db")
	code, _, stderr := run(t, nil, "--addr", "127.0.0.1:0", "users", "--db", db)
	if code != 2 || !strings.Contains(stderr, "put the command first: creditdesk users") {
		t.Fatalf("creditdesk --addr X users: %d %q", code, stderr)
	}
	code, _, stderr = run(t, nil, "--addr", "127.0.0.1:0", "bogus", "--db", db)
	if code != 2 || !strings.Contains(stderr, `unknown command "bogus"`) {
		t.Fatalf("creditdesk --addr X bogus: %d %q", code, stderr)
	}
}
