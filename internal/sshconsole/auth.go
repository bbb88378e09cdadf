package sshconsole

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"strings"
	"sync/atomic"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/charmbracelet/ssh"
	gossh "golang.org/x/crypto/ssh"
	"golang.org/x/time/rate"
)

// operatorExt is the permissions extension that carries the operator's
// name from the key check to the session. Permissions, unlike the
// connection's context, belong to the key that finally authenticated, even
// when a client offered several.
const operatorExt = "creditdesk-operator"

// authorizedKey is one usable line of the authorized keys file.
type authorizedKey struct {
	key     gossh.PublicKey
	comment string
}

// keyFile is the authorized keys file as read at one moment.
type keyFile struct {
	keys []authorizedKey
	// skipped counts lines that hold a key with options (from=, command=,
	// no-pty, ...): the console does not honour options, so rather than
	// ignore a restriction it does not let such a key in.
	skipped int
	// withOptions are those keys, so a refusal can say why.
	withOptions []gossh.PublicKey
}

// readAuthorizedKeys reads path in OpenSSH's authorized_keys format. Lines
// that do not parse are skipped (gossh.ParseAuthorizedKey moves past them):
// a bad line lets no one in, and the keys on the good lines still work.
func readAuthorizedKeys(path string) (keyFile, error) {
	f, err := os.Open(path)
	if err != nil {
		return keyFile{}, err
	}
	defer f.Close()
	// As sshd's StrictModes: a file others may write lets anyone add a key.
	if fi, err := f.Stat(); err != nil {
		return keyFile{}, err
	} else if perm := fi.Mode().Perm(); perm&0o022 != 0 {
		return keyFile{}, &writableError{path: path, perm: perm}
	}
	b, err := io.ReadAll(f)
	if err != nil {
		return keyFile{}, err
	}
	var kf keyFile
	for rest := b; len(bytes.TrimSpace(rest)) > 0; {
		key, comment, options, next, err := gossh.ParseAuthorizedKey(rest)
		if err != nil {
			break // no further key in the file
		}
		rest = next
		if len(options) > 0 {
			kf.skipped++
			kf.withOptions = append(kf.withOptions, key)
			continue
		}
		kf.keys = append(kf.keys, authorizedKey{key: key, comment: comment})
	}
	return kf, nil
}

// writableError is an authorized keys file that group or others may write.
type writableError struct {
	path string
	perm fs.FileMode
}

func (e *writableError) Error() string {
	return fmt.Sprintf("ssh: %s is writable by others (mode %04o), so anyone could add a key: chmod go-w %s", e.path, e.perm, e.path)
}

// lookup returns the name of the operator whose key is k: "ssh:" and the
// line's comment, or "ssh:" and the key's SHA256 fingerprint when the line
// has none.
func (kf keyFile) lookup(k ssh.PublicKey) (string, bool) {
	for _, ak := range kf.keys {
		if ssh.KeysEqual(k, ak.key) {
			if c := operatorName(ak.comment); c != "" {
				return "ssh:" + c, true
			}
			return "ssh:" + gossh.FingerprintSHA256(k), true
		}
	}
	return "", false
}

// checkAuthorizedKeys is Start's check: the file exists and lets someone
// in. The error is one line naming the file and saying what to do.
func checkAuthorizedKeys(path string) (keyFile, error) {
	const hint = "add your laptop's key (ssh-ed25519 AAAA… you@laptop) to it"
	if path == "" {
		return keyFile{}, errors.New("ssh: no authorized keys file given")
	}
	kf, err := readAuthorizedKeys(path)
	var writable *writableError
	switch {
	case errors.As(err, &writable):
		return kf, err
	case errors.Is(err, fs.ErrNotExist):
		return kf, fmt.Errorf("ssh: %s does not exist: create it and %s", path, hint)
	case err != nil:
		return kf, fmt.Errorf("ssh: cannot read %s: %v", path, cause(err))
	case len(kf.keys) == 0 && kf.skipped > 0:
		return kf, fmt.Errorf("ssh: no usable public key in %s: its %d keys carry options (from=, command=, ...), which the console does not honour; %s", path, kf.skipped, hint)
	case len(kf.keys) == 0:
		return kf, fmt.Errorf("ssh: no usable public key in %s: %s", path, hint)
	}
	return kf, nil
}

