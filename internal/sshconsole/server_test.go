package sshconsole

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/lipgloss"
	gossh "golang.org/x/crypto/ssh"

	"creditdesk/billing"
	"creditdesk/internal/testkit"
	"creditdesk/internal/testkit/sshterm"
)

func TestConsoleIsDrawnAndAnswersKeys(t *testing.T) {
	svc := newService(t)
	f := startFixture(t, realConsole(svc))
	term := sshterm.Open(t, f.srv.Addr(), f.key.signer, 100, 30, true)
	term.WaitFor("creditdesk", "1 Overview", "nothing paid in the last 30 days")

	term.Send("4")
	term.WaitFor("[4 Users]", "no users yet")

	term.Send("q")
	select {
	case <-term.Closed:
	case <-time.After(10 * time.Second):
		t.Fatal("q did not end the session")
	}
	if err := term.Sess.Wait(); err != nil {
		t.Errorf("session ended with %v, want exit 0", err)
	}
	if log := f.log.String(); !strings.Contains(log, "console opened") || !strings.Contains(log, "operator=ssh:alice@laptop") {
		t.Errorf("log lacks the console's operator:\n%s", log)
	}
}

// TestGrantFromSSHNamesTheKey drives a grant through the real console's
// keys and checks the ledger names the key's comment.
func TestGrantFromSSHNamesTheKey(t *testing.T) {
	svc := newService(t)
	ctx := billing.WithOperator(context.Background(), "local:test")
	if _, err := svc.Adjust(ctx, billing.Adjustment{User: "user_7", Delta: 100, Reason: "seed", Create: true}); err != nil {
		t.Fatal(err)
	}
	f := startFixture(t, realConsole(svc))
	term := sshterm.Open(t, f.srv.Addr(), f.key.signer, 100, 30, true)
	term.WaitFor("creditdesk", "1 Overview")
	term.Send("4")
	term.WaitFor("user_7")
	term.Send("\r") // open the user
	term.WaitFor("grant")
	term.Send("g")
	term.WaitFor("e.g. 500")
	term.Send("250\treturning customer\r")
	term.WaitFor("250")
	term.Send("y")

	deadline := time.Now().Add(10 * time.Second)
	for {
		es, err := svc.Ledger("user_7", 10)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range es {
			if e.Delta == 250 {
				if e.Operator != "ssh:alice@laptop" {
					t.Fatalf("grant recorded operator %q, want ssh:alice@laptop", e.Operator)
				}
				if e.Reason != "returning customer" {
					t.Errorf("reason %q", e.Reason)
				}
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no grant of 250 in the ledger after 10s: %+v\nscreen:\n%s", es, lastBytes(term.Screen(), 2000))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// captured records each console's context and whether it was ended.
type captured struct {
	mu    sync.Mutex
	ctxs  []context.Context
	ended int
}

func (c *captured) console(ctx context.Context, _ *lipgloss.Renderer) (tea.Model, func()) {
	c.mu.Lock()
	c.ctxs = append(c.ctxs, ctx)
	c.mu.Unlock()
	return quitter{}, func() {
		c.mu.Lock()
		c.ended++
		c.mu.Unlock()
	}
}

func (c *captured) state() (n, ended int, last context.Context) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.ctxs) > 0 {
		last = c.ctxs[len(c.ctxs)-1]
	}
	return len(c.ctxs), c.ended, last
}

// waitEnded waits until n consoles were ended.
func (c *captured) waitEnded(t *testing.T, n int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		if _, ended, _ := c.state(); ended >= n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("end was not called for %d consoles", n)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// quitter is a console that shows one line and quits on q.
type quitter struct{}

func (quitter) Init() tea.Cmd { return nil }
func (q quitter) Update(msg tea.Msg) (tea.Model, tea.Cmd) {
	if k, ok := msg.(tea.KeyMsg); ok && k.String() == "q" {
		return q, tea.Quit
	}
	return q, nil
}
func (quitter) View() string { return "minimal console" }

func TestOperatorIsTheKeysCommentOrFingerprint(t *testing.T) {
	var c captured
	f := startFixture(t, c.console)
	svc := newService(t)

	term := sshterm.Open(t, f.srv.Addr(), f.key.signer, 80, 24, true)
	term.WaitFor("minimal console")
	_, _, ctx := c.state()
	if got := billing.OperatorOf(ctx); got != "ssh:alice@laptop" {
		t.Fatalf("operator %q, want ssh:alice@laptop", got)
	}
	// A change made with the session's context is recorded as the key's.
	e, err := svc.Adjust(ctx, billing.Adjustment{User: "user_1", Delta: 500, Reason: "support", Create: true})
	if err != nil {
		t.Fatal(err)
	}
	if e.Operator != "ssh:alice@laptop" {
		t.Errorf("ledger operator %q", e.Operator)
	}

	// A line without a comment names the key by its fingerprint.
	bare := newClientKey(t, "")
	writeFile(t, f.keys, f.key.line, bare.line)
	term2 := sshterm.Open(t, f.srv.Addr(), bare.signer, 80, 24, true)
	term2.WaitFor("minimal console")
	_, _, ctx = c.state()
	if got, want := billing.OperatorOf(ctx), "ssh:"+gossh.FingerprintSHA256(bare.signer.PublicKey()); got != want {
		t.Errorf("operator %q, want %q", got, want)
	}

	// end is called when the console quits and when the client goes away.
	term.Send("q")
	c.waitEnded(t, 1)
	term2.Client.Close()
	c.waitEnded(t, 2)
	if ctx.Err() == nil {
		t.Error("the session's context outlived the session")
	}
}

func TestOnlyListedKeysGetIn(t *testing.T) {
	var c captured
	f := startFixture(t, c.console)
	stranger := newClientKey(t, "mallory@elsewhere")

	_, err := dial(f.srv.Addr(), stranger.signer)
	if err == nil || !strings.Contains(err.Error(), "unable to authenticate") {
		t.Fatalf("unlisted key: err %v, want refused", err)
	}
	log := f.log.String()
	fp := gossh.FingerprintSHA256(stranger.signer.PublicKey())
	if !strings.Contains(log, fp) {
		t.Errorf("refusal not logged with the fingerprint %s:\n%s", fp, log)
	}
	keyText := strings.Fields(stranger.line)[1]
	if strings.Contains(log, keyText) || strings.Contains(log, "mallory") {
		t.Errorf("the log shows the refused key itself:\n%s", log)
	}

	// Added to the file, the same key gets in without a restart.
	writeFile(t, f.keys, f.key.line, stranger.line)
	term := sshterm.Open(t, f.srv.Addr(), stranger.signer, 80, 24, true)
	term.WaitFor("minimal console")
	if _, _, ctx := c.state(); billing.OperatorOf(ctx) != "ssh:mallory@elsewhere" {
		t.Errorf("operator %q", billing.OperatorOf(ctx))
	}

	// Removed, it is refused again.
	writeFile(t, f.keys, f.key.line)
	if _, err := dial(f.srv.Addr(), stranger.signer); err == nil {
		t.Error("a key removed from the file still gets in")
	}
}

func TestNoPasswordOrKeyboardInteractive(t *testing.T) {
	var c captured
	f := startFixture(t, c.console)
	_, err := gossh.Dial("tcp", f.srv.Addr(), &gossh.ClientConfig{
		User: "founder",
		Auth: []gossh.AuthMethod{
			gossh.Password("hunter2"),
			gossh.KeyboardInteractive(func(string, string, []string, []bool) ([]string, error) { return nil, nil }),
		},
		HostKeyCallback: gossh.InsecureIgnoreHostKey(),
		Timeout:         5 * time.Second,
	})
	if err == nil {
		t.Fatal("logged in without a key")
	}
	if !strings.Contains(err.Error(), "attempted methods [none]") {
		t.Errorf("server offered more than public keys: %v", err)
	}
}

func TestRefusalsAreRateLimited(t *testing.T) {
	var c captured
	f := startFixture(t, c.console)
	for range 10 {
		k := newClientKey(t, "")
		if _, err := dial(f.srv.Addr(), k.signer); err == nil {
			t.Fatal("unlisted key got in")
		}
	}
	k := newClientKey(t, "")
	_, _ = dial(f.srv.Addr(), k.signer)
	n := strings.Count(f.log.String(), "key not in authorized keys")
	if n < 1 || n > 4 {
		t.Errorf("%d refusal lines for 11 refusals, want at most a few:\n%s", n, f.log.String())
	}
}

func TestStartRefusesWithoutUsableKey(t *testing.T) {
	dir := t.TempDir()
	noConsole := func(context.Context, *lipgloss.Renderer) (tea.Model, func()) { return quitter{}, nil }
	withKeyOptions := newClientKey(t, "backup@nas")
	for name, content := range map[string]*string{
		"missing":   nil,
		"empty":     ptr(""),
		"comments":  ptr("# my keys\n\n"),
		"garbage":   ptr("ssh-ed25519 not-base64 x@y\n"),
		"options":   ptr(`command="/usr/bin/backup" ` + withKeyOptions.line),
		"a private": ptr("-----BEGIN OPENSSH PRIVATE KEY-----\nb3Blbg==\n-----END OPENSSH PRIVATE KEY-----\n"),
	} {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(dir, name+"_authorized_keys")
			if content != nil {
				writeFile(t, path, *content)
			}
			srv, err := Start(Config{Addr: "127.0.0.1:0", AuthorizedKeys: path, HostKeyPath: filepath.Join(dir, "hk")}, noConsole)
			if err == nil {
				srv.Shutdown(context.Background())
				t.Fatal("started")
			}
			msg := err.Error()
			if strings.Contains(msg, "\n") || !strings.Contains(msg, path) || !strings.HasPrefix(msg, "ssh: ") {
				t.Errorf("want one line naming %s, got %q", path, msg)
			}
			if !strings.Contains(msg, "ssh-ed25519 AAAA") {
				t.Errorf("error does not say what to add: %q", msg)
			}
		})
	}
}

func ptr[T any](v T) *T { return &v }

func TestSessionWithoutPTYGetsOneLine(t *testing.T) {
	var c captured
	f := startFixture(t, c.console)
	client, err := dial(f.srv.Addr(), f.key.signer)
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	sess, err := client.NewSession()
	if err != nil {
		t.Fatal(err)
	}
	var stdout, stderr bytes.Buffer
	sess.Stdout, sess.Stderr = &stdout, &stderr
	done := make(chan error, 1)
	go func() { done <- sess.Run("balance user_1") }()
	select {
	case err = <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("session without a PTY was not closed")
	}
	var exit *gossh.ExitError
	if !errors.As(err, &exit) || exit.ExitStatus() != 1 {
		t.Errorf("exit: %v, want status 1", err)
	}
	out := strings.TrimRight(stdout.String()+stderr.String(), "\r\n")
	if out == "" || strings.Contains(out, "\n") {
		t.Errorf("want one line, got %q", out)
	}
	if n, _, _ := c.state(); n != 0 {
		t.Errorf("a console was built for a session without a terminal")
	}
}

func TestHostKeyIsEd25519PrivateAndReused(t *testing.T) {
	var c captured
	f := startFixture(t, c.console)
	fi, err := os.Stat(f.hostKey)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("host key mode %04o, want 0600", fi.Mode().Perm())
	}
	b, err := os.ReadFile(f.hostKey)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := gossh.ParseRawPrivateKey(b)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := raw.(*ed25519.PrivateKey); !ok {
		t.Errorf("host key is %T, want ed25519", raw)
	}
	if _, err := os.Stat(f.hostKey + ".pub"); err == nil {
		t.Error("a .pub file was written beside the host key")
	}

	// The key the client sees is the file's, and a second start reuses it.
	seen := func(addr string) string {
		var fp string
		client, err := gossh.Dial("tcp", addr, &gossh.ClientConfig{User: "founder", Auth: []gossh.AuthMethod{gossh.PublicKeys(f.key.signer)},
			HostKeyCallback: func(_ string, _ net.Addr, k gossh.PublicKey) error { fp = gossh.FingerprintSHA256(k); return nil }})
		if err != nil {
			t.Fatal(err)
		}
		client.Close()
		return fp
	}
	first := seen(f.srv.Addr())
	if first != f.srv.HostKeyFingerprint() {
		t.Errorf("client saw %s, server says %s", first, f.srv.HostKeyFingerprint())
	}
	if err := f.srv.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	srv2, err := Start(Config{Addr: "127.0.0.1:0", AuthorizedKeys: f.keys, HostKeyPath: f.hostKey}, c.console)
	if err != nil {
		t.Fatal(err)
	}
	defer srv2.Shutdown(context.Background())
	if second := seen(srv2.Addr()); second != first {
		t.Errorf("second start has host key %s, first had %s", second, first)
	}

	// A host key others can read is refused.
	if err := os.Chmod(f.hostKey, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Start(Config{Addr: "127.0.0.1:0", AuthorizedKeys: f.keys, HostKeyPath: f.hostKey}, c.console); err == nil ||
		!strings.Contains(err.Error(), "chmod 600") {
		t.Errorf("world-readable host key: %v", err)
	}
}

func TestResizeRedraws(t *testing.T) {
	svc := newService(t)
	f := startFixture(t, realConsole(svc))
	term := sshterm.Open(t, f.srv.Addr(), f.key.signer, 100, 30, true)
	term.WaitFor("creditdesk", "1 Overview")
	term.Reset()
	// Narrow enough that inactive tabs lose their titles.
	if err := term.Sess.WindowChange(20, 40); err != nil {
		t.Fatal(err)
	}
	// A frame drawn at 100 columns may still be on its way when the resize
	// is sent; the redraw comes after it, so look at the newest frame: from
	// the last header on.
	var wide string
	defer func() {
		if t.Failed() {
			t.Log("the newest frame has", wide)
		}
	}()
	testkit.Eventually(t, 10*time.Second, "a redraw at 40 columns", func() bool {
		s := term.Screen()
		i := strings.LastIndex(s, "creditdesk")
		if i < 0 || !strings.Contains(s[i:], "1 ") {
			return false
		}
		wide = ""
		for _, line := range strings.Split(s[i:], "\n") {
			if w := lipgloss.Width(strings.TrimRight(line, "\r")); w > 40 {
				wide = fmt.Sprintf("a line %d wide: %q", w, line)
			}
		}
		return wide == ""
	})
}

// TestStalledClientStallsOnlyItself: a client that stops reading keeps
// neither the other consoles from drawing nor ingest from running, and
// Shutdown still ends it.
func TestStalledClientStallsOnlyItself(t *testing.T) {
	svc := newService(t)
	f := startFixture(t, realConsole(svc))
	for i := range 200 { // rows, so the stalled console's frames are large
		if _, _, err := svc.Ingest(eventBody(i, "checkout.session.completed"), "test"); err != nil {
			t.Fatal(err)
		}
	}
	reader := sshterm.Open(t, f.srv.Addr(), f.key.signer, 100, 30, true)
	reader.WaitFor("creditdesk", "1 Overview")
	stalled := sshterm.Open(t, f.srv.Addr(), f.key.signer, 300, 100, false)
	stallClient(t, stalled) // its console is now blocked writing

	start := time.Now()
	for i := 200; i < 700; i++ {
		if _, _, err := svc.Ingest(eventBody(i, "checkout.session.completed"), "test"); err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("500 events ingested in %v with a stalled console", time.Since(start))
	if _, _, err := svc.Ingest(eventBody(700, "sshtest.marker"), "test"); err != nil {
		t.Fatal(err)
	}
	reader.WaitFor("sshtest.marker")
	// Keys still answer in the other console.
	reader.Send("4")
	reader.WaitFor("[4 Users]")

	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- f.srv.Shutdown(ctx) }()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("shutdown: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Shutdown hung on the stalled client")
	}
	if !strings.Contains(f.log.String(), "did not quit in time") {
		t.Errorf("the stalled console was not reported as cut off:\n%s", f.log.String())
	}
}

