package storage

import (
	"encoding/json"

	"creditdesk/billing"
)

// Subscriptions, added in schema version 6 (before, kv "sub:ID").
var (
	// subscriptionsBucket maps a Stripe subscription id to its
	// billing.Subscription, as JSON.
	subscriptionsBucket = []byte("subscriptions")
	// userSubscriptionsBucket holds userSubscriptionKey of every
	// subscription (no value), so one user's are read without a scan.
	userSubscriptionsBucket = []byte("user_subscriptions")
)

// userSubscriptionKey is the user id, 0x00, then the subscription id, so
// one user's subscriptions are contiguous.
func userSubscriptionKey(userID, subID string) []byte {
	return append(userPrefix(userID), subID...)
}

// Subscription returns a stored subscription.
func (t *Tx) Subscription(id string) (billing.Subscription, bool, error) {
	return get[billing.Subscription](t.tx.Bucket(subscriptionsBucket), []byte(id))
}

// PutSubscription stores s and keeps the per-user index in step.
func (t *Tx) PutSubscription(s billing.Subscription) error {
	prev, ok, err := t.Subscription(s.ID)
	if err != nil {
		return err
	}
	idx := t.tx.Bucket(userSubscriptionsBucket)
	if ok && prev.UserID != s.UserID {
		if err := idx.Delete(userSubscriptionKey(prev.UserID, s.ID)); err != nil {
			return err
		}
	}
	if err := idx.Put(userSubscriptionKey(s.UserID, s.ID), nil); err != nil {
		return err
	}
	if err := t.rollSubscription(s); err != nil {
		return err
	}
	return putJSON(t.tx.Bucket(subscriptionsBucket), []byte(s.ID), s)
}

// UserSubscriptions returns the user's subscriptions, from the index.
func (t *Tx) UserSubscriptions(userID string) ([]billing.Subscription, error) {
	var out []billing.Subscription
	p := userPrefix(userID)
	subs := t.tx.Bucket(subscriptionsBucket)
	c := t.tx.Bucket(userSubscriptionsBucket).Cursor()
	for k, _ := c.Seek(p); k != nil && hasPrefix(k, p); k, _ = c.Next() {
		raw := subs.Get(k[len(p):])
		if raw == nil {
			continue
		}
		var s billing.Subscription
		if err := json.Unmarshal(raw, &s); err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, nil
}
