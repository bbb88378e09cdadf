package billing

import (
	"errors"
	"fmt"
	"time"
)

// What the sender (internal/appwebhook) and the console need of the outbox.

// OutboxWake receives (at most one signal buffered) after a commit that
// added messages, and after a resend or an endpoint re-enabled.
func (s *Service) OutboxWake() <-chan struct{} { return s.outboxWake }

func (s *Service) wakeOutbox() {
	select {
	case s.outboxWake <- struct{}{}:
	default:
	}
}

// AppEndpoints lists the configured endpoints.
func (s *Service) AppEndpoints() []AppEndpoint { return s.outbox.Endpoints }

// DueMessages returns up to limit messages the sender may deliver now, in
// sequence order: for each endpoint and user, the oldest pending message
// when its time has come, and after it up to chain-1 of that user's next
// ones that are due too. The sender sends a user's chain one after the
// other and stops at the first that fails, so a user's messages arrive in
// order while many go out per round. Messages of a disabled endpoint, or
// of one no longer configured, wait. next is the earliest retry time of
// the heads not due yet (zero: none).
func (s *Service) DueMessages(limit, chain int) (due []OutboxMessage, next time.Time, err error) {
	now := s.now()
	chain = max(chain, 1)
	err = s.store.View(now, func(tx Tx) error {
		due, next = due[:0], time.Time{}
		enabled := map[string]bool{} // configured and not disabled
		for _, ep := range s.outbox.Endpoints {
			st, _, err := tx.AppEndpoint(ep.ID)
			if err != nil {
				return err
			}
			enabled[ep.ID] = !st.Disabled
		}
		type key struct{ ep, user string }
		taken := map[key]int{} // how many of the user's chain are taken; -1: the chain has ended
		var seqs []uint64
		err := tx.PendingOutbox(func(m PendingRef) bool {
			k := key{m.Endpoint, m.User}
			n, seen := taken[k]
			if n < 0 || n >= chain || !enabled[m.Endpoint] {
				return true
			}
			if m.NextAttempt.After(now) {
				if !seen && (next.IsZero() || m.NextAttempt.Before(next)) {
					next = m.NextAttempt
				}
				taken[k] = -1 // the rest wait behind it
				return true
			}
			taken[k] = n + 1
			seqs = append(seqs, m.Seq)
			return len(seqs) < limit
		})
		if err != nil {
			return err
		}
		for _, seq := range seqs {
			m, ok, err := tx.OutboxMessage(seq)
			if err != nil {
				return err
			}
			if ok {
				due = append(due, m)
			}
		}
		return nil
	})
	return due, next, err
}

// DeliveryResult is what one attempt at delivering a message found.
type DeliveryResult struct {
	Seq uint64
	// Endpoint is the message's (empty: read from the message).
	Endpoint string
	At       time.Time
	// OK: the endpoint answered 2xx.
	OK bool
	// Status is the HTTP status (0: no answer); Response the first bytes
	// of the body; Err why there was no answer.
	Status   int
	Response string
	Err      string
	// Retry is when to try again if this attempt failed.
	Retry time.Time
}

// RecordDeliveries stores the attempts' results in one transaction: a
// delivered message is done; a failed one is retried at its Retry time
// until it has been tried for GiveUpAfter, then failed; an endpoint that
// has failed for GiveUpAfter without a success is disabled (Attention).
func (s *Service) RecordDeliveries(results []DeliveryResult) error {
	if len(results) == 0 {
		return nil
	}
	return s.store.Update(s.now(), func(tx Tx) error {
		eps := map[string]EndpointState{}
		for _, r := range results {
			m, ok, err := tx.DeliveryStatus(r.Seq) // the status alone: the body is not rewritten
			if err != nil {
				return err
			}
			if !ok || m.State != DeliveryPending {
				continue // resent or removed meanwhile
			}
			endpoint := r.Endpoint
			if endpoint == "" {
				full, _, err := tx.OutboxMessage(r.Seq)
				if err != nil {
					return err
				}
				endpoint = full.Endpoint
			}
			ep, seen := eps[endpoint]
			if !seen {
				if ep, _, err = tx.AppEndpoint(endpoint); err != nil {
					return err
				}
				ep.ID = endpoint
				ep.URL = s.endpointURL(endpoint)
			}
			m.Attempts++
			m.LastAttempt, m.LastStatus, m.LastResponse, m.LastError = r.At, r.Status, r.Response, r.Err
			if r.OK {
				m.State, m.DeliveredAt, m.NextAttempt = DeliveryDelivered, r.At, time.Time{}
				ep.FailingSince, ep.LastSuccess = time.Time{}, r.At
			} else {
				m.NextAttempt = r.Retry
				if r.At.Sub(m.Since) >= GiveUpAfter {
					m.State, m.NextAttempt = DeliveryFailed, time.Time{}
				}
				if ep.FailingSince.IsZero() {
					ep.FailingSince = r.At
				}
				if !ep.Disabled && r.At.Sub(ep.FailingSince) >= GiveUpAfter {
					ep.Disabled, ep.DisabledAt = true, r.At
					if err := tx.PutFlag(Flag{Kind: AttnAppWebhook, ID: ep.ID, At: r.At,
						Detail: fmt.Sprintf("app webhook %s disabled: failing since %s (%s); re-enable in the Deliveries tab",
							ep.URL, ep.FailingSince.Format(time.DateTime), lastProblem(m))}); err != nil {
						return err
					}
				}
			}
			eps[endpoint] = ep
			if err := tx.PutDelivery(r.Seq, m); err != nil {
				return err
			}
		}
		for _, ep := range eps {
			if err := tx.PutAppEndpoint(ep); err != nil {
				return err
			}
		}
		return nil
	})
}

