package cli

import (
	"path/filepath"
	"strings"
	"testing"
)

func TestGrantBeyondMaxCreditsIsOneLineErrorNotAWrap(t *testing.T) {
	db := filepath.Join(t.TempDir(), "amounts.db")
	for range 2 {
		code, _, stderr := run(t, nil, "grant", "u1", "9223372036854775807", "--reason", "huge", "--create", "--db", db)
		if code == 0 || strings.Count(strings.TrimSpace(stderr), "\n") > 0 || !strings.Contains(stderr, "1,000,000,000,000") {
			t.Fatalf("grant of MaxInt64: exit %d, stderr %q", code, stderr)
		}
	}
	if code, _, stderr := run(t, nil, "grant", "u1", "1000000000000", "--reason", "most", "--create", "--db", db); code != 0 {
		t.Fatalf("grant of 10^12: %d %q", code, stderr)
	}
	code, _, stderr := run(t, nil, "grant", "u1", "1", "--reason", "one more", "--db", db)
	if code == 0 || strings.Count(strings.TrimSpace(stderr), "\n") > 0 || !strings.Contains(stderr, "beyond") {
		t.Fatalf("grant past the balance bound: exit %d, stderr %q", code, stderr)
	}
	if code, out, _ := run(t, nil, "verify", "--db", db); code != 0 || !strings.HasPrefix(out, "ok:") {
		t.Fatalf("verify: %d %q", code, out)
	}
}
