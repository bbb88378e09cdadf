package storage

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	bolt "go.etcd.io/bbolt"
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

// TestRestoreRefusesABackupFromANewerCreditdesk: a newer schema cannot be
// read by this binary; restore says so of the backup and touches nothing.
func TestRestoreRefusesABackupFromANewerCreditdesk(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, "newer.db")
	st, err := Open(src, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := st.db.Update(func(tx *bolt.Tx) error {
		return tx.Bucket(metaBucket).Put(schemaVersionKey, itob(SchemaVersion()+1))
	}); err != nil {
		t.Fatal(err)
	}
	st.Close()
	db := filepath.Join(dir, "cd.db")
	_, err = Restore(src, db)
	if err == nil || !strings.Contains(err.Error(), "is from a newer creditdesk") {
		t.Fatalf("restore of a newer backup: %v", err)
	}
	if _, err := os.Stat(db); err == nil {
		t.Fatal("a refused restore must not create the database")
	}
}
