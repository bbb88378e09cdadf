package storage

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestOpenRefusesAWorldWritableDirectory: a database in a directory any
// user may write (without the sticky bit) could be swapped by anyone.
func TestOpenRefusesAWorldWritableDirectory(t *testing.T) {
	open := filepath.Join(t.TempDir(), "open")
	os.Mkdir(open, 0o700)
	os.Chmod(open, 0o777)
	if _, err := Open(filepath.Join(open, "cd.db"), Options{}); err == nil || !strings.Contains(err.Error(), "chmod o-w") {
		t.Fatalf("open in a world-writable directory: %v", err)
	}
	sticky := filepath.Join(t.TempDir(), "sticky")
	os.Mkdir(sticky, 0o700)
	os.Chmod(sticky, 0o777|os.ModeSticky)
	st, err := Open(filepath.Join(sticky, "cd.db"), Options{})
	if err != nil {
		t.Fatalf("a sticky shared directory like /tmp is fine: %v", err)
	}
	st.Close()
}

// TestPidFileIsNeverWrittenThroughALink: a link planted at DB.pid is not
// followed (it would let another user make creditdesk overwrite a file).
func TestPidFileIsNeverWrittenThroughALink(t *testing.T) {
	dir := t.TempDir()
	victim := filepath.Join(dir, "victim")
	os.WriteFile(victim, []byte("keep me"), 0o600)
	db := filepath.Join(dir, "cd.db")
	if err := os.Symlink(victim, db+".pid"); err != nil {
		t.Fatal(err)
	}
	st, err := Open(db, Options{})
	if err != nil {
		t.Fatal(err)
	}
	st.Close()
	if b, _ := os.ReadFile(victim); string(b) != "keep me" {
		t.Fatalf("the pid was written through the link: %q", b)
	}
}
