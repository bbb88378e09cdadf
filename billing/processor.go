package billing

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Run applies stored events in arrival order until ctx ends, then applies
// every event already received and returns (see Processor).
func (s *Service) Run(ctx context.Context) error {
	s.running.Store(true)
	defer s.running.Store(false)
	return newProcessor(s).Run(ctx)
}

// Processor is the one goroutine that applies stored events: it reads
// pending events in arrival order, a batch at a time sized by what waits,
// and writes each batch through the store's group commit (Store.Shared), so
// a batch shares its transaction and fsync with the webhooks being
// acknowledged instead of holding the write lock while they wait. Expiry
// runs at start and every minute.
//
// Events waiting for a missing piece are swept again (all of them, in
// order, a batch at a time between batches of new events) at start, after
// anything was applied (at most once a second) and after an operator
// action; those waiting on an API outage only at their backoff time.
//
// Every wait is on the service's injected clock (Options.Clock and
// Options.After): a retry, the next sweep, the next expiry run, a fault's
// backoff. Between them it sleeps until an ingest wakes it; it never polls.
type Processor struct {
	s         *Service
	expireAt  time.Time // the next expiry run
	needSweep bool      // something applied or an operator asked: sweep the waiting events
	sweeping  bool      // a sweep is under way, at cursor
	cursor    uint64
	lastSweep time.Time
	faulted   int // attempts in a row that writes failed
}

func newProcessor(s *Service) *Processor { return &Processor{s: s, needSweep: true} }

// Run is the processor's loop; see Processor.
func (p *Processor) Run(ctx context.Context) error {
	s := p.s
	s.ExpireDue()
	p.expireAt = s.clock().Add(time.Minute)
	for {
		p.gather(ctx)
		res, err := s.processOnce(ctx, pickDue, 0)
		probing := err == nil && res.processed == 0 && s.StoreFault() != nil
		if probing {
			// Nothing to apply, but writes were failing: find out whether
			// they work again, so /healthz does not stay at 503.
			err = s.store.ProbeWrite(s.now())
			s.noteWrite(err)
			probing = s.StoreFault() != nil
		}
		if IsStoreFault(err) || probing {
			// The disk refused the write, or the file is damaged: nothing
			// was written and every event stays as it was. Wait, longer
			// each time; noteWrite has logged the change once. (Or writes
			// work but have not for long: probe again later.)
			p.faulted++
			select {
			case <-ctx.Done():
				s.drain()
				return nil
			case <-s.after(faultBackoff(p.faulted, s.faults.base)):
			}
			continue
		}
		p.faulted = 0
		if err != nil {
			s.log.Error("processor", "err", err)
		}
		swept := p.sweep(ctx, res.applied > 0)
		if ctx.Err() == nil && err == nil && (res.processed > 0 || swept) {
			continue
		}
		select {
		case <-ctx.Done():
			s.drain()
			return nil
		case <-s.wake:
		case <-s.after(p.idle(res.nextDue)):
		}
		if !s.clock().Before(p.expireAt) {
			s.ExpireDue()
			p.expireAt = s.clock().Add(time.Minute)
		}
	}
}

// gather waits, while webhooks wait for their commit, until half a batch
// of received events is stored (gatherBatch): under a burst the processor
// then shares a commit with acknowledgements once per 128 events rather
// than joining every one of them, acknowledging Stripe stays first, and the
// backlog stays near that half batch. It returns at once
// when no ingest waits (a trickle is applied as it arrives), and wakes on
// ingests, never on a timer.
func (p *Processor) gather(ctx context.Context) {
	s := p.s
	for {
		idle := s.store.IngestsIdle()
		select {
		case <-idle:
			return
		default:
		}
		if c, err := s.store.Counts(); err != nil || c.Pending-min(c.Pending, c.Waiting) >= uint64(gatherBatch(s.batch)) {
			return
		}
		select {
		case <-idle:
			return
		case <-ctx.Done():
			return
		case <-s.wake:
		}
	}
}

