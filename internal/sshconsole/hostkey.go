package sshconsole

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"os"

	gossh "golang.org/x/crypto/ssh"
)

// loadHostKey returns the server's host key from path, creating an ed25519
// key there (mode 0600, OpenSSH format) when the file does not exist. An
// existing key is reused whatever its type, so clients keep trusting it; one
// that others can read is refused, as sshd refuses it.
//
// We write the key ourselves rather than let wish.WithHostKeyPath do it:
// keygen also writes a .pub file beside it and chmods the directory (the
// database's) to 0700.
func loadHostKey(path string) (gossh.Signer, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return createHostKey(path)
	}
	if err != nil {
		return nil, fmt.Errorf("ssh: host key: %w", err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("ssh: host key: %w", err)
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		return nil, fmt.Errorf("ssh: host key %s is readable by others (mode %04o): chmod 600 %s", path, perm, path)
	}
	signer, err := gossh.ParsePrivateKey(b)
	if err != nil {
		return nil, fmt.Errorf("ssh: host key %s: %v (move it away and a new one is created)", path, err)
	}
	return signer, nil
}

func createHostKey(path string) (gossh.Signer, error) {
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("ssh: host key: %w", err)
	}
	block, err := gossh.MarshalPrivateKey(priv, "creditdesk host key")
	if err != nil {
		return nil, fmt.Errorf("ssh: host key: %w", err)
	}
	// O_EXCL: two processes starting at once must not both write a key.
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, fmt.Errorf("ssh: host key: %w", err)
	}
	if _, err := f.Write(pem.EncodeToMemory(block)); err != nil {
		f.Close()
		os.Remove(path)
		return nil, fmt.Errorf("ssh: host key: %w", err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		os.Remove(path)
		return nil, fmt.Errorf("ssh: host key: %w", err)
	}
	if err := f.Close(); err != nil {
		os.Remove(path)
		return nil, fmt.Errorf("ssh: host key: %w", err)
	}
	return gossh.NewSignerFromKey(priv)
}
