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
	"sync/atomic"
	"syscall"
	"time"

	bolt "go.etcd.io/bbolt"
)

// ErrLocked is returned by Open when another process holds the database.
var ErrLocked = errors.New("database is locked by another process")

// ErrNotFound is returned for a user, event or purchase that is not stored.
var ErrNotFound = errors.New("not found")

// Store is an open creditdesk database.
type Store struct {
	db   *bolt.DB
	path string

	// inflight counts Ingest calls waiting for their commit.
	inflight atomic.Int64
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
}

// Open opens or creates the database at path, runs migrations and starts the
// ingest writer. A database held by another process is reported with its pid.
func Open(path string, opt Options) (*Store, error) {
	if opt.LockTimeout == 0 {
		opt.LockTimeout = time.Second
	}
	if dir := filepath.Dir(path); dir != "" {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, fmt.Errorf("create database directory: %w", err)
		}
	}
	if opt.ReadOnly {
		if _, err := os.Stat(path); err != nil {
			return nil, fmt.Errorf("open database %s: %w", path, err)
		}
	}
	db, err := bolt.Open(path, 0o600, &bolt.Options{
		Timeout:  opt.LockTimeout,
		ReadOnly: opt.ReadOnly,
		// The freelist is written at each commit: without it, opening a
		// large store means scanning every page (seconds at 1 GB).
		FreelistType: bolt.FreelistMapType,
	})
	if err != nil {
		if errors.Is(err, bolt.ErrTimeout) {
			return nil, lockedError(path)
		}
		return nil, fmt.Errorf("open database %s: %w", path, err)
	}
	s := &Store{db: db, path: path}
	if !opt.ReadOnly {
		if err := migrate(db); err != nil {
			db.Close()
			return nil, err
		}
		_ = os.WriteFile(pidPath(path), []byte(strconv.Itoa(os.Getpid())+"\n"), 0o600)
	} else if err := s.checkVersion(); err != nil {
		db.Close()
		return nil, err
	}
	return s, nil
}

func pidPath(path string) string { return path + ".pid" }

// lockedError names the process that holds path, as far as its pid file says.
func lockedError(path string) error {
	b, err := os.ReadFile(pidPath(path))
	pid, perr := strconv.Atoi(strings.TrimSpace(string(b)))
	if err == nil && perr == nil && pid > 0 && syscall.Kill(pid, 0) == nil {
		return fmt.Errorf("%w: %s is in use by creditdesk (pid %d); stop it (kill %d) or point --db at another file", ErrLocked, path, pid, pid)
	}
	return fmt.Errorf("%w: %s is in use by another process; stop it or point --db at another file", ErrLocked, path)
}

func (s *Store) checkVersion() error {
	return s.db.View(func(tx *bolt.Tx) error {
		meta := tx.Bucket(metaBucket)
		if meta == nil {
			return fmt.Errorf("%s is not a creditdesk database", s.path)
		}
		if v := btoi(meta.Get(schemaVersionKey)); v != SchemaVersion() {
			return fmt.Errorf("database schema version %d, this creditdesk reads %d: open it once with the matching creditdesk", v, SchemaVersion())
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
func (s *Store) Counts() (Counts, error) {
	var c Counts
	err := s.db.View(func(tx *bolt.Tx) error {
		meta := tx.Bucket(metaBucket)
		c.Events = btoi(meta.Get(counterKey("events")))
		c.Users = btoi(meta.Get(counterKey("users")))
		c.Failed = btoi(meta.Get(counterKey("failed")))
		c.Waiting = btoi(meta.Get(counterKey("waiting")))
		c.Purchases = btoi(meta.Get(counterKey("purchases")))
		c.Pending = btoi(meta.Get(counterKey("pending")))
		return nil
	})
	return c, err
}
