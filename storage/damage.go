package storage

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"runtime/debug"
	"strings"

	"creditdesk/billing"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
)

// DamagedError says which file is damaged, what was found, and what to do.
type DamagedError struct {
	Path string
	// Cause is what was found, one line.
	Cause string
	// Hint is what to do; the default sends the operator to a backup and to
	// creditdesk verify.
	Hint string
}

func (e *DamagedError) Error() string {
	hint := e.Hint
	if hint == "" {
		hint = "restore the last backup; `creditdesk verify` says more"
	}
	return fmt.Sprintf("database %s is damaged (%s): %s", e.Path, e.Cause, hint)
}

// Is makes errors.Is(err, ErrDamaged) true.
func (e *DamagedError) Is(target error) bool { return target == billing.ErrDamaged }

// oneLine keeps the first line of s, at most 200 bytes of it.
func oneLine(s string) string {
	s, _, _ = strings.Cut(strings.TrimSpace(s), "\n")
	if len(s) > 200 {
		s = s[:200] + "…"
	}
	return s
}

// guard runs fn and turns a panic raised inside bbolt, or a memory fault
// reading the mapped file (a page past the end of a truncated file), into a
// *DamagedError. Any other panic is a bug and goes on panicking.
func guard(path string, fn func() error) (err error) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		r := recover()
		if r == nil {
			return
		}
		// A fault has an address (SetPanicOnFault): only the mapped file is
		// read through raw memory, so it is the file's.
		_, fault := r.(interface{ Addr() uintptr })
		if !fault && !panickedInBolt() {
			panic(r)
		}
		cause := oneLine(fmt.Sprint(r))
		if fault {
			cause = "a page cannot be read: it lies past the end of the file or a page header is scribbled"
		}
		err = &DamagedError{Path: path, Cause: cause}
	}()
	return fn()
}

// panickedInBolt reports, from a deferred call during a panic, whether the
// panic (or fault) was raised in bbolt's code: the first frame below the
// runtime's panic machinery is in go.etcd.io/bbolt.
func panickedInBolt() bool {
	pcs := make([]uintptr, 64)
	n := runtime.Callers(0, pcs)
	frames := runtime.CallersFrames(pcs[:n])
	inPanic := false
	for {
		f, more := frames.Next()
		switch {
		case f.Function == "runtime.gopanic" || f.Function == "runtime.sigpanic":
			inPanic = true
		case inPanic && strings.HasPrefix(f.Function, "runtime."):
			// runtime.panicIndex and the like, between gopanic and the site
		case inPanic:
			return strings.HasPrefix(f.Function, "go.etcd.io/bbolt")
		}
		if !more {
			return false
		}
	}
}

// NotDatabaseError is the error for a file that is not a creditdesk
// database.
type NotDatabaseError struct{ Path, What string }

func (e *NotDatabaseError) Error() string {
	return fmt.Sprintf("%s is not a creditdesk database (%s): point --db at the right file, or restore the last backup", e.Path, e.What)
}

// notCreditdesk is the error for a file that is not a creditdesk database.
func notCreditdesk(path, what string) error { return &NotDatabaseError{Path: path, What: what} }

// boltOpenError says what an error from bolt.Open means for an existing file.
func boltOpenError(path string, err error) error {
	switch {
	case errors.Is(err, berrors.ErrInvalid), errors.Is(err, berrors.ErrVersionMismatch):
		return notCreditdesk(path, "not a bbolt file: "+err.Error())
	case errors.Is(err, berrors.ErrChecksum), errors.Is(err, berrors.ErrInvalidMapping), strings.Contains(err.Error(), "file size too small"):
		return &DamagedError{Path: path, Cause: err.Error(), Hint: "restore the last backup"}
	}
	return fmt.Errorf("open database %s: %w", path, err)
}

// checkOpened is the fast check Open makes of a file that already existed:
// the file holds every page the meta page counts (a truncated file would
// fault on the first read past its end), each bucket's root is readable,
// and it is creditdesk's (a meta bucket, or no bucket at all: a first open
// stopped before its first commit).
func checkOpened(db *bolt.DB, path string, size int64) error {
	return guard(path, func() error {
		return db.View(func(tx *bolt.Tx) error {
			if need := tx.Size(); need > size {
				return &DamagedError{Path: path, Cause: fmt.Sprintf("truncated: the file is %d bytes, its pages need %d", size, need),
					Hint: "restore the last backup"}
			}
			// Read what follows from the file first: a scribbled page
			// pointer must be an error here, not a wild read through
			// bbolt's memory map.
			if err := checkEdges(tx, path); err != nil {
				return &DamagedError{Path: path, Cause: oneLine(err.Error()), Hint: "restore the last backup"}
			}
			var names []string
			err := tx.ForEach(func(name []byte, b *bolt.Bucket) error {
				names = append(names, string(name))
				c := b.Cursor()
				c.First()
				c.Last()
				return nil
			})
			if err != nil {
				return err
			}
			if len(names) > 0 && tx.Bucket(metaBucket) == nil {
				return notCreditdesk(path, "a bbolt file with buckets "+strings.Join(names[:min(len(names), 3)], ", ")+" and no creditdesk schema")
			}
			return nil
		})
	})
}

// walkPages reads every key and value of every bucket, nested ones too, so a
// page bbolt cannot read shows up here, under guard, before bbolt's own
// check (which runs on a goroutine of its own) reads it again.
func walkPages(tx *bolt.Tx) error {
	var walk func(b *bolt.Bucket, depth int) error
	walk = func(b *bolt.Bucket, depth int) error {
		if depth > 64 {
			return fmt.Errorf("buckets nested %d deep", depth)
		}
		c := b.Cursor()
		for k, v := c.First(); k != nil; k, v = c.Next() {
			if len(k) > 0 {
				_ = k[len(k)-1]
			}
			if v == nil {
				if child := b.Bucket(k); child != nil {
					if err := walk(child, depth+1); err != nil {
						return err
					}
				}
				continue
			}
			if len(v) > 0 {
				_ = v[0] + v[len(v)-1]
			}
		}
		return nil
	}
	return tx.ForEach(func(name []byte, b *bolt.Bucket) error { return walk(b, 1) })
}

// checkPages runs bbolt's consistency check over every page and returns its
// findings as one line (the first few, and how many more).
func checkPages(tx *bolt.Tx) error {
	var found []string
	for err := range tx.Check() {
		found = append(found, err.Error())
	}
	if len(found) == 0 {
		return nil
	}
	msg := strings.Join(found[:min(len(found), 3)], "; ")
	if len(found) > 3 {
		msg += fmt.Sprintf("; and %d more", len(found)-3)
	}
	return errors.New(oneLine(msg))
}

// fileSize is the size of path, and whether it exists.
func fileSize(path string) (int64, bool, error) {
	fi, err := os.Stat(path)
	if errors.Is(err, os.ErrNotExist) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, err
	}
	if !fi.Mode().IsRegular() {
		return 0, true, fmt.Errorf("database %s is not a regular file: point --db at a file", path)
	}
	return fi.Size(), true, nil
}
