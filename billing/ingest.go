package billing

import (
	"context"
)

// Ingest stores a verified event body durably. When it returns without
// error the event is committed; duplicate is true for an event id already
// stored, in which case nothing changed. payload may be reused by the
// caller once Ingest returns.
func (s *Service) Ingest(payload []byte, source string) (rec EventRecord, duplicate bool, err error) {
	env, err := ParseEnvelope(payload)
	if err != nil {
		return rec, false, err
	}
	rec, duplicate, err = s.store.Ingest(StoredEvent(env, payload, source, s.now()))
	s.noteWrite(err)
	if err != nil {
		return rec, false, err
	}
	if duplicate {
		s.duplicates.Add(1)
		s.hub.publish(Activity{At: s.now(), Kind: ActivityDuplicate, Seq: rec.Seq, EventID: rec.ID, Type: rec.Type,
			User: rec.User, State: rec.State, Reason: "redelivery, already stored"})
		return rec, true, nil
	}
	s.fresh.put(rec.Seq, payload)
	s.received.Add(1)
	s.hub.publish(Activity{At: rec.ReceivedAt, Kind: ActivityEvent, Seq: rec.Seq, EventID: rec.ID, Type: rec.Type, State: rec.State})
	s.Wake()
	return rec, false, nil
}

// NoteRejected counts a refused webhook request by reason and shows it.
func (s *Service) NoteRejected(reason, detail string) {
	s.rejMu.Lock()
	s.rejected[reason]++
	s.rejMu.Unlock()
	s.hub.publish(Activity{At: s.now(), Kind: ActivityRejected, Type: "webhook rejected", Reason: reason + ": " + detail})
}

// Announce shows a line of background work (catalog sync, resync progress)
// in the live feed.
func (s *Service) Announce(what, detail string) {
	s.hub.publish(Activity{At: s.now(), Kind: ActivitySystem, Type: what, Reason: detail})
}

// announceBy shows an operator's change that has no ledger entry (retry,
// assign, API keys) in the live feed, with who made it.
func (s *Service) announceBy(ctx context.Context, what, detail string, state EventState) {
	s.hub.publish(Activity{At: s.now(), Kind: ActivityManual, Type: what, Reason: detail, Operator: OperatorOf(ctx), State: state})
}

// Queued is the live feed's state for an operator's retry or assignment:
// the event is back in the queue; its own line follows when it applies.
const Queued EventState = "queued"

// Wake tells the processor there is work.
func (s *Service) Wake() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// Subscribe returns the live feed of activities.
func (s *Service) Subscribe() (<-chan Activity, func()) { return s.hub.Subscribe() }

// Running reports whether the processor loop is running.
func (s *Service) Running() bool { return s.running.Load() }
