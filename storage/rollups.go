package storage

import (
	"bytes"
	"encoding/json"
	"fmt"
	"sort"

	"creditdesk/billing"

	bolt "go.etcd.io/bbolt"
)

// Rollups, added in schema version 8: the per-day figures of the Overview
// and `creditdesk report`, kept in the transaction that stores a purchase,
// appends ledger entries or stores a subscription. What each change adds is
// billing's (billing.PurchaseRollup, EntryRollup, SeatOfSubscription,
// SeatOfPurchase, PurchaseSpend); this file persists it.
var (
	// rollupDaysBucket maps a UTC day, written as billing.DayLayout (so keys
	// sort by date), to that day's billing.DayRollup, as JSON.
	rollupDaysBucket = []byte("rollup_days")
	// seatsBucket maps a subscription id to the billing.Seat it counts for
	// in its plan's totals, as JSON.
	seatsBucket = []byte("plan_seats")
	// planTotalsBucket maps a plan name to its billing.PlanTotals (the sum
	// of its active seats), as JSON.
	planTotalsBucket = []byte("plan_totals")
	// userSpendBucket maps userSpendKey (user id, 0x00, currency) to what
	// the user paid in that currency net of refunds, as 8 big-endian bytes
	// of the signed amount.
	userSpendBucket = []byte("user_spend")
	// topSpendBucket holds topSpendKey of every non-zero user_spend value
	// (no value): currency, 0x00, amount, user id, so the users who paid
	// most in a currency are the last keys of its prefix.
	topSpendBucket = []byte("top_spend")
)

var rollupBuckets = [][]byte{rollupDaysBucket, seatsBucket, planTotalsBucket, userSpendBucket, topSpendBucket}

// userSpendKey is the user id, 0x00, then the currency.
func userSpendKey(user, currency string) []byte {
	return append(userPrefix(user), currency...)
}

// topSpendKey is the currency, 0x00, the amount as 8 big-endian bytes with
// the sign bit flipped (so negative amounts sort first), then the user id.
func topSpendKey(currency string, net int64, user string) []byte {
	k := append([]byte(currency), 0)
	k = append(k, itob(uint64(net)^(1<<63))...)
	return append(k, user...)
}

// addDay adds r to its day's record; a day that comes to nothing is removed.
func addDay(tx *bolt.Tx, r billing.DayRollup) error {
	if r.IsZero() {
		return nil
	}
	b := tx.Bucket(rollupDaysBucket)
	day := billing.DayRollup{Day: r.Day}
	if _, err := getJSON(b, []byte(r.Day), &day); err != nil {
		return fmt.Errorf("rollup %s: %w", r.Day, err)
	}
	day.Add(r)
	if day.IsZero() {
		return b.Delete([]byte(r.Day))
	}
	return putJSON(b, []byte(r.Day), day)
}

// addSpend moves one user's net spend in a currency and keeps the top index
// in step.
func addSpend(tx *bolt.Tx, c billing.SpendChange) error {
	if c.Net == 0 {
		return nil
	}
	spend, top := tx.Bucket(userSpendBucket), tx.Bucket(topSpendBucket)
	k := userSpendKey(c.User, c.Currency)
	var was int64
	if v := spend.Get(k); v != nil {
		was = int64(btoi(v))
		if err := top.Delete(topSpendKey(c.Currency, was, c.User)); err != nil {
			return err
		}
	}
	is := was + c.Net
	if is == 0 {
		return spend.Delete(k)
	}
	if err := spend.Put(k, itob(uint64(is))); err != nil {
		return err
	}
	return top.Put(topSpendKey(c.Currency, is, c.User), nil)
}

// putSeat stores a subscription's seat and moves its plan totals from what
// the old seat counted for to what the new one does.
func putSeat(tx *bolt.Tx, id string, prev, next billing.Seat) error {
	if prev == next {
		return nil
	}
	totals := tx.Bucket(planTotalsBucket)
	change := func(s billing.Seat, sign int64) error {
		if !s.Active {
			return nil
		}
		pt := billing.PlanTotals{Plan: s.Plan}
		if _, err := getJSON(totals, []byte(s.Plan), &pt); err != nil {
			return err
		}
		pt.Add(s, sign)
		if pt.IsZero() {
			return totals.Delete([]byte(s.Plan))
		}
		return putJSON(totals, []byte(s.Plan), pt)
	}
	if err := change(prev, -1); err != nil {
		return err
	}
	if err := change(next, 1); err != nil {
		return err
	}
	return putJSON(tx.Bucket(seatsBucket), []byte(id), next)
}

func getSeat(tx *bolt.Tx, id string) (billing.Seat, error) {
	var s billing.Seat
	_, err := getJSON(tx.Bucket(seatsBucket), []byte(id), &s)
	return s, err
}