// eventBody is a Stripe event envelope with a unique id.
func eventBody(i int, typ string) []byte {
	return []byte(fmt.Sprintf(`{"id":"evt_sshtest_%07d","object":"event","type":%q,"created":%d,"api_version":"2023-10-16",`+
		`"livemode":false,"data":{"object":{"id":"cs_sshtest_%07d","object":"checkout.session","mode":"payment",`+
		`"payment_status":"paid","client_reference_id":"user_%d","amount_total":900,"currency":"usd"}}}`,
		i, typ, time.Now().Unix(), i, i%50))
}

func TestAuthorizedKeysOthersMayWriteAreRefused(t *testing.T) {
	var c captured
	f := startFixture(t, c.console)
	if err := os.Chmod(f.keys, 0o664); err != nil {
		t.Fatal(err)
	}
	_, err := Start(Config{Addr: "127.0.0.1:0", AuthorizedKeys: f.keys, HostKeyPath: f.hostKey}, c.console)
	if err == nil || !strings.Contains(err.Error(), "chmod go-w "+f.keys) || strings.Contains(err.Error(), "\n") {
		t.Errorf("group-writable authorized keys at Start: %v", err)
	}
	// At a login too: the file changed after Start.
	if _, err := dial(f.srv.Addr(), f.key.signer); err == nil {
		t.Error("logged in with a group-writable authorized keys file")
	}
	if !strings.Contains(f.log.String(), "writable by others") {
		t.Errorf("not logged:\n%s", f.log.String())
	}
}

