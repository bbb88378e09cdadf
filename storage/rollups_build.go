package storage

import (
	"encoding/json"
	"fmt"
	"time"

	"creditdesk/billing"

	bolt "go.etcd.io/bbolt"
)

// parseDay reads a day written as billing.DayLayout.
func parseDay(s string) (time.Time, error) { return time.Parse(billing.DayLayout, s) }

// buildRollups is migration 8: it makes the rollup buckets and fills them
// from what an older database holds. Credits come from every ledger entry,
// on its date, exactly as they are kept from then on. Money comes from the
// purchases, gross on the day each was stored; the refunds and lost
// disputes that older purchases do not record in money are read from their
// applied events (on the day each arrived) and written onto the purchase.
// New subscriptions count on the day of their first paid invoice, churned
// ones on the day they ended.
func buildRollups(tx *bolt.Tx) error {
	for _, b := range rollupBuckets {
		if tx.Bucket(b) != nil {
			// Built from scratch, whatever an earlier run left.
			if err := tx.DeleteBucket(b); err != nil {
				return err
			}
		}
		if _, err := tx.CreateBucket(b); err != nil {
			return err
		}
	}
	err := tx.Bucket(ledgerBucket).ForEach(func(k, v []byte) error {
		var e billing.Entry
		if err := json.Unmarshal(v, &e); err != nil {
			return fmt.Errorf("ledger entry %s: %w", shortKey(k), err)
		}
		return addDay(tx, billing.EntryRollup(e))
	})
	if err != nil {
		return err
	}
	purchases := tx.Bucket(purchasesBucket)
	readPurchase := func(id string) (billing.Purchase, bool, error) {
		var p billing.Purchase
		ok, err := getJSON(purchases, []byte(id), &p)
		return p, ok, err
	}
	// Gross, on the day each purchase was stored.
	err = purchases.ForEach(func(k, v []byte) error {
		var p billing.Purchase
		if err := json.Unmarshal(v, &p); err != nil {
			return fmt.Errorf("purchase %s: %w", shortKey(k), err)
		}
		p.AmountRefunded, p.AmountDisputed = 0, 0
		if err := putJSON(purchases, k, p); err != nil {
			return err
		}
		return addDay(tx, billing.PurchaseRollup(billing.Purchase{}, p, p.CreatedAt))
	})
	if err != nil {
		return err
	}
	// Refunds and lost disputes, in arrival order, from their events.
	state := &Tx{tx: tx}
	events := tx.Bucket(eventsBucket)
	err = events.ForEach(func(k, v []byte) error {
		var rec billing.EventRecord
		if err := json.Unmarshal(v, &rec); err != nil {
			return fmt.Errorf("event seq %d: %w", btoi(k), err)
		}
		if rec.State != billing.StateApplied || (rec.Type != "charge.refunded" && rec.Type != "charge.dispute.closed") {
			return nil
		}
		// Compressed without a dictionary or, as earlier versions stored
		// it, raw: this runs before schema version 13 added dictionaries.
		body, err := decodePayload(tx.Bucket(payloadsBucket).Get(k))
		if err != nil {
			return fmt.Errorf("event seq %d: %w", btoi(k), err)
		}
		rev, ok, err := billing.ReversalOf(billing.Event{EventRecord: rec, Payload: body}, state)
		if err != nil || !ok {
			return err
		}
		prev, ok, err := readPurchase(rev.Purchase)
		if err != nil || !ok {
			return err
		}
		next := prev
		next.AmountRefunded = max(prev.AmountRefunded, rev.Refunded)
		next.AmountDisputed = max(prev.AmountDisputed, rev.Disputed)
		if next == prev {
			return nil
		}
		if err := putJSON(purchases, []byte(next.ID), next); err != nil {
			return err
		}
		return addDay(tx, billing.PurchaseRollup(prev, next, rec.ReceivedAt))
	})
	if err != nil {
		return err
	}
	// What each user paid; each subscription's monthly amount and start.
	seats := map[string]billing.Seat{}
	started := map[string]time.Time{}
	latest := map[string]uint64{}
	err = purchases.ForEach(func(k, v []byte) error {
		var p billing.Purchase
		if err := json.Unmarshal(v, &p); err != nil {
			return err
		}
		for _, c := range billing.PurchaseSpend(billing.Purchase{}, p) {
			if err := addSpend(tx, c); err != nil {
				return err
			}
		}
		if p.Kind == billing.PurchasePlan && p.Subscription != "" && billing.TakesMoney(p) {
			if at, ok := started[p.Subscription]; !ok || p.CreatedAt.Before(at) {
				started[p.Subscription] = p.CreatedAt
			}
			if prev, ok := latest[p.Subscription]; !ok || p.Seq > prev {
				latest[p.Subscription] = p.Seq
				seats[p.Subscription] = billing.SeatOfPurchase(seats[p.Subscription], p)
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	return tx.Bucket(subscriptionsBucket).ForEach(func(k, v []byte) error {
		var s billing.Subscription
		if err := json.Unmarshal(v, &s); err != nil {
			return fmt.Errorf("subscription %s: %w", shortKey(k), err)
		}
		seat := seats[s.ID]
		start, paid := started[s.ID]
		if !paid {
			start = s.UpdatedAt
		}
		if paid || billing.SubscriptionActive(s) {
			var d billing.DayRollup
			seat, d = billing.SeatOfSubscription(seat, billing.Subscription{Plan: s.Plan, Status: "active"}, start)
			if err := addDay(tx, d); err != nil {
				return err
			}
		}
		end := s.DeletedAt
		if end.IsZero() {
			end = s.UpdatedAt
		}
		seat, d := billing.SeatOfSubscription(seat, s, end)
		if err := addDay(tx, d); err != nil {
			return err
		}
		return putSeat(tx, s.ID, billing.Seat{}, seat)
	})
}
