package cli

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"flag"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	gossh "golang.org/x/crypto/ssh"

	"creditdesk/internal/config"
	"creditdesk/internal/testkit/sshterm"
	"creditdesk/tui"
)

func TestSSHFlags(t *testing.T) {
	t.Setenv("CREDITDESK_SSH_ADDR", "")
	t.Setenv("CREDITDESK_SSH_AUTHORIZED_KEYS", "")
	parse := func(args ...string) *sshOptions {
		fs := flag.NewFlagSet("serve", flag.ContinueOnError)
		fs.SetOutput(io.Discard)
		o := sshFlags(fs)
		if err := fs.Parse(args); err != nil {
			t.Fatal(err)
		}
		return o
	}
	if stop, err := startSSH(parse(), nil, "", discardLogger(), tui.Options{}); err != nil || stop(context.Background()) != nil {
		t.Fatalf("off by default: %v", err)
	}
	if _, err := startSSH(parse("--ssh-authorized-keys", "/tmp/k"), nil, "", discardLogger(), tui.Options{}); err == nil ||
		!strings.Contains(err.Error(), "--ssh") {
		t.Errorf("--ssh-authorized-keys without --ssh: %v", err)
	}

	t.Setenv("CREDITDESK_SSH_ADDR", ":2222")
	t.Setenv("CREDITDESK_SSH_AUTHORIZED_KEYS", "~/keys/ops")
	o := parse()
	home, _ := os.UserHomeDir()
	if got, _ := o.keysFile(); o.addr != ":2222" || got != filepath.Join(home, "keys", "ops") {
		t.Errorf("from the environment: addr %q keys %q", o.addr, got)
	}
	o = parse("--ssh", "127.0.0.1:0", "--ssh-authorized-keys", "/etc/creditdesk/keys")
	if got, _ := o.keysFile(); o.addr != "127.0.0.1:0" || got != "/etc/creditdesk/keys" {
		t.Errorf("flags over the environment: addr %q keys %q", o.addr, got)
	}
	t.Setenv("CREDITDESK_SSH_AUTHORIZED_KEYS", "")
	if got, _ := parse().keysFile(); got != filepath.Join(home, ".ssh", "authorized_keys") {
		t.Errorf("default keys file %q", got)
	}
}

// TestServeConsoleOverSSH: serve's SSH console is the real console over the
// running app, and stops before the store.
func TestServeConsoleOverSSH(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "s.db")
	a := testApp(t, config.Config{DB: db, WebhookSecret: "whsec_ssh"}, appOptions{requireSecret: true})
	defer a.stop()

	_, priv, _ := ed25519.GenerateKey(rand.Reader)
	signer, _ := gossh.NewSignerFromKey(priv)
	keys := filepath.Join(dir, "authorized_keys")
	line := strings.TrimSpace(string(gossh.MarshalAuthorizedKey(signer.PublicKey()))) + " ops@laptop\n"
	if err := os.WriteFile(keys, []byte(line), 0o600); err != nil {
		t.Fatal(err)
	}
	var logBuf syncBuffer
	log := slog.New(slog.NewTextHandler(&logBuf, nil))
	o := &sshOptions{addr: "127.0.0.1:0", authorizedKeys: keys}
	stop, err := startSSH(o, a, db, log, tui.Options{WebhookURL: a.url, DBPath: db})
	if err != nil {
		t.Fatal(err)
	}
	logged := logBuf.String()
	if !strings.Contains(logged, "authorized_keys="+keys) || strings.Contains(logged, strings.Fields(line)[1]) {
		t.Errorf("serve should log the keys file and never a key:\n%s", logged)
	}
	addr := ""
	for _, f := range strings.Fields(logged) {
		if v, ok := strings.CutPrefix(f, "addr="); ok {
			addr = v
		}
	}
	if fi, err := os.Stat(db + ".ssh_host_ed25519_key"); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("host key beside the database: %v %v", fi, err)
	}

	term := sshterm.Open(t, addr, signer, 120, 30, true)
	term.WaitFor(a.url)

	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	if err := stop(ctx); err != nil {
		t.Fatalf("stop: %v", err)
	}
	done := make(chan error, 1)
	go func() { done <- term.Sess.Wait() }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("the SSH session outlived stop")
	}
}
