package storage

import (
	"errors"
	"sync"
	"time"

	"creditdesk/billing"

	bolt "go.etcd.io/bbolt"
)

// ErrClosed is returned by writes after Close.
var ErrClosed = errors.New("store is closed")

// maxGroup bounds how many callers share one commit.
const maxGroup = 512

// sharedCommit lets concurrent Shared calls commit together. Callers queue;
// one of them leads: it takes what is queued (at most maxGroup), commits it in
// one transaction, wakes those callers, and hands the lead to the next caller
// still queued. A lone caller commits at once; under load the fsync is paid
// once per group, and no caller leads for more than one commit.
type sharedCommit struct {
	mu      sync.Mutex
	queue   []*sharedCall
	leading bool
}

type sharedCall struct {
	now  time.Time
	fn   func(billing.Tx) error
	err  error
	done chan struct{}
	lead chan struct{}
}

// Shared runs fn in a read-write transaction that it may share with other
// concurrent Shared calls, and returns once that transaction is committed
// and fsynced. Each fn sees the writes of those before it in the group, as
// if they had run one after another.
//
// If any fn in a group returns an error, the group is rolled back and each
// fn runs again in a transaction of its own, so fn may run twice: it must set
// whatever it reports to its caller afresh on each run, and it should refuse
// a business request (not enough credits) by writing nothing and returning
// nil, keeping errors for failures of the store.
func (s *Store) Shared(now time.Time, fn func(billing.Tx) error) error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return ErrClosed
	}
	s.wg.Add(1)
	s.mu.Unlock()
	defer s.wg.Done()
	c := &sharedCall{now: now, fn: fn, done: make(chan struct{}), lead: make(chan struct{}, 1)}
	g := &s.shared
	g.mu.Lock()
	g.queue = append(g.queue, c)
	if !g.leading {
		g.leading = true
		c.lead <- struct{}{}
	}
	g.mu.Unlock()
	select {
	case <-c.done:
		return c.err
	case <-c.lead:
	}
	g.mu.Lock()
	n := min(len(g.queue), maxGroup)
	group := append([]*sharedCall(nil), g.queue[:n]...)
	g.queue = append(g.queue[:0], g.queue[n:]...)
	g.mu.Unlock()

	s.commitShared(group)

	g.mu.Lock()
	if len(g.queue) > 0 {
		g.queue[0].lead <- struct{}{}
	} else {
		g.leading = false
	}
	g.mu.Unlock()
	<-c.done
	return c.err
}

func (s *Store) commitShared(group []*sharedCall) {
	err := s.update(func(btx *bolt.Tx) error {
		for _, c := range group {
			if err := c.fn(&Tx{tx: btx, now: c.now, obs: s.obs, codec: s.codec}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil && len(group) > 1 {
		for _, c := range group {
			s.commitShared([]*sharedCall{c})
		}
		return
	}
	for _, c := range group {
		c.err = err
		close(c.done)
	}
}
