package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/lipgloss"

	"creditdesk/billing"
	"creditdesk/internal/sshconsole"
	"creditdesk/tui"
)

// sshOptions is how serve offers the console over SSH.
type sshOptions struct {
	// addr is where to listen; empty leaves SSH off.
	addr string
	// authorizedKeys is the authorized_keys file; empty is the running
	// user's ~/.ssh/authorized_keys.
	authorizedKeys string
	fs             *flag.FlagSet
}

// sshFlags adds --ssh and --ssh-authorized-keys to serve's flag set;
// defaults from CREDITDESK_SSH_ADDR and CREDITDESK_SSH_AUTHORIZED_KEYS
// (default ~/.ssh/authorized_keys of the user running creditdesk). Off
// unless --ssh or CREDITDESK_SSH_ADDR is given.
func sshFlags(fs *flag.FlagSet) *sshOptions {
	o := &sshOptions{addr: os.Getenv("CREDITDESK_SSH_ADDR"), authorizedKeys: os.Getenv("CREDITDESK_SSH_AUTHORIZED_KEYS"), fs: fs}
	fs.StringVar(&o.addr, "ssh", o.addr, "also serve the console over SSH on ADDR, e.g. :2222 (CREDITDESK_SSH_ADDR)")
	fs.StringVar(&o.authorizedKeys, "ssh-authorized-keys", o.authorizedKeys,
		"public keys that may open the console over SSH (CREDITDESK_SSH_AUTHORIZED_KEYS; default ~/.ssh/authorized_keys)")
	return o
}

// keysFile is the authorized keys file to read: the one given, with a
// leading ~/ expanded (a .env file does not expand it), else the running
// user's.
func (o *sshOptions) keysFile() (string, error) {
	p := o.authorizedKeys
	if p != "" && p != "~" && !strings.HasPrefix(p, "~/") {
		return p, nil
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("ssh: no home directory for ~/.ssh/authorized_keys (%v): give --ssh-authorized-keys", err)
	}
	if p == "" || p == "~" {
		return filepath.Join(home, ".ssh", "authorized_keys"), nil
	}
	return filepath.Join(home, p[2:]), nil
}

// startSSH starts the SSH console for a running app; returns a stop func
// (nil server when off). Each session gets its own console over a.svc,
// acting as "ssh:" and the key's comment; opt is the console's options,
// completed per session with its renderer and clipboard. Call stop before
// the store closes.
func startSSH(o *sshOptions, a *app, dbPath string, log *slog.Logger, opt tui.Options) (stop func(context.Context) error, err error) {
	off := func(context.Context) error { return nil }
	if o == nil || o.addr == "" {
		if o != nil && o.fs != nil && isSet(o.fs, "ssh-authorized-keys") {
			return off, errors.New("--ssh-authorized-keys needs --ssh ADDR (or CREDITDESK_SSH_ADDR), e.g. --ssh :2222")
		}
		return off, nil
	}
	keys, err := o.keysFile()
	if err != nil {
		return off, err
	}
	b := sshBackend{Backend: a.svc, stats: sshconsole.NewSharedStats(a.svc.Stats, sshStatsTTL)}
	srv, err := sshconsole.Start(sshconsole.Config{
		Addr:           o.addr,
		AuthorizedKeys: keys,
		HostKeyPath:    dbPath + ".ssh_host_ed25519_key",
		Log:            log,
	}, func(ctx context.Context, r *lipgloss.Renderer) (tea.Model, func()) {
		so := opt
		so.Renderer = r
		so.Who = billing.OperatorOf(ctx)
		// OSC 52 goes to the session's terminal, not this process's.
		so.Clipboard = r.Output()
		return tui.NewSession(ctx, b, so)
	})
	if err != nil {
		return off, err
	}
	log.Info("console over SSH", "addr", srv.Addr(), "authorized_keys", keys, "host_key", srv.HostKeyFingerprint())
	return srv.Shutdown, nil
}

// sshStatsTTL is how long the SSH consoles reuse one read of the stats.
const sshStatsTTL = 250 * time.Millisecond

// sshBackend is the service as the SSH consoles see it: one stats read
// shared by all of them, so that many consoles do not read the store after
// every event.
type sshBackend struct {
	tui.Backend
	stats *sshconsole.SharedStats
}

func (b sshBackend) Stats() billing.Stats { return b.stats.Stats() }

// isSet reports whether the flag name was given on the command line.
func isSet(fs *flag.FlagSet, name string) bool {
	set := false
	fs.Visit(func(f *flag.Flag) {
		if f.Name == name {
			set = true
		}
	})
	return set
}
