package billing

import (
	"context"
	"fmt"
	"math"
	"sort"
	"strings"
	"time"
)

// FlagKind says what an attention item is about.
type FlagKind string

// Attention kinds, each with the operator action that fixes it.
const (
	AttnWaiting    FlagKind = "waiting"    // retry now
	AttnFailed     FlagKind = "failed"     // retry now
	AttnGaveUp     FlagKind = "gave_up"    // retry now
	AttnUnresolved FlagKind = "unresolved" // assign a type
	AttnUnlinked   FlagKind = "unlinked"   // link to a user
	AttnPastDue    FlagKind = "past_due"   // (in Stripe)
	AttnDisputed   FlagKind = "disputed"   // (in Stripe)
)

// AttentionItem is one thing the operator should look at.
type AttentionItem struct {
	Kind   FlagKind  `json:"kind"`
	ID     string    `json:"id"` // event, purchase, customer, subscription or dispute id
	User   string    `json:"user"`
	Detail string    `json:"detail"`
	At     time.Time `json:"at"`
	// Action names the fix the console offers: "retry", "assign", "link",
	// or "" when the fix is in the Stripe Dashboard.
	Action string `json:"action"`
}

func actionFor(kind FlagKind) string {
	switch kind {
	case AttnWaiting, AttnFailed, AttnGaveUp:
		return "retry"
	case AttnUnresolved:
		return "assign"
	case AttnUnlinked:
		return "link"
	}
	return ""
}

// flagFailure keeps the "failed" attention flag in step with an event's
// state: raised when it fails, cleared when it is applied.
func flagFailure(tx Tx, rec EventRecord) error {
	switch rec.State {
	case StateFailed:
		return tx.PutFlag(Flag{Kind: AttnFailed, ID: rec.ID, User: rec.User,
			Detail: rec.Type + ": " + rec.Reason, At: tx.Now()})
	case StateApplied:
		if err := tx.DeleteFlag(AttnFailed, rec.ID); err != nil {
			return err
		}
		return tx.DeleteFlag(AttnGaveUp, rec.ID)
	}
	return nil
}

// Attention lists waiting events and every open flag, oldest first.
func (s *Service) Attention() ([]AttentionItem, error) {
	var items []AttentionItem
	waiting, err := s.store.Pending(0, 200, func(r EventRecord) bool { return r.State == StateWaiting })
	if err != nil {
		return nil, err
	}
	for _, ev := range waiting {
		items = append(items, AttentionItem{Kind: AttnWaiting, ID: ev.ID, User: ev.User, At: ev.ReceivedAt,
			Detail: ev.Type + ": " + ev.Reason, Action: "retry"})
	}
	flags, err := s.Flags()
	if err != nil {
		return nil, err
	}
	for _, f := range flags {
		items = append(items, AttentionItem{Kind: f.Kind, ID: f.ID, User: f.User, Detail: f.Detail, At: f.At, Action: actionFor(f.Kind)})
	}
	sort.SliceStable(items, func(i, j int) bool { return items[i].At.Before(items[j].At) })
	// What is wrong with the process comes first.
	return append(s.problemItems(), items...), nil
}

// Retry puts a waiting, failed or set-aside event back in the queue now.
func (s *Service) Retry(ctx context.Context, eventID string) error {
	err := s.store.Update(s.now(), func(tx Tx) error {
		ev, ok, err := tx.Event(eventID)
		if err := found(ok, err, "event", eventID); err != nil {
			return err
		}
		if ev.State == StateApplied {
			return fmt.Errorf("%w: event %s is already applied", ErrInvalid, eventID)
		}
		return requeue(tx, ev.EventRecord)
	})
	if err == nil {
		s.announceBy(ctx, "retry", eventID, Queued)
		s.Wake()
	}
	return err
}

// requeue puts an event back in the processor's queue, due now.
func requeue(tx Tx, rec EventRecord) error {
	rec.State, rec.NextAttempt, rec.WaitsForAPI = StateReceived, time.Time{}, false
	return tx.SetEvent(rec)
}

