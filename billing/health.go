package billing

import (
	"sort"
	"sync"
	"time"
)

// Problems of the process rather than of an event: a backup that failed or
// is overdue. They are kept in memory (they are about this process), listed
// in Attention and counted in the header, and cleared when the cause goes.
type problems struct {
	mu sync.Mutex
	m  map[FlagKind]AttentionItem
	// lastBackup is the last backup that verified.
	lastBackup BackupReport
	backupAt   time.Time
}

// AttnBackup: a scheduled backup failed or is overdue.
const AttnBackup FlagKind = "backup"

// SetProblem raises (or updates) the process problem of kind with detail.
func (s *Service) SetProblem(kind FlagKind, detail string) {
	s.problems.mu.Lock()
	defer s.problems.mu.Unlock()
	if s.problems.m == nil {
		s.problems.m = map[FlagKind]AttentionItem{}
	}
	it, ok := s.problems.m[kind]
	if !ok {
		it = AttentionItem{Kind: kind, ID: string(kind), At: s.now()}
	}
	it.Detail = detail
	s.problems.m[kind] = it
}

// ClearProblem clears the process problem of kind.
func (s *Service) ClearProblem(kind FlagKind) {
	s.problems.mu.Lock()
	defer s.problems.mu.Unlock()
	delete(s.problems.m, kind)
}

func (s *Service) problemItems() []AttentionItem {
	s.problems.mu.Lock()
	defer s.problems.mu.Unlock()
	out := make([]AttentionItem, 0, len(s.problems.m))
	for _, it := range s.problems.m {
		out = append(out, it)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Kind < out[j].Kind })
	return out
}

// EventOutcome is a Stripe event type and the state the processor left
// it in.
type EventOutcome struct {
	Type  string
	State EventState
}

// outcomes counts processed events by type and state since start.
type outcomes struct {
	mu sync.Mutex
	m  map[EventOutcome]uint64
}

func (s *Service) countOutcomes(acts []Activity) {
	s.outcomes.mu.Lock()
	defer s.outcomes.mu.Unlock()
	if s.outcomes.m == nil {
		s.outcomes.m = map[EventOutcome]uint64{}
	}
	for _, a := range acts {
		switch a.State {
		case StateApplied, StateIgnored, StateFailed: // final; waiting shows in the backlog
			if a.Kind == ActivityEvent {
				s.outcomes.m[EventOutcome{a.Type, a.State}]++
			}
		}
	}
}

// EventOutcomes returns how many events of each type the processor brought
// to a final state (applied, ignored, failed) since start; events still
// waiting are the backlog.
func (s *Service) EventOutcomes() map[EventOutcome]uint64 {
	s.outcomes.mu.Lock()
	defer s.outcomes.mu.Unlock()
	out := make(map[EventOutcome]uint64, len(s.outcomes.m))
	for k, v := range s.outcomes.m {
		out[k] = v
	}
	return out
}

// OldestPending is when the oldest event still to apply (received or
// waiting) arrived; zero when none is.
func (s *Service) OldestPending() (time.Time, error) {
	recs, err := s.store.Pending(0, 1, func(EventRecord) bool { return true })
	if err != nil || len(recs) == 0 {
		return time.Time{}, err
	}
	return recs[0].ReceivedAt, nil
}

// NoteBackup records a backup that verified, for the header and metrics,
// and clears a backup problem.
func (s *Service) NoteBackup(r BackupReport) {
	s.problems.mu.Lock()
	s.problems.lastBackup, s.problems.backupAt = r, s.now()
	delete(s.problems.m, AttnBackup)
	s.problems.mu.Unlock()
}

// LastBackup is the last backup that verified and when it was taken; zero
// when none was.
func (s *Service) LastBackup() (BackupReport, time.Time) {
	s.problems.mu.Lock()
	defer s.problems.mu.Unlock()
	return s.problems.lastBackup, s.problems.backupAt
}
