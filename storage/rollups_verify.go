package storage

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"

	"creditdesk/billing"

	bolt "go.etcd.io/bbolt"
)

// verifyRollups checks the rollups against the records they count:
//   - each day's credits equal what that day's ledger entries moved;
//   - each currency's gross, refunded and disputed, summed over the days,
//     equal what the purchases record;
//   - each user's net spend equals their purchases', and the top index
//     holds exactly those amounts;
//   - each subscription's seat is active exactly when the subscription is
//     in force, and each plan's totals are the sum of its seats.
//
// Which day a payment counted on, and new or churned subscriptions, are
// history the records do not keep, so they are not checked.
func verifyRollups(tx *bolt.Tx) error {
	for _, b := range rollupBuckets {
		if tx.Bucket(b) == nil {
			return fmt.Errorf("bucket %s is missing: schema version 8 builds it", b)
		}
	}
	credits := map[string]billing.CreditFlow{}
	err := tx.Bucket(ledgerBucket).ForEach(func(k, v []byte) error {
		e, err := decodeEntry(v)
		if err != nil {
			return fmt.Errorf("ledger entry %s: %w", shortKey(k), err)
		}
		d := billing.EntryRollup(e)
		if !d.Credits.IsZero() {
			var sum billing.DayRollup
			sum.Credits = credits[d.Day]
			sum.Add(d)
			credits[d.Day] = sum.Credits
		}
		return nil
	})
	if err != nil {
		return err
	}
	var stored billing.DayRollup
	err = tx.Bucket(rollupDaysBucket).ForEach(func(k, v []byte) error {
		var d billing.DayRollup
		if err := json.Unmarshal(v, &d); err != nil {
			return fmt.Errorf("rollup %s: %w", shortKey(k), err)
		}
		if d.Day != string(k) {
			return fmt.Errorf("rollup %s says it is day %s", k, d.Day)
		}
		if want := credits[d.Day]; d.Credits != want {
			return fmt.Errorf("rollup %s: credits %+v, the ledger's entries of that day move %+v", d.Day, d.Credits, want)
		}
		delete(credits, d.Day)
		stored.Add(d)
		return nil
	})
	if err != nil {
		return err
	}
	for _, day := range slices.Sorted(maps.Keys(credits)) {
		return fmt.Errorf("rollup %s is missing: the ledger's entries of that day move %+v", day, credits[day])
	}
	var want billing.DayRollup
	spend := map[string]int64{}
	err = tx.Bucket(purchasesBucket).ForEach(func(k, v []byte) error {
		var p billing.Purchase
		if err := json.Unmarshal(v, &p); err != nil {
			return fmt.Errorf("purchase %s: %w", shortKey(k), err)
		}
		want.Add(billing.PurchaseRollup(billing.Purchase{}, p, p.CreatedAt))
		for _, c := range billing.PurchaseSpend(billing.Purchase{}, p) {
			spend[string(userSpendKey(c.User, c.Currency))] += c.Net
		}
		return nil
	})
	if err != nil {
		return err
	}
	for _, cur := range union(want.Currencies(), stored.Currencies()) {
		if got, w := stored.Revenue[cur], want.Revenue[cur]; got != w {
			return fmt.Errorf("rollups: %s gross/refunded/disputed %d/%d/%d over all days, the purchases record %d/%d/%d",
				cur, got.Gross, got.Refunded, got.Disputed, w.Gross, w.Refunded, w.Disputed)
		}
	}
	top := tx.Bucket(topSpendBucket)
	err = tx.Bucket(userSpendBucket).ForEach(func(k, v []byte) error {
		net := int64(btoi(v))
		if w := spend[string(k)]; w != net {
			return fmt.Errorf("user spend %s: %d, the purchases say %d", shortKey(k), net, w)
		}
		delete(spend, string(k))
		user, cur := splitUserSpendKey(k)
		if top.Get(topSpendKey(cur, net, user)) == nil {
			return fmt.Errorf("user spend %s: %d is not in the top index", shortKey(k), net)
		}
		return nil
	})
	if err != nil {
		return err
	}
	for _, k := range slices.Sorted(maps.Keys(spend)) {
		if spend[k] != 0 {
			return fmt.Errorf("user spend %s is missing: the purchases say %d", shortKey([]byte(k)), spend[k])
		}
	}
	if n, m := top.Stats().KeyN, tx.Bucket(userSpendBucket).Stats().KeyN; n != m {
		return fmt.Errorf("top index holds %d amounts, %d users' spend is stored", n, m)
	}
	seats := tx.Bucket(seatsBucket)
	plans := map[string]*billing.PlanTotals{}
	err = seats.ForEach(func(k, v []byte) error {
		var s billing.Seat
		if err := json.Unmarshal(v, &s); err != nil {
			return fmt.Errorf("seat %s: %w", shortKey(k), err)
		}
		var sub billing.Subscription
		ok, err := getJSON(tx.Bucket(subscriptionsBucket), k, &sub)
		if err != nil {
			return err
		}
		if active := ok && billing.SubscriptionActive(sub) && s.Plan != ""; s.Active != active {
			return fmt.Errorf("subscription %s: counted as active %v in plan %s, its state says %v", k, s.Active, s.Plan, active)
		}
		if plans[s.Plan] == nil {
			plans[s.Plan] = &billing.PlanTotals{Plan: s.Plan}
		}
		plans[s.Plan].Add(s, 1)
		return nil
	})
	if err != nil {
		return err
	}
	err = tx.Bucket(planTotalsBucket).ForEach(func(k, v []byte) error {
		var pt billing.PlanTotals
		if err := json.Unmarshal(v, &pt); err != nil {
			return fmt.Errorf("plan totals %s: %w", shortKey(k), err)
		}
		w := plans[string(k)]
		if w == nil {
			w = &billing.PlanTotals{Plan: string(k)}
		}
		if pt.Active != w.Active || !maps.Equal(pt.MRR, w.MRR) {
			return fmt.Errorf("plan %s: %d active, MRR %v; its subscriptions add up to %d, %v", k, pt.Active, pt.MRR, w.Active, w.MRR)
		}
		delete(plans, string(k))
		return nil
	})
	if err != nil {
		return err
	}
	for _, name := range slices.Sorted(maps.Keys(plans)) {
		if !plans[name].IsZero() {
			return fmt.Errorf("plan %s has no totals: its subscriptions add up to %d active", name, plans[name].Active)
		}
	}
	return nil
}

func splitUserSpendKey(k []byte) (user, currency string) {
	for i := len(k) - 1; i >= 0; i-- {
		if k[i] == 0 {
			return string(k[:i]), string(k[i+1:])
		}
	}
	return string(k), ""
}

func union(a, b []string) []string {
	out := slices.Concat(a, b)
	slices.Sort(out)
	return slices.Compact(out)
}