// gatherBatch is how many received events gather waits for: half the
// largest batch, so that a batch joins a commit while the next half
// arrives.
func gatherBatch(batch int) int { return max(batch/2, 1) }

// sweep runs one batch of the sweep of waiting events when one is due or
// under way, and reports whether the sweep goes on.
func (p *Processor) sweep(ctx context.Context, applied bool) bool {
	s := p.s
	if applied || s.retryAll.Swap(false) {
		p.needSweep = true
	}
	if p.needSweep && !p.sweeping && s.clock().Sub(p.lastSweep) >= time.Second {
		p.needSweep, p.sweeping, p.cursor, p.lastSweep = false, true, 0, s.clock()
	}
	if !p.sweeping {
		return false
	}
	sw, err := s.processOnce(ctx, pickSweep, p.cursor)
	if err != nil {
		s.log.Error("processor sweep", "err", err)
	}
	p.cursor = sw.lastSeq
	p.sweeping = err == nil && sw.processed == s.batch
	if sw.applied > 0 {
		p.needSweep = true
	}
	return p.sweeping
}

// idle is how long to sleep when there is nothing to apply: until the
// first of a waiting event's retry (nextDue), the next sweep, the next
// expiry run. An ingest wakes the processor sooner.
func (p *Processor) idle(nextDue time.Time) time.Duration {
	now := p.s.clock()
	wait := p.expireAt.Sub(now)
	if !nextDue.IsZero() {
		wait = min(wait, max(nextDue.Sub(now), 10*time.Millisecond))
	}
	if p.needSweep {
		wait = min(wait, max(p.lastSweep.Add(time.Second).Sub(now), 10*time.Millisecond))
	}
	return max(wait, 0)
}

// drain applies every event in state received, then returns: what the
// receiver acknowledged is applied before shutdown.
func (s *Service) drain() {
	for i := 0; i < 10000; i++ {
		res, err := s.processOnce(context.Background(), pickReceived, 0)
		if err != nil {
			s.log.Error("processor drain", "err", err)
			return
		}
		if res.processed == 0 {
			return
		}
	}
}

// ProcessPending applies everything that can be applied now, sweeping the
// waiting events until nothing more applies, and returns how many events it
// looked at; tests and one-shot commands use it instead of Run.
func (s *Service) ProcessPending(ctx context.Context) (int, error) {
	total := 0
	for {
		applied := 0
		for {
			res, err := s.processOnce(ctx, pickDue, 0)
			total, applied = total+res.processed, applied+res.applied
			if err != nil {
				return total, err
			}
			if res.processed == 0 {
				break
			}
		}
		var cursor uint64
		for {
			res, err := s.processOnce(ctx, pickSweep, cursor)
			total, applied = total+res.processed, applied+res.applied
			if err != nil {
				return total, err
			}
			if res.processed == 0 {
				break
			}
			cursor = res.lastSeq
		}
		if applied == 0 {
			return total, nil
		}
	}
}

// pick says which pending events a batch takes.
type pick int

const (
	// pickDue: received events, and waiting ones whose retry time has come.
	pickDue pick = iota
	// pickSweep: waiting events (not those held back by an API outage),
	// after a cursor, to try again because something new was applied.
	pickSweep
	// pickReceived: received events only (the drain at shutdown).
	pickReceived
)

type batchResult struct {
	processed, applied, waiting int
	lastSeq                     uint64
	nextDue                     time.Time
}

