package billing

import (
	"fmt"
	"io"
	"sort"
)

// Stats returns counters since start and store totals.
func (s *Service) Stats() Stats {
	st := Stats{Received: s.received.Load(), Duplicates: s.duplicates.Load(), Applied: s.applied.Load(),
		Ignored: s.ignored.Load(), Started: s.started, Rejected: map[string]uint64{}}
	s.rejMu.Lock()
	for k, v := range s.rejected {
		st.Rejected[k] = v
	}
	s.rejMu.Unlock()
	var flags uint64 // kept by the store as flags are written: no scan
	if c, err := s.store.Counts(); err == nil {
		st.Events, st.Users, st.Pending, st.Purchases, st.Failed, st.Waiting = c.Events, c.Users, c.Pending, c.Purchases, c.Failed, c.Waiting
		flags = c.Flags
	}
	_, st.LastBackup = s.LastBackup()
	for _, p := range s.problemItems() {
		st.BackupFailing = st.BackupFailing || p.Kind == AttnBackup
	}
	if err := s.StoreFault(); err != nil {
		st.StoreFault = err.Error()
	}
	st.Attention = st.Waiting + flags + uint64(len(s.problemItems()))
	return st
}

// EventsPage returns events newest first below sequence before.
func (s *Service) EventsPage(before uint64, limit int) ([]EventRecord, error) {
	return s.store.EventsPage(before, limit, nil)
}

// EventsInState returns up to limit events newest first, only those in
// state when it is not empty.
func (s *Service) EventsInState(state string, limit int) ([]EventRecord, error) {
	var match func(EventRecord) bool
	if state != "" {
		match = func(r EventRecord) bool { return string(r.State) == state }
	}
	return s.store.EventsPage(0, limit, match)
}

// WriteBackup writes a consistent copy of the database to w from one read
// transaction; webhooks and spends go on meanwhile.
func (s *Service) WriteBackup(w io.Writer) (int64, error) { return s.store.WriteTo(w) }

// Verify checks every invariant of the store.
func (s *Service) Verify() (VerifyReport, error) { return s.store.Verify() }

// PurchasesPage returns purchases newest first below sequence before.
func (s *Service) PurchasesPage(before uint64, limit int) ([]Purchase, error) {
	return s.store.PurchasesPage(before, limit)
}

// UsersPage returns users in id order after the id after, matching filter,
// with balances that never count expired credits.
func (s *Service) UsersPage(after, filter string, limit int) ([]User, error) {
	us, err := s.store.UsersPage(after, filter, limit)
	if err != nil {
		return nil, err
	}
	now := s.now()
	for i := range us {
		if us[i].NextExpiry.IsZero() || us[i].NextExpiry.After(now) {
			continue
		}
		_ = s.store.View(now, func(tx Tx) error {
			b, err := Spendable(tx, us[i])
			if err == nil {
				us[i].Balance = b
			}
			return err
		})
	}
	return us, nil
}

// UserDetail returns one user with grants, recent ledger entries, purchases
// and plan.
func (s *Service) UserDetail(id string) (UserDetail, error) {
	var d UserDetail
	err := s.store.View(s.now(), func(tx Tx) error {
		var err error
		if d.User, d.Spendable, d.Plan, err = readUser(tx, id); err != nil {
			return err
		}
		if d.Grants, err = tx.Grants(id); err != nil {
			return err
		}
		if d.Entries, err = tx.Entries(id, 0, 500); err != nil {
			return err
		}
		d.Purchases, err = tx.UserPurchases(id, 100)
		return err
	})
	return d, err
}

// readUser reads a stored user with what they can spend now and their
// plan (nil when they never had one); an unknown user is ErrNotFound.
func readUser(tx Tx, id string) (u User, spendable int64, plan *Subscription, err error) {
	u, ok, err := tx.User(id)
	if err = found(ok, err, "user", id); err != nil {
		return User{}, 0, nil, err
	}
	if spendable, err = Spendable(tx, u); err != nil {
		return User{}, 0, nil, err
	}
	if u.SubscriptionID != "" {
		sub, ok, err := tx.Subscription(u.SubscriptionID)
		if err != nil {
			return User{}, 0, nil, err
		}
		if ok {
			plan = &sub
		}
	}
	return u, spendable, plan, nil
}

// found is a lookup's error, or ErrNotFound naming what and id when
// nothing was stored.
func found(ok bool, err error, what, id string) error {
	if err == nil && !ok {
		return fmt.Errorf("%s %s: %w", what, id, ErrNotFound)
	}
	return err
}

// Ledger returns up to limit of a user's entries, newest first.
func (s *Service) Ledger(user string, limit int) ([]Entry, error) {
	return viewed(s, func(tx Tx) ([]Entry, error) { return tx.Entries(user, 0, limit) })
}

// viewed is what read returns in a read transaction.
func viewed[T any](s *Service, read func(Tx) (T, error)) (T, error) {
	var v T
	err := s.store.View(s.now(), func(tx Tx) error {
		var err error
		v, err = read(tx)
		return err
	})
	return v, err
}

// Flags returns every open attention flag, oldest first.
func (s *Service) Flags() ([]Flag, error) {
	out, err := viewed(s, Tx.Flags)
	sort.SliceStable(out, func(i, j int) bool { return out[i].At.Before(out[j].At) })
	return out, err
}