// AssignType gives an unresolved purchase its purchase type; its event is
// applied again with that type, once.
func (s *Service) AssignType(ctx context.Context, purchaseID, typ string) error {
	name, ok := s.rules.Catalog.Resolve(typ)
	switch {
	case !ok && len(s.rules.Catalog.Names()) == 0:
		return fmt.Errorf("%w: the catalog is empty: add plans and packs to creditdesk.toml and restart", ErrInvalid)
	case !ok:
		return fmt.Errorf("%w: %q is no plan or pack in the catalog (have: %s)", ErrInvalid, typ, strings.Join(s.rules.Catalog.Names(), ", "))
	}
	err := s.store.Update(s.now(), func(tx Tx) error {
		p, ok, err := tx.Purchase(purchaseID)
		if err := found(ok, err, "purchase", purchaseID); err != nil {
			return err
		}
		if p.Status != "unresolved" {
			return fmt.Errorf("%w: purchase %s is %s, not unresolved", ErrInvalid, purchaseID, p.Status)
		}
		if err := tx.PutAssignment(purchaseID, name); err != nil {
			return err
		}
		ev, ok, err := tx.Event(p.EventID)
		if err != nil || !ok {
			return fmt.Errorf("event %s of purchase %s: %w", p.EventID, purchaseID, ErrNotFound)
		}
		return requeue(tx, ev.EventRecord)
	})
	if err == nil {
		s.announceBy(ctx, "assign type", purchaseID+" → "+name, Queued)
		s.Wake()
	}
	return err
}

// LinkUser ties an unlinked record (kept under a Stripe customer id because
// no user id was known) to a user: the customer is linked, its credits move
// with their expiry, and its purchases and subscriptions follow. Waiting
// events are retried, since the link may be what they waited for.
func (s *Service) LinkUser(ctx context.Context, from, to string) error {
	from, to = strings.TrimSpace(from), strings.TrimSpace(to)
	if to == "" || from == to {
		return fmt.Errorf("%w: link %q to which user?", ErrInvalid, from)
	}
	now := s.now()
	who := OperatorOf(ctx)
	var moved int64
	err := s.store.Update(now, func(tx Tx) error {
		src, ok, err := tx.User(from)
		if err != nil {
			return err
		}
		if !ok || !src.Unlinked {
			return fmt.Errorf("%w: %s is not an unlinked purchase record", ErrInvalid, from)
		}
		if strings.HasPrefix(from, "cus_") {
			if err := tx.LinkCustomer(from, to); err != nil {
				return err
			}
		}
		if _, err := ExpireDue(tx, from); err != nil {
			return err
		}
		gs, err := tx.Grants(from)
		if err != nil {
			return err
		}
		for _, g := range gs {
			if _, _, err := Post(tx, Posting{UserID: to, Delta: g.Remaining, Key: fmt.Sprintf("link:%s:%d", from, g.EntryID),
				Reason: "moved from unlinked " + from, Source: "manual", Kind: g.Kind, ExpiresAt: g.ExpiresAt,
				PurchaseID: g.PurchaseID, At: now, Operator: who}); err != nil {
				return err
			}
			moved += g.Remaining
		}
		if moved > 0 {
			if _, _, err := Post(tx, Posting{UserID: from, Delta: -moved, Key: "link:out:" + from + ":" + to,
				Reason: "moved to " + to, Source: "manual", Kind: KindLink, At: now, Operator: who}); err != nil {
				return err
			}
		}
		dst, err := EnsureUser(tx, to)
		if err != nil {
			return err
		}
		setIf(&dst.Email, src.Email)
		setIf(&dst.Name, src.Name)
		if dst.CustomerID == "" {
			dst.CustomerID = src.CustomerID
		}
		if src.Tier != "" && src.Tier != "free" {
			dst.Tier, dst.SubscriptionID = src.Tier, src.SubscriptionID
		}
		if err := tx.PutUser(dst); err != nil {
			return err
		}
		if src, _, err = tx.User(from); err != nil { // re-read: the move changed its balance
			return err
		}
		src.Unlinked, src.Tier, src.SubscriptionID = false, "free", ""
		if err := tx.PutUser(src); err != nil {
			return err
		}
		ps, err := tx.UserPurchases(from, math.MaxInt)
		if err != nil {
			return err
		}
		for _, p := range ps {
			p.UserID = to
			if err := tx.PutPurchase(p); err != nil {
				return err
			}
		}
		subs, err := tx.UserSubscriptions(from)
		if err != nil {
			return err
		}
		for _, sub := range subs {
			sub.UserID = to
			if err := tx.PutSubscription(sub); err != nil {
				return err
			}
		}
		return tx.DeleteFlag(AttnUnlinked, from)
	})
	if err != nil {
		return err
	}
	s.hub.publish(Activity{At: now, Kind: ActivityManual, Type: "linked " + from, User: to, Amount: moved,
		State: StateApplied, Reason: "unlinked purchases moved to " + to, Operator: who})
	s.retryAll.Store(true)
	s.Wake()
	return nil
}