func (s *Service) processOnce(ctx context.Context, which pick, after uint64) (batchResult, error) {
	var res batchResult
	now := s.now()
	recs, err := s.store.Pending(after, s.batch, func(r EventRecord) bool {
		switch which {
		case pickReceived:
			return r.State == StateReceived
		case pickSweep:
			return r.State == StateWaiting && !r.WaitsForAPI
		}
		if r.State == StateReceived || !r.NextAttempt.After(now) {
			return true
		}
		if res.nextDue.IsZero() || r.NextAttempt.Before(res.nextDue) {
			res.nextDue = r.NextAttempt
		}
		return false
	})
	if err != nil || len(recs) == 0 {
		return res, err
	}
	res.lastSeq = recs[len(recs)-1].Seq
	res.processed = len(recs)
	evs, err := s.payloads(recs, which != pickSweep)
	if err != nil {
		return batchResult{}, err
	}
	// Payloads are decoded here, before the commit, not under its lock,
	// and only for the types the rules use.
	objs := make([]decoded, len(evs))
	for i, ev := range evs {
		if Uses(ev.Type) {
			objs[i].obj, objs[i].err = DataObject(ev.Payload)
		} else {
			objs[i].unused = true
		}
	}
	// The batch joins the store's group commit: one transaction and one
	// fsync with the webhooks being acknowledged meanwhile, and no second
	// writer holding the lock while they wait. fn may run twice (Shared);
	// it reports afresh each time.
	var acts []Activity
	var fetch []fetchReq
	err = s.store.Shared(now, func(tx Tx) error {
		acts, fetch = acts[:0], fetch[:0]
		for i, ev := range evs {
			a, f, err := s.applyOne(tx, ev, objs[i], now, which == pickSweep)
			if err != nil {
				return err
			}
			acts = append(acts, a)
			if f != "" {
				fetch = append(fetch, fetchReq{event: ev.ID, session: f})
			}
		}
		return nil
	})
	s.noteWrite(err)
	if IsStoreFault(err) {
		// The disk, not an event: nothing was written, the events stay
		// received or waiting, and the processor backs off.
		return batchResult{}, err
	}
	if err != nil {
		// A write failed: apply one by one so one event cannot hold up the
		// others, and mark the one that fails.
		acts, fetch = acts[:0], fetch[:0]
		for i, ev := range evs {
			var a Activity
			var f string
			err := s.store.Update(now, func(tx Tx) error {
				var err error
				a, f, err = s.applyOne(tx, ev, objs[i], now, which == pickSweep)
				return err
			})
			s.noteWrite(err)
			if IsStoreFault(err) {
				s.publishOutcomes(acts)
				return batchResult{}, err
			}
			if err != nil {
				a = s.markFailed(ev, now, err)
			}
			acts = append(acts, a)
			if f != "" {
				fetch = append(fetch, fetchReq{event: ev.ID, session: f})
			}
		}
	}
	res.applied, res.waiting = s.publishOutcomes(acts)
	if len(fetch) > 0 && s.fetchLineItems(ctx, fetch) > 0 {
		res.applied++ // decide those events again at once
		res.waiting++
	}
	return res, nil
}

// publishOutcomes counts and shows what a batch did to its events; an
// event a sweep left as it was (no Activity) is neither.
func (s *Service) publishOutcomes(acts []Activity) (applied, waiting int) {
	s.countOutcomes(acts)
	for _, a := range acts {
		if a.Kind == "" {
			continue
		}
		switch a.State {
		case StateApplied:
			applied++
			s.applied.Add(1)
		case StateIgnored:
			s.ignored.Add(1)
		case StateWaiting:
			waiting++
		}
		s.hub.publish(a)
	}
	return applied, waiting
}

// decoded is an event's data.object as DataObject read it, or why not;
// unused when the rules do not use the event's type (not decoded).
type decoded struct {
	obj    Obj
	err    error
	unused bool
}