// keyChecker decides who may log in. It re-reads the authorized keys file
// at every attempt, so a key added or removed takes effect at the next
// login without a restart.
type keyChecker struct {
	path string
	log  *slog.Logger
	// refusals limits the log lines for unknown keys: a scanner trying keys
	// must not fill the log. suppressed counts the lines left out.
	refusals   *rate.Limiter
	suppressed atomic.Int64
	// readFailed is when the file last could not be read, to log that once
	// a minute at most.
	readFailed atomic.Int64
}

func newKeyChecker(path string, log *slog.Logger) *keyChecker {
	return &keyChecker{path: path, log: log, refusals: rate.NewLimiter(rate.Every(20*time.Second), 3)}
}

// check is the server's PublicKeyHandler. On a match it names the operator
// in the connection's permissions.
func (c *keyChecker) check(ctx ssh.Context, key ssh.PublicKey) bool {
	kf, err := readAuthorizedKeys(c.path)
	if err != nil {
		// Fail closed; say so, but not at every attempt.
		now := time.Now().UnixNano()
		if last := c.readFailed.Load(); now-last > int64(time.Minute) && c.readFailed.CompareAndSwap(last, now) {
			c.log.Warn("ssh: cannot read authorized keys; refusing every login", "file", c.path, "err", loginErr(err))
		}
		return false
	}
	name, ok := kf.lookup(key)
	if !ok {
		c.refused(ctx, key, kf.hasWithOptions(key))
		return false
	}
	p := ctx.Permissions()
	if p.Extensions == nil {
		p.Extensions = map[string]string{}
	}
	p.Extensions[operatorExt] = name
	if c, ok := ctx.Value(connKey{}).(*authConn); ok {
		c.authenticated()
	}
	return true
}

// refused logs an unknown key by its fingerprint, never the key itself.
// Clients offer every key they have, so one refusal before a login is
// normal.
// hasWithOptions reports whether key is in the file on a line with options.
func (f keyFile) hasWithOptions(key ssh.PublicKey) bool {
	for _, k := range f.withOptions {
		if ssh.KeysEqual(k, key) {
			return true
		}
	}
	return false
}

func (c *keyChecker) refused(ctx ssh.Context, key ssh.PublicKey, withOptions bool) {
	if !c.refusals.Allow() {
		c.suppressed.Add(1)
		return
	}
	attrs := []any{"fingerprint", gossh.FingerprintSHA256(key), "user", ctx.User(), "remote", addrString(ctx.RemoteAddr())}
	if n := c.suppressed.Swap(0); n > 0 {
		attrs = append(attrs, "suppressed", n)
	}
	if withOptions {
		c.log.Info("ssh: key refused: its authorized_keys line carries options (from=, command=, …), which the console does not honour; give it a line of its own without them", attrs...)
		return
	}
	c.log.Info("ssh: key not in authorized keys", attrs...)
}

// operatorOf is who a session's operator is, as the key check named them.
func operatorOf(ctx ssh.Context) string {
	if p := ctx.Permissions(); p != nil && p.Permissions != nil {
		if name := p.Extensions[operatorExt]; name != "" {
			return name
		}
	}
	return "ssh:?"
}

// operatorName is a key's comment fit to name an operator in the ledger
// and the console: control characters dropped, at most 64 characters.
func operatorName(comment string) string {
	name := strings.Map(func(r rune) rune {
		if unicode.IsControl(r) || r == utf8.RuneError {
			return -1
		}
		return r
	}, comment)
	name = strings.TrimSpace(name)
	if r := []rune(name); len(r) > 64 {
		name = string(r[:64])
	}
	return name
}

// loginErr is what to log when the file cannot be used at a login.
func loginErr(err error) error {
	var writable *writableError
	if errors.As(err, &writable) {
		return err
	}
	return cause(err)
}

// cause is err without its path, which the message already names.
func cause(err error) error {
	if u := errors.Unwrap(err); u != nil {
		return u
	}
	return err
}
