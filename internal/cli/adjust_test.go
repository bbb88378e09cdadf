package cli

import (
	"path/filepath"
	"strings"
	"testing"

	"creditdesk/internal/config"
)

// TestGrantToAnUnknownIDRefusesUnlessCreate: a mistyped id does not become
// a user holding the credits. grant and revoke to an id no user has are
// one line and change nothing, straight from the file and through a
// running creditdesk; grant --create adds the user and says so.
func TestGrantToAnUnknownIDRefusesUnlessCreate(t *testing.T) {
	for _, running := range []bool{false, true} {
		name := map[bool]string{false: "file", true: "running"}[running]
		t.Run(name, func(t *testing.T) {
			db := filepath.Join(t.TempDir(), "g.db")
			if running {
				a := testApp(t, config.Config{DB: db, WebhookSecret: "whsec_grant"}, appOptions{requireSecret: true})
				defer a.stop()
			}
			code, out, stderr := run(t, nil, "grant", "u_typo", "5", "--reason", "x", "--db", db)
			if code == 0 || out != "" || strings.Count(stderr, "\n") != 1 ||
				!strings.Contains(stderr, "no user u_typo") || !strings.Contains(stderr, "nothing changed") || !strings.Contains(stderr, "--create") {
				t.Fatalf("grant to an unknown id: %d %q %q", code, out, stderr)
			}
			code, out, stderr = run(t, nil, "revoke", "u_typo", "5", "--reason", "x", "--force", "--db", db)
			if code == 0 || out != "" || !strings.Contains(stderr, "no user u_typo") || strings.Contains(stderr, "--create") {
				t.Fatalf("revoke from an unknown id: %d %q %q", code, out, stderr)
			}
			if _, out, _ := run(t, nil, "users", "--json", "--db", db); strings.Contains(out, "u_typo") {
				t.Fatalf("a refused grant created the user: %s", out)
			}
			code, out, stderr = run(t, nil, "grant", "u_new", "5", "--reason", "x", "--create", "--db", db)
			if code != 0 || !strings.Contains(out, "balance 5") || !strings.Contains(stderr, "u_new is a new user") {
				t.Fatalf("grant --create: %d %q %q", code, out, stderr)
			}
			code, out, stderr = run(t, nil, "grant", "u_new", "5", "--reason", "x", "--db", db)
			if code != 0 || !strings.Contains(out, "balance 10") || stderr != "" {
				t.Fatalf("grant to the user --create made: %d %q %q", code, out, stderr)
			}
			if _, _, stderr := run(t, nil, "grant", "u_new", "5", "--reason", "x", "--create", "--db", db); stderr != "" {
				t.Fatalf("grant --create to a known user: %q", stderr)
			}
		})
	}
}