// payloads joins each record with its body: the one the receiver has just
// handed over (fresh) or else the one stored. inOrder says the batch took
// every received event up to its last (not a sweep), so bodies left in
// fresh at or below it are stale and dropped.
func (s *Service) payloads(recs []EventRecord, inOrder bool) ([]Event, error) {
	evs := make([]Event, len(recs))
	for i, r := range recs {
		evs[i].EventRecord = r
	}
	missing := s.fresh.take(evs)
	if inOrder {
		s.fresh.forgetThrough(recs[len(recs)-1].Seq)
	}
	if len(missing) == 0 {
		return evs, nil
	}
	bodies, err := s.store.Payloads(missing)
	if err != nil {
		return nil, err
	}
	for i, j := 0, 0; i < len(evs) && j < len(missing); i++ {
		if evs[i].Seq == missing[j] {
			evs[i].Payload = bodies[j]
			j++
		}
	}
	return evs, nil
}

type fetchReq struct {
	event   string
	session string
}

func backoff(attempts int) time.Duration {
	d := 5 * time.Second
	for i := 1; i < attempts && d < 10*time.Minute; i++ {
		d *= 2
	}
	return min(d, 10*time.Minute)
}

// waitingSince is when an event's waiting window starts: when creditdesk
// received it, not when Stripe created it, so an event resynced or
// redelivered days late still waits its full window for what it needs.
func waitingSince(rec EventRecord) time.Time {
	if rec.ReceivedAt.IsZero() {
		return time.Unix(rec.Created, 0)
	}
	return rec.ReceivedAt
}

// applyOne decides one event and writes the decision in tx. An error from
// the rules marks the event failed; an error from the store aborts tx.
//
// In a sweep (swept), an event still waiting for the same thing, with
// nothing to write, is left as it was and reported as the zero Activity:
// a sweep is an extra look after something else applied, so it neither
// counts as an attempt (the backoff of its retries stays as it was) nor
// rewrites the record, nor tells the console what it already shows. Under
// a burst that keeps a thousand waiting events from being rewritten, and
// the commits they share with acknowledgements from growing, every second.
func (s *Service) applyOne(tx Tx, ev Event, obj decoded, now time.Time, swept bool) (Activity, string, error) {
	rec := ev.EventRecord
	rec.Attempts++
	setEvent(tx, ev.ID)
	defer setEvent(tx, "")
	d, derr := notUsed, obj.err
	if derr == nil && !obj.unused {
		d, derr = s.rules.DecideObject(ev, obj.obj, tx, now)
	}
	if derr == nil && d.State == StateWaiting && d.NeedLineItems == "" && !d.Retry &&
		now.After(waitingSince(rec).Add(s.wait)) {
		d.Flags = append(d.Flags, Flag{Kind: AttnGaveUp, ID: ev.ID, User: d.User,
			Detail: fmt.Sprintf("%s set aside after waiting: %s", ev.Type, d.Reason)})
		d.State, d.Reason = StateIgnored, "set aside (nothing arrived within "+strings.TrimSuffix(s.wait.String(), "0m0s")+" of its arrival): "+d.Reason
	}
	if swept && derr == nil && rec.State == StateWaiting && d.State == StateWaiting && d.Reason == rec.Reason &&
		d.NeedLineItems == "" && !d.Retry && writesNothing(d) {
		return Activity{}, "", nil
	}
	if derr != nil {
		rec.State, rec.Reason = StateFailed, derr.Error()
	} else {
		keys, net, err := s.write(tx, d)
		if err != nil {
			return Activity{}, "", err
		}
		rec.State, rec.Reason, rec.User, rec.Amount, rec.Keys = d.State, d.Reason, d.User, net, keys
		rec.NextAttempt, rec.WaitsForAPI = time.Time{}, false
		if d.State == StateWaiting {
			rec.NextAttempt = now.Add(backoff(rec.Attempts))
			if d.NeedLineItems != "" {
				rec.NextAttempt = now
			}
		}
	}
	if err := tx.SetEvent(rec); err != nil {
		return Activity{}, "", err
	}
	if err := flagFailure(tx, rec); err != nil {
		return Activity{}, "", err
	}
	if derr == nil && d.State == StateWaiting && d.NeedLineItems != "" {
		return activityOf(rec), d.NeedLineItems, nil
	}
	return activityOf(rec), "", nil
}

