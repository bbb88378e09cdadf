package storage

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"creditdesk/billing"

	bolt "go.etcd.io/bbolt"
)

// WriteTo writes a consistent copy of the whole database to w from one read
// transaction: webhooks and spends go on while it runs, and the copy holds
// exactly what was committed when it began.
func (s *Store) WriteTo(w io.Writer) (n int64, err error) {
	err = s.view(func(tx *bolt.Tx) error {
		n, err = tx.WriteTo(w)
		return err
	})
	return n, err
}

// WriteBackup writes the copy that write produces to path: into a
// temporary file beside it, fsynced, renamed into place and the directory
// fsynced, then opened read-only and checked with every Verify check. A
// copy that does not verify is removed and is an error; nothing is left
// half-written at path.
func WriteBackup(path string, write func(io.Writer) (int64, error)) (billing.BackupReport, error) {
	start := time.Now()
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return billing.BackupReport{}, fmt.Errorf("backup to %s: %w: pick a directory you can write to", path, err)
	}
	tmp := f.Name()
	defer os.Remove(tmp) // a no-op once renamed
	n, err := write(f)
	if err = syncClose(f, err); err != nil {
		return billing.BackupReport{}, fmt.Errorf("backup to %s: %w", path, err)
	}
	if err := os.Chmod(tmp, 0o600); err != nil {
		return billing.BackupReport{}, err
	}
	r, err := verifyFile(tmp)
	if err != nil {
		return billing.BackupReport{}, fmt.Errorf("backup to %s did not verify, so it was not kept: %w", path, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return billing.BackupReport{}, fmt.Errorf("backup to %s: %w", path, err)
	}
	syncDir(dir)
	return billing.BackupReport{Path: path, Bytes: n, Users: r.Users, Events: r.Events, Entries: r.Entries, Took: time.Since(start)}, nil
}

// verifyFile opens a database file read-only and runs every Verify check.
func verifyFile(path string) (billing.VerifyReport, error) {
	st, err := Open(path, Options{ReadOnly: true, LockTimeout: 100 * time.Millisecond})
	if err != nil {
		return billing.VerifyReport{}, err
	}
	defer st.Close()
	return st.Verify()
}

func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		d.Close()
	}
}

// Restore replaces the database at db with the backup at src. It refuses
// while a process holds db, checks src first (a file that is not a
// creditdesk database, or one from a newer creditdesk, is refused with the
// reason), migrates an older backup, and keeps the database it replaces as
// db.before-restore. It returns what the restored database holds.
func Restore(src, db string) (billing.VerifyReport, error) {
	if _, err := os.Stat(src); err != nil {
		return billing.VerifyReport{}, fmt.Errorf("restore: %w", err)
	}
	if _, err := os.Stat(db); err == nil {
		held, err := Open(db, Options{ReadOnly: true, LockTimeout: 200 * time.Millisecond})
		if err != nil && errors.Is(err, ErrLocked) {
			who := "another process"
			if h, ok := ReadHolder(db); ok && h.Alive() {
				who = fmt.Sprintf("creditdesk %s (pid %d)", h.Role, h.PID)
			}
			return billing.VerifyReport{}, fmt.Errorf("restore: %w: %s holds %s: stop it first (systemctl stop creditdesk)", ErrLocked, who, db)
		}
		if err == nil {
			held.Close()
		}
	}
	// What the backup is, said of the backup: not a database, damaged, or
	// from a newer creditdesk. An older one is migrated below.
	if probe, err := Open(src, Options{ReadOnly: true, LockTimeout: 200 * time.Millisecond}); err == nil {
		probe.Close()
	} else {
		var nd *NotDatabaseError
		var ve *VersionError
		switch {
		case errors.As(err, &nd):
			return billing.VerifyReport{}, fmt.Errorf("restore: %s is not a creditdesk backup (%s): pick a file `creditdesk backup` wrote", src, nd.What)
		case errors.As(err, &ve) && ve.Have > ve.Want:
			return billing.VerifyReport{}, fmt.Errorf("restore: %s is from a newer creditdesk (schema %d; this one reads %d): restore it with that version", src, ve.Have, ve.Want)
		case errors.As(err, &ve):
		case errors.Is(err, billing.ErrDamaged):
			return billing.VerifyReport{}, fmt.Errorf("restore: %s is damaged, so it cannot be restored: pick an older backup (%v)", src, err)
		default:
			return billing.VerifyReport{}, fmt.Errorf("restore: %s: %w", src, err)
		}
	}
	before := db + ".before-restore"
	if _, err := os.Stat(before); err == nil {
		return billing.VerifyReport{}, fmt.Errorf("restore: %s is left from an earlier restore: move it away first, so no database is overwritten", before)
	}
	// Copy, then open the copy for writing (older backups migrate), verify
	// it, and only then put it in place.
	in, err := os.Open(src)
	if err != nil {
		return billing.VerifyReport{}, fmt.Errorf("restore: %w", err)
	}
	defer in.Close()
	staged := db + ".restore-tmp"
	_ = os.Remove(staged)
	defer os.Remove(staged)
	out, err := os.OpenFile(staged, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return billing.VerifyReport{}, fmt.Errorf("restore: %w", err)
	}
	_, err = io.Copy(out, in)
	if err = syncClose(out, err); err != nil {
		return billing.VerifyReport{}, fmt.Errorf("restore: copy %s: %w", src, err)
	}
	st, err := Open(staged, Options{})
	if err != nil {
		return billing.VerifyReport{}, fmt.Errorf("restore: %s: %w", src, err)
	}
	r, err := st.Verify()
	st.Close()
	_ = os.Remove(pidPath(staged))
	if err != nil {
		return billing.VerifyReport{}, fmt.Errorf("restore: %s does not verify: %w", src, err)
	}
	if _, err := os.Stat(db); err == nil {
		if err := os.Rename(db, before); err != nil {
			return billing.VerifyReport{}, fmt.Errorf("restore: keep the old database: %w", err)
		}
	}
	if err := os.Rename(staged, db); err != nil {
		return billing.VerifyReport{}, fmt.Errorf("restore: %w", err)
	}
	syncDir(filepath.Dir(db))
	return r, nil
}

// syncClose ends a file written with err as the outcome so far: synced to
// disk unless writing failed, then closed; the first error wins.
func syncClose(f *os.File, err error) error {
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}
