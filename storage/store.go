// Package storage is creditdesk's bbolt store: the event inbox, users, the
// credits ledger with its grants, and purchases. It is the only package that
// imports bbolt.
package storage

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"creditdesk/billing"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
)

// ErrLocked is returned by Open when another process holds the database.
var ErrLocked = errors.New("database is locked by another process")

// Store is an open creditdesk database.
type Store struct {
	db    *bolt.DB
	path  string
	obs   Observer
	fault func() error // Options.CommitFault

	release mapRelease
	codec   *payloadCodec // payloads.go

	// inflight counts Ingest calls waiting for their commit.
	inflight inflight
	shared   sharedCommit // API writes committed together (apikeys.go)
	wg       sync.WaitGroup
	mu       sync.Mutex
	closed   bool
}

// Options tune Open.
type Options struct {
	// LockTimeout is how long Open waits for another process to let go of
	// the file before it gives up with ErrLocked. Default 1s.
	LockTimeout time.Duration
	// ReadOnly opens without writing (verify, listings).
	ReadOnly bool
	// Observer, when set, is told about commits and ledger entries
	// (metrics).
	Observer Observer
	// Role names what holds the database (serve, console, demo) in its pid
	// file, for the messages of others who find it held.
	Role string
	// CommitFault, for tests, is called when a read-write transaction's
	// work is done, before it commits; an error it returns fails the
	// transaction (nothing is written) as a full or failing disk would
	// (return one that IsWriteFault, such as syscall.ENOSPC).
	CommitFault func() error
}

// Open opens or creates the database at path and brings its schema up to
// date (migrations with the version bump, in one transaction). A database
// held by another process is reported with its pid; an empty, foreign or
// damaged file is refused with what to do.
func Open(path string, opt Options) (*Store, error) {
	if opt.LockTimeout == 0 {
		opt.LockTimeout = time.Second
	}
	if dir := filepath.Dir(path); dir != "" {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, fmt.Errorf("create database directory: %w", err)
		}
		if err := checkDir(dir); err != nil {
			return nil, err
		}
	}
	if opt.ReadOnly {
		if _, err := os.Stat(path); err != nil {
			return nil, fmt.Errorf("open database %s: %w", path, err)
		}
	}
	size, existed, err := fileSize(path)
	if err != nil {
		return nil, err
	}
	if existed && size == 0 {
		// Never a fresh start on it: an empty file where a database was is
		// a lost database, not a new one.
		return nil, fmt.Errorf("database %s is empty (0 bytes), not a creditdesk database: restore the last backup, or remove the file to start a new database", path)
	}
	var db *bolt.DB
	var file *os.File // to let go of the file (and its lock) if bbolt panics
	err = guard(path, func() error {
		var err error
		db, err = bolt.Open(path, 0o600, &bolt.Options{
			OpenFile: func(name string, flag int, perm os.FileMode) (*os.File, error) {
				f, err := os.OpenFile(name, flag, perm)
				file = f
				return f, err
			},
			Timeout:  opt.LockTimeout,
			ReadOnly: opt.ReadOnly,
			// The freelist is written at each commit: without it, opening a
			// large store means scanning every page (seconds at 1 GB).
			FreelistType: bolt.FreelistMapType,
			// Read the freelist now, under guard, even read-only.
			PreLoadFreelist: true,
		})
		return err
	})
	if err != nil {
		switch {
		case errors.Is(err, berrors.ErrTimeout):
			return nil, lockedError(path)
		case errors.Is(err, billing.ErrDamaged):
			if file != nil {
				// The mapping bbolt left keeps the file open, and its lock
				// with it, after Close: unlock first.
				_ = syscall.Flock(int(file.Fd()), syscall.LOCK_UN)
				file.Close()
			}
			return nil, err
		case existed:
			return nil, boltOpenError(path, err)
		}
		return nil, fmt.Errorf("open database %s: %w", path, err)
	}
	s := &Store{db: db, path: path, obs: opt.Observer, fault: opt.CommitFault}
	if existed {
		// The size now: opening may have committed (a freelist written).
		size, _, err = fileSize(path)
		if err == nil {
			err = checkOpened(db, path, size)
		}
		if err != nil {
			db.Close()
			return nil, err
		}
	}
	if !opt.ReadOnly {
		if err := guard(path, func() error { return migrate(db) }); err != nil {
			db.Close()
			return nil, err
		}
		writePid(pidPath(path), opt.Role)
	} else if err := guard(path, s.checkVersion); err != nil {
		db.Close()
		return nil, err
	}
	if err := s.openCodec(); err != nil {
		db.Close()
		return nil, fmt.Errorf("open database %s: %w", path, err)
	}
	return s, nil
}