// rollPurchase keeps the rollups in step with storing next over prev.
func (t *Tx) rollPurchase(prev, next billing.Purchase) error {
	if err := addDay(t.tx, billing.PurchaseRollup(prev, next, t.now)); err != nil {
		return err
	}
	for _, c := range billing.PurchaseSpend(prev, next) {
		if err := addSpend(t.tx, c); err != nil {
			return err
		}
	}
	if next.Kind != billing.PurchasePlan || next.Subscription == "" {
		return nil
	}
	was, err := getSeat(t.tx, next.Subscription)
	if err != nil {
		return err
	}
	return putSeat(t.tx, next.Subscription, was, billing.SeatOfPurchase(was, next))
}

// rollEntry adds one appended ledger entry to its day.
func (t *Tx) rollEntry(e billing.Entry) error { return addDay(t.tx, billing.EntryRollup(e)) }

// rollSubscription keeps the plan totals and the day's new and churned
// subscriptions in step with storing s.
func (t *Tx) rollSubscription(s billing.Subscription) error {
	was, err := getSeat(t.tx, s.ID)
	if err != nil {
		return err
	}
	is, day := billing.SeatOfSubscription(was, s, t.now)
	if err := addDay(t.tx, day); err != nil {
		return err
	}
	return putSeat(t.tx, s.ID, was, is)
}

// Insight reads the rollups of the days from through until, the plans'
// totals and the top users of each currency: about as many small records
// as days and plans, whatever the store holds.
func (s *Store) Insight(from, until string, top int) (billing.Insight, error) {
	in := billing.Insight{From: from, Until: until}
	err := s.view(func(tx *bolt.Tx) error {
		var err error
		in, err = readInsight(tx, from, until, top)
		return err
	})
	return in, err
}

func readInsight(tx *bolt.Tx, from, until string, top int) (billing.Insight, error) {
	in := billing.Insight{From: from, Until: until, Days: []billing.DayRollup{}, Plans: []billing.PlanTotals{}, TopUsers: []billing.UserSpend{}}
	days := tx.Bucket(rollupDaysBucket)
	if days == nil {
		return in, fmt.Errorf("this database keeps no rollups (schema older than 8)")
	}
	stored := map[string]billing.DayRollup{}
	c := days.Cursor()
	for k, v := c.Seek([]byte(from)); k != nil && string(k) <= until; k, v = c.Next() {
		var d billing.DayRollup
		if err := json.Unmarshal(v, &d); err != nil {
			return in, fmt.Errorf("rollup %s: %w", k, err)
		}
		stored[string(k)] = d
	}
	for _, day := range daysFromTo(from, until) {
		d, ok := stored[day]
		if !ok {
			d = billing.DayRollup{Day: day}
		}
		in.Days = append(in.Days, d)
	}
	in.Summarize()
	err := tx.Bucket(planTotalsBucket).ForEach(func(k, v []byte) error {
		var pt billing.PlanTotals
		if err := json.Unmarshal(v, &pt); err != nil {
			return fmt.Errorf("plan totals %s: %w", k, err)
		}
		in.Plans = append(in.Plans, pt)
		return nil
	})
	if err != nil {
		return in, err
	}
	// The top users of each currency: the last keys of its prefix.
	tc := tx.Bucket(topSpendBucket).Cursor()
	var currencies []string
	for k, _ := tc.First(); k != nil; {
		i := bytes.IndexByte(k, 0)
		if i < 0 {
			return in, fmt.Errorf("top spend key %q has no currency", shortKey(k))
		}
		currencies = append(currencies, string(k[:i]))
		k, _ = tc.Seek(append(append([]byte(nil), k[:i]...), 1)) // past this currency
	}
	for _, cur := range currencies {
		p := append([]byte(cur), 0)
		k, _ := tc.Seek(append([]byte(cur), 1))
		if k == nil {
			k, _ = tc.Last()
		} else {
			k, _ = tc.Prev()
		}
		for n := 0; n < top && k != nil && hasPrefix(k, p) && len(k) >= len(p)+8; n++ {
			net := int64(btoi(k[len(p):len(p)+8]) ^ (1 << 63))
			if net <= 0 {
				break
			}
			in.TopUsers = append(in.TopUsers, billing.UserSpend{User: string(k[len(p)+8:]), Currency: cur, Net: net})
			k, _ = tc.Prev()
		}
	}
	// By currency (amounts in different currencies do not compare), then
	// most paid first.
	sort.SliceStable(in.TopUsers, func(i, j int) bool {
		a, b := in.TopUsers[i], in.TopUsers[j]
		if a.Currency != b.Currency {
			return a.Currency < b.Currency
		}
		return a.Net > b.Net
	})
	return in, nil
}

// daysFromTo lists the days from through until (both DayLayout).
func daysFromTo(from, until string) []string {
	f, err1 := parseDay(from)
	u, err2 := parseDay(until)
	if err1 != nil || err2 != nil {
		return nil
	}
	return billing.DaysBetween(f, u)
}
