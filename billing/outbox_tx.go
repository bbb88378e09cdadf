package billing

import (
	"encoding/json"
	"strings"
	"time"
)

// outboxStore is the Store the service uses when app endpoints are
// configured: every read-write transaction runs over an outboxTx, which
// notes the changes that concern the app as they are written and, once
// the business operation is done and before it commits, adds the messages
// they make to the outbox in the same transaction.
type outboxStore struct {
	Store
	cfg  OutboxConfig
	wake chan struct{}
}

// Insight reads the rollups of the store underneath: the outbox wraps
// writes only, and the Overview and report must not lose their figures
// because the app has an endpoint.
func (o *outboxStore) Insight(from, until string, top int) (Insight, error) {
	is, ok := o.Store.(InsightStore)
	if !ok {
		return Insight{}, errNoRollups
	}
	return is.Insight(from, until, top)
}

func (o *outboxStore) Update(now time.Time, fn func(Tx) error) error {
	return o.run(now, fn, o.Store.Update)
}

func (o *outboxStore) Shared(now time.Time, fn func(Tx) error) error {
	return o.run(now, fn, o.Store.Shared)
}

func (o *outboxStore) run(now time.Time, fn func(Tx) error, update func(time.Time, func(Tx) error) error) error {
	wrote := false
	err := update(now, func(tx Tx) error {
		w := &outboxTx{Tx: tx, cfg: &o.cfg}
		if err := fn(w); err != nil {
			return err
		}
		n, err := w.flush()
		wrote = n > 0 // fn may run twice (Shared): the last run counts
		return err
	})
	if err == nil && wrote {
		select {
		case o.wake <- struct{}{}:
		default:
		}
	}
	return err
}

// outboxTx is a Tx that notes the changes that concern the app.
type outboxTx struct {
	Tx
	cfg     *OutboxConfig
	event   string
	changes []Change
}

// setEvent tells the outbox which Stripe event tx is applying now.
func setEvent(tx Tx, id string) {
	if w, ok := tx.(*outboxTx); ok {
		w.event = id
	}
}

func (w *outboxTx) WriteLedger(ch LedgerChange) ([]Entry, error) {
	entries, err := w.Tx.WriteLedger(ch)
	if err != nil {
		return nil, err
	}
	for i := range entries {
		e := entries[i]
		w.changes = append(w.changes, Change{Event: w.event, Entry: &e})
	}
	return entries, nil
}

func (w *outboxTx) PutSubscription(s Subscription) error {
	return putNoted(w, s.ID, s, w.Tx.Subscription, w.Tx.PutSubscription, func(old, s *Subscription) Change {
		return Change{Event: w.event, OldSub: old, NewSub: s}
	})
}

func (w *outboxTx) PutPurchase(p Purchase) error {
	return putNoted(w, p.ID, p, w.Tx.Purchase, w.Tx.PutPurchase, func(old, p *Purchase) Change {
		return Change{Event: w.event, OldPurchase: old, NewPurchase: p}
	})
}

// putNoted stores v (id) with put and notes the change from what get read
// before (old is nil when there was nothing).
func putNoted[T any](w *outboxTx, id string, v T, get func(string) (T, bool, error), put func(T) error, change func(old, v *T) Change) error {
	old, ok, err := get(id)
	if err != nil {
		return err
	}
	if err := put(v); err != nil {
		return err
	}
	var was *T
	if ok {
		was = &old
	}
	w.changes = append(w.changes, change(was, &v))
	return nil
}

func (w *outboxTx) PutFlag(f Flag) error {
	_, ok, err := w.Tx.Flag(f.Kind, f.ID)
	if err != nil {
		return err
	}
	if err := w.Tx.PutFlag(f); err != nil {
		return err
	}
	if !ok {
		w.changes = append(w.changes, Change{Event: w.event, NewFlag: &f})
	}
	return nil
}

// flush adds the messages of every noted change to the outbox, one per
// endpoint that wants it, in the order the changes were written; it
// returns how many it added.
func (w *outboxTx) flush() (int, error) {
	n := 0
	users := map[string]User{}
	type span struct {
		before int64
		last   Entry
		event  string
	}
	balances := map[string]*span{} // each user's balance before and after the transaction's entries
	var order []string
	for _, c := range w.changes {
		if e := c.Entry; e != nil {
			sp, ok := balances[e.UserID]
			if !ok {
				sp = &span{before: e.BalanceAfter - e.Delta}
				balances[e.UserID] = sp
				order = append(order, e.UserID)
			}
			sp.last, sp.event = *e, c.Event
		}
	}
	low := func(id string) []Message {
		sp := balances[id]
		if sp == nil {
			return nil
		}
		th, ok := w.cfg.LowCrossing(sp.before, sp.last.BalanceAfter, users[id].Tier)
		if !ok {
			return nil
		}
		e := sp.last
		d := MessageData{UserID: id, Balance: e.BalanceAfter, Tier: users[id].Tier, StripeEvent: sp.event, Threshold: th, Entry: &e}
		if d.StripeEvent == "" && strings.HasPrefix(e.Source, "evt_") {
			d.StripeEvent = e.Source
		}
		return []Message{{Type: MsgCreditsLow, Data: d}}
	}
	add := func(id string, m Message) error {
		body, err := json.Marshal(MessageBody{Type: m.Type, Timestamp: w.Now(), Data: m.Data})
		if err != nil {
			return err
		}
		for _, ep := range w.cfg.Endpoints {
			if !ep.Wants(m.Type) {
				continue
			}
			if _, err := w.Tx.AddOutbox(OutboxMessage{Endpoint: ep.ID, User: id, Type: m.Type, Body: body,
				CreatedAt: w.Now(), DeliveryStatus: DeliveryStatus{Since: w.Now(), State: DeliveryPending}}); err != nil {
				return err
			}
			n++
		}
		return nil
	}
	for _, c := range w.changes {
		id := changeUser(c)
		u, ok := users[id]
		if !ok && id != "" {
			stored, _, err := w.Tx.User(id)
			if err != nil {
				return n, err
			}
			u = stored
			users[id] = u
		}
		if u.ID == "" {
			u.ID = id
		}
		if u.Tier == "" {
			u.Tier = DefaultTier
		}
		users[id] = u
		for _, m := range w.cfg.MessagesFor(c, u, w.Tx) {
			if err := add(id, m); err != nil {
				return n, err
			}
		}
	}
	for _, id := range order {
		for _, m := range low(id) {
			if err := add(id, m); err != nil {
				return n, err
			}
		}
	}
	w.changes = nil
	return n, nil
}

func changeUser(c Change) string {
	switch {
	case c.Entry != nil:
		return c.Entry.UserID
	case c.NewSub != nil:
		return c.NewSub.UserID
	case c.NewPurchase != nil:
		return c.NewPurchase.UserID
	case c.NewFlag != nil:
		return c.NewFlag.User
	}
	return ""
}
