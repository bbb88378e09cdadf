package storage

import (
	"sync/atomic"
	"time"
)

// unmapEvery is how often, at most, the pages of the memory map that
// reads and commits have touched are let go of (unmapPages) while the
// store is written to.
//
// Why: every page bbolt reads goes through its memory map, and Linux maps
// up to 16 neighbouring cached pages with each one it faults in, so a
// busy store soon has most of its file mapped and counted in serve's
// resident memory (120 MiB of file pages for a 120 MB store after a burst
// of 30,000 events). Those pages are the kernel's page cache either way;
// letting go of them keeps serve's resident memory to what it uses now,
// and leaves the kernel free to reclaim the cache without unmapping it from
// serve first. The pages in use are mapped again on their next read, a
// minor fault each. Under a burst about 20 MB of the file is mapped again
// within 25 ms (the neighbours of each page read), so the period is short:
// at 10 ms serve's peak through a 30,000-event burst was 93 MiB (the file
// part 52, of which 15 is the binary), at 25 ms 95–100, at 5 ms no lower
// than at 10, with the same throughput at each (docs/PERFORMANCE.md).
const unmapEvery = 10 * time.Millisecond

// mapRelease limits unmapPages to one at a time and one per unmapEvery.
type mapRelease struct {
	last    atomic.Int64 // unix nanoseconds of the last start
	running atomic.Bool
}

// afterWrite lets go of the memory map's pages in the background when
// unmapEvery has passed since the last time.
func (s *Store) afterWrite() {
	now := time.Now().UnixNano()
	if now-s.release.last.Load() < int64(unmapEvery) || !s.release.running.CompareAndSwap(false, true) {
		return
	}
	s.release.last.Store(now)
	if !s.background(func() {
		defer s.release.running.Store(false)
		_ = unmapPages(s.db) // advice only: when it fails, pages stay mapped
	}) {
		s.release.running.Store(false)
	}
}

// background runs fn on its own goroutine, which Close waits for, and
// reports false (fn not run) once the store is closing.
func (s *Store) background(fn func()) bool {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return false
	}
	s.wg.Add(1)
	s.mu.Unlock()
	go func() {
		defer s.wg.Done()
		fn()
	}()
	return true
}