// writesNothing reports whether write would store nothing of d.
func writesNothing(d Decision) bool {
	return len(d.Users)+len(d.Links)+len(d.Purchases)+len(d.Subs)+len(d.PaymentIntents)+len(d.Charges)+
		len(d.Products)+len(d.Prices)+len(d.DeletedProducts)+len(d.DeletedPrices)+len(d.ExpirePlans)+
		len(d.Postings)+len(d.Flags)+len(d.Unflags) == 0
}

func activityOf(rec EventRecord) Activity {
	return Activity{At: rec.ReceivedAt, Kind: ActivityEvent, Seq: rec.Seq, EventID: rec.ID, Type: rec.Type,
		User: rec.User, Amount: rec.Amount, State: rec.State, Reason: rec.Reason}
}

func (s *Service) markFailed(ev Event, now time.Time, cause error) Activity {
	rec := ev.EventRecord
	rec.State, rec.Reason = StateFailed, cause.Error()
	if err := s.store.Update(now, func(tx Tx) error {
		if err := tx.SetEvent(rec); err != nil {
			return err
		}
		return flagFailure(tx, rec)
	}); err != nil {
		s.log.Error("mark event failed", "event", ev.ID, "err", err)
	}
	return activityOf(rec)
}

// write stores a decision and returns the idempotency keys of the ledger
// entries it stands for and what the entries it wrote add up to (expiries
// included), which is what the Live tab shows.
func (s *Service) write(tx Tx, d Decision) (keys []string, net int64, err error) {
	for _, p := range d.Users {
		u, err := EnsureUser(tx, p.ID)
		if err != nil {
			return nil, 0, err
		}
		setIf(&u.Email, p.Email)
		setIf(&u.Name, p.Name)
		setIf(&u.Tier, p.Tier)
		setIf(&u.CustomerID, p.CustomerID)
		setIf(&u.SubscriptionID, p.SubscriptionID)
		if p.Unlinked != nil {
			u.Unlinked = *p.Unlinked
		}
		if err := tx.PutUser(u); err != nil {
			return nil, 0, err
		}
	}
	for _, l := range d.Links {
		if err := tx.LinkCustomer(l.Customer, l.User); err != nil {
			return nil, 0, err
		}
	}
	for _, p := range d.Purchases {
		if err := tx.PutPurchase(p); err != nil {
			return nil, 0, err
		}
	}
	for _, sub := range d.Subs {
		sub.UpdatedAt = tx.Now()
		if err := tx.PutSubscription(sub); err != nil {
			return nil, 0, err
		}
	}
	if err := writeCache(tx, d); err != nil {
		return nil, 0, err
	}
	for _, pe := range d.ExpirePlans {
		subOf := map[string]string{} // a grant from before grants named their subscription: its purchase's
		var ferr error
		match := func(g Grant) bool {
			if g.Kind != KindPlan {
				return false
			}
			if g.Subscription != "" {
				return g.Subscription == pe.Subscription
			}
			s, ok := subOf[g.PurchaseID]
			if !ok {
				p, _, err := tx.Purchase(g.PurchaseID)
				if err != nil {
					ferr = err
				}
				s = p.Subscription
				subOf[g.PurchaseID] = s
			}
			return s == pe.Subscription
		}
		reason := strings.Join(strings.Fields("plan "+pe.Plan+" cancelled: its credits expire"), " ")
		n, err := ExpireGrants(tx, pe.User, match, reason)
		if err == nil {
			err = ferr
		}
		if err != nil {
			return nil, 0, err
		}
		net -= n
	}
	for _, p := range d.Postings {
		e, fresh, err := Post(tx, p)
		var insufficient *ErrInsufficient
		if errors.As(err, &insufficient) {
			continue
		}
		if err != nil {
			return nil, 0, err
		}
		if e.ID != 0 {
			keys = append(keys, e.Key)
		}
		if fresh {
			net += e.Delta
		}
		// A grant whose period already ended expires at once.
		n, err := ExpireDue(tx, p.UserID)
		if err != nil {
			return nil, 0, err
		}
		net -= n
	}
	for _, f := range d.Flags {
		if prev, ok, _ := tx.Flag(f.Kind, f.ID); ok {
			f.At = prev.At
		} else {
			f.At = tx.Now()
		}
		if err := tx.PutFlag(f); err != nil {
			return nil, 0, err
		}
	}
	for _, f := range d.Unflags {
		if err := tx.DeleteFlag(f.Kind, f.ID); err != nil {
			return nil, 0, err
		}
	}
	return keys, net, nil
}