func lastProblem(m DeliveryStatus) string {
	if m.LastError != "" {
		return m.LastError
	}
	return fmt.Sprintf("HTTP %d", m.LastStatus)
}

func (s *Service) endpointURL(id string) string {
	for _, ep := range s.outbox.Endpoints {
		if ep.ID == id {
			return ep.URL
		}
	}
	return ""
}

// Delivery is an outbox message with its endpoint's URL, for the console
// and the command line.
type Delivery struct {
	OutboxMessage
	URL string `json:"url"`
}

// Deliveries returns up to limit messages newest first below sequence
// before (0: from the newest); failedOnly keeps the failed ones.
func (s *Service) Deliveries(before uint64, limit int, failedOnly bool) ([]Delivery, error) {
	ms, err := s.store.OutboxPage(before, limit, failedOnly)
	if err != nil {
		return nil, err
	}
	out := make([]Delivery, len(ms))
	for i, m := range ms {
		out[i] = Delivery{OutboxMessage: m, URL: s.endpointURL(m.Endpoint)}
	}
	return out, nil
}

// EndpointStates returns each configured endpoint's delivery state.
func (s *Service) EndpointStates() ([]EndpointState, error) {
	var out []EndpointState
	err := s.store.View(s.now(), func(tx Tx) error {
		out = out[:0]
		for _, ep := range s.outbox.Endpoints {
			st, _, err := tx.AppEndpoint(ep.ID)
			if err != nil {
				return err
			}
			st.ID, st.URL = ep.ID, ep.URL
			out = append(out, st)
		}
		return nil
	})
	return out, err
}

// ErrNoDelivery is returned to resend a message that is not stored.
var ErrNoDelivery = errors.New("no such delivery")

// ResendDelivery queues message seq again now, whatever its state, with a
// fresh retry window; its webhook-id stays the same.
func (s *Service) ResendDelivery(seq uint64) error {
	err := s.store.Update(s.now(), func(tx Tx) error {
		st, ok, err := tx.DeliveryStatus(seq)
		if err != nil {
			return err
		}
		if !ok {
			return fmt.Errorf("%w %d", ErrNoDelivery, seq)
		}
		return tx.PutDelivery(seq, requeueDelivery(st, tx.Now()))
	})
	if err == nil {
		s.wakeOutbox()
	}
	return err
}

// ResendFailed queues every failed message again and returns how many.
func (s *Service) ResendFailed() (int, error) {
	n := 0
	err := s.store.Update(s.now(), func(tx Tx) error {
		var failed []OutboxMessage
		if err := tx.FailedOutbox(func(m OutboxMessage) bool { failed = append(failed, m); return true }); err != nil {
			return err
		}
		n = len(failed)
		for _, m := range failed {
			if err := tx.PutDelivery(m.Seq, requeueDelivery(m.DeliveryStatus, tx.Now())); err != nil {
				return err
			}
		}
		return nil
	})
	if err == nil && n > 0 {
		s.wakeOutbox()
	}
	return n, err
}

func requeueDelivery(m DeliveryStatus, now time.Time) DeliveryStatus {
	m.State, m.Since, m.NextAttempt, m.DeliveredAt = DeliveryPending, now, time.Time{}, time.Time{}
	return m
}

// KeepDelivered is how long a delivered message is kept before
// PruneDelivered removes it.
func (s *Service) KeepDelivered() time.Duration {
	if s.outbox.KeepDelivered > 0 {
		return s.outbox.KeepDelivered
	}
	return KeepDelivered
}

// PruneDelivered removes, in one transaction, up to limit messages
// delivered longer than KeepDelivered ago (their bodies and statuses; the
// pending and failed counts do not change), oldest first. It returns how
// many, and when the oldest one left will be due (zero: no delivered
// message is left).
func (s *Service) PruneDelivered(limit int) (n int, next time.Time, err error) {
	keep := s.KeepDelivered()
	now := s.now()
	err = s.store.Update(now, func(tx Tx) error {
		var oldest time.Time
		n, oldest, err = tx.PruneDelivered(now.Add(-keep), limit)
		next = time.Time{}
		if err == nil && !oldest.IsZero() {
			next = oldest.Add(keep)
		}
		return err
	})
	return n, next, err
}

// EnableEndpoint re-enables an endpoint disabled after failing: its
// waiting messages go out again now.
func (s *Service) EnableEndpoint(id string) error {
	if s.endpointURL(id) == "" {
		return fmt.Errorf("no app webhook endpoint %q is configured", id)
	}
	err := s.store.Update(s.now(), func(tx Tx) error {
		st, _, err := tx.AppEndpoint(id)
		if err != nil {
			return err
		}
		st.ID, st.URL = id, s.endpointURL(id)
		st.Disabled, st.DisabledAt, st.FailingSince = false, time.Time{}, time.Time{}
		if err := tx.PutAppEndpoint(st); err != nil {
			return err
		}
		return tx.DeleteFlag(AttnAppWebhook, id)
	})
	if err == nil {
		s.wakeOutbox()
	}
	return err
}
