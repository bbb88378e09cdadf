package appwebhook

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// The signing secret lives in a file of its own beside the database
// (SecretPath), mode 0600: HMAC signing needs the secret itself, so it
// cannot be stored hashed. Each line is a secret; the first is current,
// the others were rotated out and carry the time until which they still
// sign ("whsec_… 2026-12-02T23:40:00Z"). A running serve reads the file at
// each round of deliveries, so a rotation takes effect without a restart.

// RotationOverlap is how long a rotated-out secret keeps signing.
const RotationOverlap = 24 * time.Hour

// SecretPath is where the signing secret of the database at dbPath lives.
func SecretPath(dbPath string) string { return dbPath + ".appwebhook-secret" }

// LoadSecrets returns the secrets in force at now, newest first; none when
// the file does not exist.
func LoadSecrets(path string, now time.Time) ([]string, error) {
	raw, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read the app webhook secret: %w", err)
	}
	var out []string
	sc := bufio.NewScanner(bytes.NewReader(raw))
	for n := 1; sc.Scan(); n++ {
		f := strings.Fields(sc.Text())
		if len(f) == 0 {
			continue
		}
		if !strings.HasPrefix(f[0], "whsec_") {
			return nil, fmt.Errorf("%s line %d is not a whsec_ secret", path, n)
		}
		if len(f) > 1 {
			until, err := time.Parse(time.RFC3339, f[1])
			if err != nil {
				return nil, fmt.Errorf("%s line %d: bad time %q", path, n, f[1])
			}
			if !now.Before(until) {
				continue
			}
		}
		out = append(out, f[0])
	}
	return out, sc.Err()
}

// RotateSecret makes a new secret, current from now on; the one it
// replaces signs too until now+RotationOverlap. It returns the new secret
// (shown once) and, when there was one, the hint of the old.
func RotateSecret(path string, now time.Time) (secret, oldHint string, err error) {
	current, err := LoadSecrets(path, now)
	if err != nil {
		return "", "", err
	}
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		return "", "", err
	}
	secret = "whsec_" + base64.StdEncoding.EncodeToString(key)
	var b strings.Builder
	b.WriteString(secret + "\n")
	if len(current) > 0 {
		oldHint = Hint(current[0])
		fmt.Fprintf(&b, "%s %s\n", current[0], now.Add(RotationOverlap).UTC().Format(time.RFC3339))
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return "", "", err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(b.String()), 0o600); err != nil {
		return "", "", fmt.Errorf("write the app webhook secret: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return "", "", fmt.Errorf("write the app webhook secret: %w", err)
	}
	return secret, oldHint, nil
}

// Hint is what may be shown of a secret: "whsec_…abcd".
func Hint(secret string) string {
	if len(secret) < 10 {
		return "whsec_…"
	}
	return "whsec_…" + secret[len(secret)-4:]
}