func TestOperatorNameFromComment(t *testing.T) {
	for in, want := range map[string]string{
		"alice@laptop":             "alice@laptop",
		"bob \x1b[31mred\x1b[0m":   "bob [31mred[0m",
		"  carol  ":                "carol",
		strings.Repeat("x", 100):   strings.Repeat("x", 64),
		"\x07\x08":                 "",
		"dave's key (work laptop)": "dave's key (work laptop)",
	} {
		if got := operatorName(in); got != want {
			t.Errorf("operatorName(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestUnauthenticatedConnectionsAreDropped: a connection that never
// authenticates (a scanner, a flood of idle sockets) is closed after the
// handshake timeout; an authenticated console outlives it.
func TestUnauthenticatedConnectionsAreDropped(t *testing.T) {
	old := handshakeTimeout
	handshakeTimeout = 300 * time.Millisecond
	defer func() { handshakeTimeout = old }()
	svc := newService(t)
	f := startFixture(t, realConsole(svc))

	idle, err := net.Dial("tcp", f.srv.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer idle.Close()
	_ = idle.SetReadDeadline(time.Now().Add(10 * time.Second))
	buf := make([]byte, 512)
	for {
		if _, err := idle.Read(buf); err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				t.Fatal("a connection that never authenticated was kept open")
			}
			break // closed by the server
		}
	}

	term := sshterm.Open(t, f.srv.Addr(), f.key.signer, 100, 30, true)
	term.WaitFor("creditdesk", "1 Overview")
	time.Sleep(3 * handshakeTimeout)
	term.Send("4")
	term.WaitFor("[4 Users]")
}

// TestAKeyWithOptionsIsRefusedWithTheReason: a line such as
// `from="1.2.3.4" ssh-ed25519 …` is in the file but not honoured; the log
// says so instead of "not in authorized keys".
func TestAKeyWithOptionsIsRefusedWithTheReason(t *testing.T) {
	var c captured
	f := startFixture(t, c.console)
	k := newClientKey(t, "me@laptop")
	writeFile(t, f.keys, f.key.line, `from="127.0.0.1" `+k.line)
	if _, err := dial(f.srv.Addr(), k.signer); err == nil {
		t.Fatal("a key whose line carries options must not get in")
	}
	log := f.log.String()
	if !strings.Contains(log, "carries options") || strings.Contains(log, "key not in authorized keys") {
		t.Fatalf("the refusal must give the reason:\n%s", log)
	}
}
