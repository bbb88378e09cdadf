package storage

import (
	"bytes"
	"encoding/json"
	"strings"

	"creditdesk/billing"

	bolt "go.etcd.io/bbolt"
)

// SetEvent stores the processing result of an event already in the inbox and
// keeps the pending index and failure count in step with its state.
func (t *Tx) SetEvent(rec billing.EventRecord) error {
	k := itob(rec.Seq)
	events := t.tx.Bucket(eventsBucket)
	prev, ok, err := getEvent(events, k)
	if err != nil {
		return err
	} else if !ok {
		return billing.ErrNotFound
	}
	if err := putEvent(events, rec); err != nil {
		return err
	}
	pending := t.tx.Bucket(pendingBucket)
	was, is := isPending(prev.State), isPending(rec.State)
	if is {
		if err := putPendingEntry(t.tx, k, rec); err != nil {
			return err
		}
	}
	switch {
	case is && !was:
		if err := addCount(t.tx, "pending", 1); err != nil {
			return err
		}
	case was && !is:
		if err := pending.Delete(k); err != nil {
			return err
		}
		if err := addCount(t.tx, "pending", -1); err != nil {
			return err
		}
	}
	for _, st := range []billing.EventState{billing.StateFailed, billing.StateWaiting} {
		var delta int64
		switch {
		case prev.State != st && rec.State == st:
			delta = 1
		case prev.State == st && rec.State != st:
			delta = -1
		default:
			continue
		}
		if err := addCount(t.tx, string(st), delta); err != nil {
			return err
		}
	}
	return nil
}

// ScanPurchases calls fn for every purchase until fn returns false.
func (t *Tx) ScanPurchases(fn func(billing.Purchase) bool) error {
	c := t.tx.Bucket(purchasesBucket).Cursor()
	for k, v := c.First(); k != nil; k, v = c.Next() {
		var p billing.Purchase
		if err := json.Unmarshal(v, &p); err != nil {
			return err
		}
		if !fn(p) {
			return nil
		}
	}
	return nil
}

// Event returns a stored event record by id.
func (t *Tx) Event(id string) (billing.Event, bool, error) {
	k := t.tx.Bucket(eventIDsBucket).Get([]byte(id))
	if k == nil {
		return billing.Event{}, false, nil
	}
	var ev billing.Event
	var err error
	ev.EventRecord, _, err = getEvent(t.tx.Bucket(eventsBucket), k)
	if err != nil {
		return billing.Event{}, false, err
	}
	v := t.tx.Bucket(payloadsBucket).Get(k)
	if t.codec != nil {
		ev.Payload, err = t.codec.decode(t.tx, v)
	} else {
		ev.Payload, err = decodePayload(v)
	}
	if err != nil {
		return billing.Event{}, false, err
	}
	return ev, true, nil
}

// Purchase returns a stored purchase.
func (t *Tx) Purchase(id string) (billing.Purchase, bool, error) {
	return get[billing.Purchase](t.tx.Bucket(purchasesBucket), []byte(id))
}

// PutPurchase stores p, giving a new purchase its place in the order.
func (t *Tx) PutPurchase(p billing.Purchase) error {
	b := t.tx.Bucket(purchasesBucket)
	var prev billing.Purchase
	if ok, err := getJSON(b, []byte(p.ID), &prev); err != nil {
		return err
	} else if ok {
		p.Seq, p.CreatedAt = prev.Seq, prev.CreatedAt
		if prev.UserID != p.UserID {
			if err := t.tx.Bucket(userPurchasesBucket).Delete(userKey(prev.UserID, prev.Seq)); err != nil {
				return err
			}
		}
	} else {
		order := t.tx.Bucket(purchaseOrderBucket)
		seq, err := order.NextSequence()
		if err != nil {
			return err
		}
		p.Seq = seq
		if p.CreatedAt.IsZero() {
			p.CreatedAt = t.now
		}
		if err := order.Put(itob(seq), []byte(p.ID)); err != nil {
			return err
		}
		if err := addCount(t.tx, "purchases", 1); err != nil {
			return err
		}
	}
	p.UpdatedAt = t.now
	if err := t.tx.Bucket(userPurchasesBucket).Put(userKey(p.UserID, p.Seq), []byte(p.ID)); err != nil {
		return err
	}
	if err := t.rollPurchase(prev, p); err != nil {
		return err
	}
	return putJSON(b, []byte(p.ID), p)
}

// UserPurchases returns up to limit of the user's purchases, newest first,
// from the per-user index.
func (t *Tx) UserPurchases(userID string, limit int) ([]billing.Purchase, error) {
	var out []billing.Purchase
	c := t.tx.Bucket(userPurchasesBucket).Cursor()
	p := userPrefix(userID)
	k, v := lastBelow(c, userKey(userID, ^uint64(0)))
	pb := t.tx.Bucket(purchasesBucket)
	for ; k != nil && hasPrefix(k, p) && len(out) < limit; k, v = c.Prev() {
		var pu billing.Purchase
		if ok, err := getJSON(pb, v, &pu); err != nil {
			return nil, err
		} else if ok {
			out = append(out, pu)
		}
	}
	return out, nil
}

// UsersPage returns up to limit users in id order after the id after,
// keeping those whose id, email, name or customer contains filter
// (case-insensitive). With no filter it reads only the page.
func (s *Store) UsersPage(after, filter string, limit int) ([]billing.User, error) {
	var out []billing.User
	filter = strings.ToLower(filter)
	err := s.view(func(tx *bolt.Tx) error {
		c := tx.Bucket(usersBucket).Cursor()
		var k, v []byte
		if after == "" {
			k, v = c.First()
		} else {
			k, v = c.Seek([]byte(after))
			if k != nil && string(k) == after {
				k, v = c.Next()
			}
		}
		for ; k != nil && len(out) < limit; k, v = c.Next() {
			if filter != "" && !bytes.Contains(bytes.ToLower(v), []byte(filter)) {
				continue
			}
			u, err := decodeUser(v)
			if err != nil {
				return err
			}
			if filter != "" && !userMatches(u, filter) {
				continue
			}
			out = append(out, u)
		}
		return nil
	})
	return out, err
}

func userMatches(u billing.User, f string) bool {
	for _, s := range []string{u.ID, u.Email, u.Name, u.CustomerID, u.Tier} {
		if strings.Contains(strings.ToLower(s), f) {
			return true
		}
	}
	return false
}

// PurchasesPage returns up to limit purchases newest first, below sequence
// before (0: from the newest).
func (s *Store) PurchasesPage(before uint64, limit int) ([]billing.Purchase, error) {
	var out []billing.Purchase
	err := s.view(func(tx *bolt.Tx) error {
		c := tx.Bucket(purchaseOrderBucket).Cursor()
		k, v := lastBelow(c, seqBelow(before))
		pb := tx.Bucket(purchasesBucket)
		for ; k != nil && len(out) < limit; k, v = c.Prev() {
			var p billing.Purchase
			if ok, err := getJSON(pb, v, &p); err != nil {
				return err
			} else if ok {
				out = append(out, p)
			}
		}
		return nil
	})
	return out, err
}

// isPending reports whether an event in state st is still to be applied.
func isPending(st billing.EventState) bool {
	return st == billing.StateReceived || st == billing.StateWaiting
}