func setIf(dst *string, v string) {
	if v != "" {
		*dst = v
	}
}

// fetchLineItems reads and caches line items; it returns how many sessions
// can now be decided.
func (s *Service) fetchLineItems(ctx context.Context, reqs []fetchReq) (fetched int) {
	for _, r := range reqs {
		if s.fetcher == nil {
			continue
		}
		cctx, cancel := context.WithTimeout(ctx, 20*time.Second)
		items, err := s.fetcher.SessionLineItems(cctx, r.session)
		cancel()
		now := s.now()
		err2 := s.store.Update(now, func(tx Tx) error {
			if err == nil {
				fetched++
				return tx.PutLineItems(r.session, items)
			}
			var te *TransientError
			if !errors.As(err, &te) {
				// The API answered: there is nothing to read. Resolve from
				// what the event carries.
				s.log.Warn("line items", "session", r.session, "err", err)
				fetched++
				return tx.PutLineItems(r.session, LineItems{})
			}
			ev, ok, err := tx.Event(r.event)
			if err != nil || !ok {
				return err
			}
			rec := ev.EventRecord
			rec.State, rec.WaitsForAPI = StateWaiting, true
			rec.NextAttempt = now.Add(backoff(rec.Attempts))
			rec.Reason = fmt.Sprintf("Stripe API unreachable (%v); retry at %s", te.Err, rec.NextAttempt.Format(time.TimeOnly))
			return tx.SetEvent(rec)
		})
		if err2 != nil {
			s.log.Error("store line items", "err", err2)
		}
	}
	return fetched
}

// ExpireDue writes off every grant past its expiry, for all users.
func (s *Service) ExpireDue() {
	now := s.now()
	var ids []string
	if err := s.store.View(now, func(tx Tx) error {
		var err error
		ids, err = tx.UsersWithExpiry()
		return err
	}); err != nil {
		s.log.Error("expiry scan", "err", err)
		return
	}
	for _, id := range ids {
		var n int64
		err := s.store.Update(now, func(tx Tx) error {
			var err error
			n, err = ExpireDue(tx, id)
			return err
		})
		if err != nil {
			s.log.Error("expiry", "user", id, "err", err)
			continue
		}
		if n > 0 {
			s.hub.publish(Activity{At: now, Kind: ActivityExpiry, Type: "credits expired", User: id, Amount: -n, State: StateApplied})
		}
	}
}

// writeCache keeps what a decision says of payments and of the Stripe
// catalog.
func writeCache(tx Tx, d Decision) error {
	for _, r := range d.PaymentIntents {
		if err := tx.PutPaymentIntent(r.ID, r.Purchase); err != nil {
			return err
		}
	}
	for _, r := range d.Charges {
		if err := tx.PutCharge(r.ID, r.Purchase); err != nil {
			return err
		}
	}
	for _, p := range d.Products {
		if err := tx.PutProduct(p); err != nil {
			return err
		}
	}
	for _, p := range d.Prices {
		if err := tx.PutPrice(p); err != nil {
			return err
		}
	}
	for _, id := range d.DeletedProducts {
		if err := tx.DeleteProduct(id); err != nil {
			return err
		}
	}
	for _, id := range d.DeletedPrices {
		if err := tx.DeletePrice(id); err != nil {
			return err
		}
	}
	return nil
}
