package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestDamagedDatabaseIsOneLineErrorForEveryCommand(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "real.db")
	for i, u := range []string{"u1", "u2", "u3"} {
		if code, _, stderr := run(t, nil, "grant", u, "100", "--reason", "welcome", "--create", "--db", db); code != 0 {
			t.Fatalf("grant %d: %s", i, stderr)
		}
	}
	data, err := os.ReadFile(db)
	if err != nil {
		t.Fatal(err)
	}
	half := filepath.Join(dir, "half.db")
	empty := filepath.Join(dir, "empty.db")
	os.WriteFile(half, data[:3*os.Getpagesize()], 0o600)
	os.WriteFile(empty, nil, 0o600)
	for _, c := range []struct {
		db, want string
	}{{half, "restore the last backup"}, {empty, "empty (0 bytes)"}} {
		for _, args := range [][]string{{"verify"}, {"users"}, {"ledger", "u1"}, {"grant", "u1", "5", "--reason", "x"}} {
			code, _, stderr := run(t, nil, append(args, "--db", c.db)...)
			if code == 0 || strings.Count(strings.TrimSpace(stderr), "\n") > 0 || !strings.Contains(stderr, c.want) || strings.Contains(stderr, "goroutine") {
				t.Errorf("%s on %s: exit %d, stderr %q, want one line with %q", args[0], filepath.Base(c.db), code, stderr, c.want)
			}
		}
	}
	if fi, _ := os.Stat(empty); fi.Size() != 0 {
		t.Fatal("a command started a new database on the empty file")
	}
}
