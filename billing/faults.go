package billing

import (
	"errors"
	"sync"
	"time"
)

// AttnStore: writes to the database fail (disk full, I/O error, read-only
// file system). Events wait, and are applied when writes work again.
const AttnStore FlagKind = "store"

// maxFaultBackoff caps how long the processor waits between attempts while
// writes fail.
const maxFaultBackoff = 30 * time.Second

// storeFaults is whether writes to the store fail now: the state the
// processor backs off on, /healthz answers with, and Attention lists.
type storeFaults struct {
	mu    sync.Mutex
	err   error // the last write fault; nil while writes work
	since time.Time
	// last is when the last fault was seen (monotonic clock).
	last time.Time
	// base is the first wait after a fault (default 500ms); doubled per
	// attempt up to maxFaultBackoff.
	base time.Duration
	// settle is how long writes must have worked, with no fault seen, before
	// the fault is over (default 10s). A full disk lets some writes through
	// (those that fit in pages the file already has) and refuses others; without
	// it the state would flap, and log, with every request.
	settle time.Duration
}

// IsStoreFault reports whether err is the store's rather than an event's:
// the disk refused a write (IsWriteFault), or the file is damaged
// (ErrDamaged). Either way nothing was written; the event is not to
// blame and is not marked failed. A write fault passes; damage needs a
// restore, and meanwhile events wait too.
func IsStoreFault(err error) bool {
	return err != nil && (IsWriteFault(err) || errors.Is(err, ErrDamaged))
}

// faultBackoff is the wait before attempt n+1 after n faulted attempts in a
// row: base, doubled each time, at most maxFaultBackoff.
func faultBackoff(n int, base time.Duration) time.Duration {
	if base <= 0 {
		base = 500 * time.Millisecond
	}
	d := base
	for i := 1; i < n && d < maxFaultBackoff; i++ {
		d *= 2
	}
	return min(d, maxFaultBackoff)
}

// noteWrite records what a write to the store came to. A store fault
// (IsStoreFault) starts the faulted state, or keeps it; a write that works
// when no fault has been seen for the settle time ends it. Each change is
// logged once and shown in the live feed and Attention; the attempts in
// between are not. Other errors say nothing about the disk and change
// nothing.
func (s *Service) noteWrite(err error) {
	fault := IsStoreFault(err)
	if err != nil && !fault {
		return
	}
	now, mono := s.now(), s.clock()
	s.faults.mu.Lock()
	was, since := s.faults.err, s.faults.since
	settle := s.faults.settle
	if settle <= 0 {
		settle = 10 * time.Second
	}
	switch {
	case fault:
		if was == nil {
			s.faults.since = now
		}
		s.faults.err, s.faults.last = err, mono
	case was != nil && mono.Sub(s.faults.last) >= settle:
		s.faults.err = nil
	default:
		was = nil // no change: working, or still settling
	}
	s.faults.mu.Unlock()
	switch {
	case fault && was == nil:
		detail := "writes fail: " + err.Error() + "; events wait and are applied when writes work again (free disk space?)"
		if errors.Is(err, ErrDamaged) {
			detail = err.Error() + "; events wait"
		}
		s.log.Error("store writes fail: events wait until writes work again", "err", err)
		s.SetProblem(AttnStore, detail)
		s.hub.publish(Activity{At: now, Kind: ActivitySystem, Type: "store writes fail", Reason: detail})
		// The processor probes until writes work again, even with nothing
		// to apply (the fault may have been a webhook's).
		s.Wake()
	case !fault && was != nil:
		s.log.Info("store writes work again", "failed_for", now.Sub(since).Round(time.Second).String())
		s.ClearProblem(AttnStore)
		s.hub.publish(Activity{At: now, Kind: ActivitySystem, Type: "store writes work again", Reason: "events that waited are applied"})
	}
}

// StoreFault is why writes to the database fail, nil while they work
// (as far as the last write showed). /healthz answers 503 with it.
func (s *Service) StoreFault() error {
	s.faults.mu.Lock()
	defer s.faults.mu.Unlock()
	if s.faults.err == nil {
		return nil
	}
	return errors.New("database writes fail since " + s.faults.since.Format(time.RFC3339) + ": " + s.faults.err.Error())
}