// openCodec loads the store's payload dictionaries. A store without one
// trains one once it has dictTrainAfter payloads (one upgraded with as many
// already, at its next ingest).
func (s *Store) openCodec() error {
	c, err := newPayloadCodec()
	if err != nil {
		return err
	}
	s.codec = c
	return s.view(func(tx *bolt.Tx) error {
		if err := c.load(tx); err != nil {
			return err
		}
		if c.enc.Load().id == 0 {
			// Every event has a payload: the counter, not a walk of the bucket.
			c.stored.Store(int64(btoi(tx.Bucket(metaBucket).Get(counterKey("events")))))
		}
		return nil
	})
}

func pidPath(path string) string { return path + ".pid" }

// writePid writes this process's pid and role beside the database, never
// through a symbolic link someone left at that name.
func writePid(path, role string) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC|syscall.O_NOFOLLOW, 0o600)
	if err != nil {
		return
	}
	if role == "" {
		role = "?"
	}
	_, _ = f.WriteString(strconv.Itoa(os.Getpid()) + " " + role + "\n")
	f.Close()
}

// Holder is the process that holds (or last held) a database, as its pid
// file says: "PID ROLE".
type Holder struct {
	PID  int
	Role string // serve, console, demo, or "?"
}

// ReadHolder reads the pid file beside the database at path; false when
// there is none. A pid file left behind means its process did not stop
// cleanly (a clean stop removes it).
func ReadHolder(path string) (Holder, bool) {
	b, err := os.ReadFile(pidPath(path))
	if err != nil {
		return Holder{}, false
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return Holder{}, false
	}
	pid, err := strconv.Atoi(f[0])
	if err != nil || pid <= 0 {
		return Holder{}, false
	}
	h := Holder{PID: pid, Role: "?"}
	if len(f) > 1 {
		h.Role = f[1]
	}
	return h, true
}

// Alive reports whether the holder's process still runs.
func (h Holder) Alive() bool { return syscall.Kill(h.PID, 0) == nil }

// checkDir refuses a database directory every user may write to without
// the sticky bit: anyone could replace the database or plant links beside
// it. (/tmp, writable by all but sticky, is fine.)
func checkDir(dir string) error {
	fi, err := os.Stat(dir)
	if err != nil {
		return fmt.Errorf("database directory: %w", err)
	}
	if m := fi.Mode(); m&0o002 != 0 && m&os.ModeSticky == 0 {
		return fmt.Errorf("database directory %s is writable by every user, so anyone could replace the database: use a directory only you can write (chmod o-w %s)", dir, dir)
	}
	return nil
}

// lockedError names the process that holds path, as far as its pid file says.
func lockedError(path string) error {
	if h, ok := ReadHolder(path); ok && h.Alive() {
		who := "creditdesk"
		if h.Role != "?" {
			who += " " + h.Role
		}
		return fmt.Errorf("%w: %s is in use by %s (pid %d); stop it first (systemctl stop creditdesk, or kill %d) or point --db at another file",
			ErrLocked, path, who, h.PID, h.PID)
	}
	return fmt.Errorf("%w: %s is in use by another process; stop it or point --db at another file", ErrLocked, path)
}

// VersionError is a database of another schema version than this
// creditdesk's, opened read-only (a read-write open migrates an older one).
type VersionError struct{ Have, Want uint64 }

func (e *VersionError) Error() string {
	return fmt.Sprintf("database schema version %d, this creditdesk reads %d: open it once with the matching creditdesk", e.Have, e.Want)
}

func (s *Store) checkVersion() error {
	return s.view(func(tx *bolt.Tx) error {
		meta := tx.Bucket(metaBucket)
		if meta == nil {
			return fmt.Errorf("%s is not a creditdesk database", s.path)
		}
		if v := btoi(meta.Get(schemaVersionKey)); v != SchemaVersion() {
			return &VersionError{Have: v, Want: SchemaVersion()}
		}
		return nil
	})
}

