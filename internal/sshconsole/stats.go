package sshconsole

import (
	"maps"
	"sync"
	"time"

	"creditdesk/billing"
)

// SharedStats serves one billing.Stats to every console of a server. A
// console reads the stats after every live event, so N consoles read the
// store N times per event, and those read transactions contend with the
// receiver's commits for bbolt's meta lock: with 7 consoles that was most
// of the time Ingest spent waiting (docs/PERFORMANCE.md, "SSH sessions and
// ingest"). A read is reused for ttl; one caller reads while the others
// wait for its result.
type SharedStats struct {
	read func() billing.Stats
	ttl  time.Duration

	mu sync.Mutex
	at time.Time
	st billing.Stats
}

// NewSharedStats returns stats read with read, reused for ttl.
func NewSharedStats(read func() billing.Stats, ttl time.Duration) *SharedStats {
	return &SharedStats{read: read, ttl: ttl}
}

// Stats returns stats at most ttl old.
func (s *SharedStats) Stats() billing.Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.at.IsZero() || time.Since(s.at) >= s.ttl {
		s.st, s.at = s.read(), time.Now()
	}
	st := s.st
	st.Rejected = maps.Clone(s.st.Rejected) // each console its own map
	return st
}
