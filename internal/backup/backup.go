// Package backup takes scheduled backups of a running creditdesk: a
// verified copy every interval into a directory, named by time, pruned to
// the newest few. A failed or overdue backup is an ERROR log line and an
// Attention item; the server keeps serving either way.
package backup

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"creditdesk/billing"
	"creditdesk/storage"
)

// Schedule is the backup schedule of a running creditdesk.
type Schedule struct {
	Dir   string
	Every time.Duration
	// Keep is how many backups stay; older ones are removed.
	Keep int
	// Write writes a consistent copy of the database (storage.Store.WriteTo).
	Write func(io.Writer) (int64, error)
	Log   *slog.Logger
	// Done is told about each backup that verified; Failed about each that
	// did not, or that is overdue.
	Done   func(billing.BackupReport)
	Failed func(detail string)
	// Now is the clock; default time.Now.
	Now func() time.Time
}

const (
	prefix = "creditdesk-"
	suffix = ".db"
	stamp  = "20060102T150405Z"
)

// Name is the file name of a backup taken at t: creditdesk-20261201T211500Z.db,
// so names sort by time.
func Name(t time.Time) string { return prefix + t.UTC().Format(stamp) + suffix }

// Check says, in one line naming the fix, why dir cannot hold backups: it
// is created if missing, and must be a directory this process can write.
func Check(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("backup directory %s: %w: create it, writable by the user running creditdesk (and in ReadWritePaths= under systemd)", dir, err)
	}
	f, err := os.CreateTemp(dir, ".creditdesk-check-*")
	if err != nil {
		return fmt.Errorf("backup directory %s is not writable: %w: make it writable by the user running creditdesk (and in ReadWritePaths= under systemd)", dir, err)
	}
	name := f.Name()
	f.Close()
	return os.Remove(name)
}

// Run takes a backup every s.Every until ctx ends: the first at once, or,
// when the newest backup in the directory is younger than s.Every (a
// restart), when that one is s.Every old, so restarts neither pile up
// backups nor prune the history.
func (s Schedule) Run(ctx context.Context) {
	if s.Now == nil {
		s.Now = time.Now
	}
	last := s.Now()
	wait := time.Duration(0)
	if t, ok := Newest(s.Dir); ok {
		last = t
		if age := s.Now().Sub(t); age >= 0 && age < s.Every {
			wait = s.Every - age
			s.Log.Info("backup", "next_in", wait.Round(time.Second), "newest", Name(t))
		}
	}
	timer := time.NewTimer(wait)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
		}
		if _, err := s.Once(); err == nil {
			last = s.Now()
		} else if age := s.Now().Sub(last); age > 2*s.Every {
			s.fail(fmt.Sprintf("no backup has verified for %s (every %s): %v", age.Round(time.Minute), s.Every, err))
		}
		timer.Reset(s.Every)
	}
}

// Newest is the time of the newest backup in dir, by its name.
func Newest(dir string) (time.Time, bool) {
	names, err := backups(dir)
	if err != nil || len(names) == 0 {
		return time.Time{}, false
	}
	t, err := time.Parse(stamp, strings.TrimSuffix(strings.TrimPrefix(names[len(names)-1], prefix), suffix))
	return t, err == nil
}

// Once takes one backup now and prunes the directory.
func (s Schedule) Once() (billing.BackupReport, error) {
	if s.Now == nil {
		s.Now = time.Now
	}
	path := filepath.Join(s.Dir, Name(s.Now()))
	r, err := storage.WriteBackup(path, s.Write)
	if err != nil {
		s.fail(err.Error())
		return r, err
	}
	s.Log.Info("backup", "path", r.Path, "bytes", r.Bytes, "events", r.Events, "entries", r.Entries, "took", r.Took.Round(time.Millisecond))
	if s.Done != nil {
		s.Done(r)
	}
	if removed, err := Prune(s.Dir, s.Keep); err != nil {
		s.Log.Warn("backup prune", "dir", s.Dir, "err", err)
	} else if len(removed) > 0 {
		s.Log.Info("backup pruned", "removed", len(removed), "kept", s.Keep)
	}
	return r, nil
}

// backups lists the backups in dir (files named as Name names them),
// oldest first.
func backups(dir string) ([]string, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var names []string
	for _, e := range ents {
		n := e.Name()
		if !e.Type().IsRegular() || !strings.HasPrefix(n, prefix) || !strings.HasSuffix(n, suffix) {
			continue
		}
		if _, err := time.Parse(stamp, strings.TrimSuffix(strings.TrimPrefix(n, prefix), suffix)); err != nil {
			continue
		}
		names = append(names, n)
	}
	sort.Strings(names)
	return names, nil
}

func (s Schedule) fail(detail string) {
	s.Log.Error("backup failed", "dir", s.Dir, "err", detail)
	if s.Failed != nil {
		s.Failed(detail)
	}
}

// Prune removes the oldest backups in dir beyond the newest keep and
// returns what it removed. Only files named as Name names them are touched.
func Prune(dir string, keep int) ([]string, error) {
	if keep <= 0 {
		return nil, nil
	}
	names, err := backups(dir)
	if err != nil {
		return nil, err
	}
	var removed []string
	for len(names) > keep {
		p := filepath.Join(dir, names[0])
		if err := os.Remove(p); err != nil {
			return removed, err
		}
		removed = append(removed, p)
		names = names[1:]
	}
	return removed, nil
}