// Path is the database file.
func (s *Store) Path() string { return s.path }

// Close refuses new writes, lets those already queued commit, then closes
// the file.
func (s *Store) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	s.mu.Unlock()
	s.wg.Wait() // writes already queued commit first
	if !s.db.IsReadOnly() {
		_ = os.Remove(pidPath(s.path))
	}
	return s.db.Close()
}

// lastBelow positions c on the last key before seek, or on the last key of
// all when seek is nil or past every key, and returns it: where a page
// read newest first (c.Prev) starts.
func lastBelow(c *bolt.Cursor, seek []byte) (k, v []byte) {
	if seek == nil {
		return c.Last()
	}
	if k, _ = c.Seek(seek); k == nil {
		return c.Last()
	}
	return c.Prev()
}

// seqBelow is the seek key for a page of a sequence-keyed bucket below
// before; nil (from the newest) when before is 0.
func seqBelow(before uint64) []byte {
	if before == 0 {
		return nil
	}
	return itob(before)
}

// get decodes the record at key in b; false when there is none.
func get[T any](b *bolt.Bucket, key []byte) (T, bool, error) {
	var v T
	ok, err := getJSON(b, key, &v)
	return v, ok, err
}

// all decodes every value of b, in key order.
func all[T any](b *bolt.Bucket) ([]T, error) {
	var out []T
	err := b.ForEach(func(_, v []byte) error {
		var x T
		if err := json.Unmarshal(v, &x); err != nil {
			return err
		}
		out = append(out, x)
		return nil
	})
	return out, err
}

func getJSON(b *bolt.Bucket, key []byte, v any) (bool, error) {
	raw := b.Get(key)
	if raw == nil {
		return false, nil
	}
	return true, json.Unmarshal(raw, v)
}

func putJSON(b *bolt.Bucket, key []byte, v any) error {
	raw, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return b.Put(key, raw)
}

func counterKey(name string) []byte { return []byte("count:" + name) }

func addCount(tx *bolt.Tx, name string, delta int64) error {
	meta := tx.Bucket(metaBucket)
	v := int64(btoi(meta.Get(counterKey(name)))) + delta
	if v < 0 {
		v = 0
	}
	return meta.Put(counterKey(name), itob(uint64(v)))
}

// Counts returns store-wide totals without scanning.
func (s *Store) Counts() (billing.Counts, error) {
	var c billing.Counts
	err := s.view(func(tx *bolt.Tx) error {
		meta := tx.Bucket(metaBucket)
		c.Events = btoi(meta.Get(counterKey("events")))
		c.Users = btoi(meta.Get(counterKey("users")))
		c.Failed = btoi(meta.Get(counterKey("failed")))
		c.Waiting = btoi(meta.Get(counterKey("waiting")))
		c.Purchases = btoi(meta.Get(counterKey("purchases")))
		c.Pending = btoi(meta.Get(counterKey("pending")))
		c.Flags = btoi(meta.Get(counterKey("flags")))
		c.OutboxPending = btoi(meta.Get(counterKey("outbox_pending")))
		c.OutboxFailed = btoi(meta.Get(counterKey("outbox_failed")))
		return nil
	})
	return c, err
}

// view and update are db.View and db.Update under guard: a page bbolt
// cannot read is a *DamagedError for the caller, not a crash of the process.
func (s *Store) view(fn func(*bolt.Tx) error) error {
	return guard(s.path, func() error { return s.db.View(fn) })
}

func (s *Store) update(fn func(*bolt.Tx) error) error {
	if s.fault != nil {
		inner := fn
		fn = func(tx *bolt.Tx) error {
			if err := inner(tx); err != nil {
				return err
			}
			return s.fault()
		}
	}
	defer s.afterWrite()
	if s.obs == nil {
		return guard(s.path, func() error { return s.db.Update(fn) })
	}
	start := time.Now()
	err := guard(s.path, func() error { return s.db.Update(fn) })
	s.obs.Committed(time.Since(start), err)
	return err
}

// Store and Tx are billing's store.
var (
	_ billing.Store = (*Store)(nil)
	_ billing.Tx    = (*Tx)(nil)
)
