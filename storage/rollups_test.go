package storage

import (
	"context"
	"encoding/json"
	"path/filepath"
	"testing"
	"time"

	"creditdesk/billing"

	bolt "go.etcd.io/bbolt"
)

type obj = map[string]any

// knownEvents runs a small month through the rules on a fresh store: a USD
// pack, a JPY pack, a partial refund of the USD one, a plan (its checkout
// and its first invoice), a spend, the JPY charge lost in a dispute, and
// the plan cancelled. The figures are counted by hand in the test.
type knownEvents struct {
	t    *testing.T
	st   *Store
	svc  *billing.Service
	now  time.Time
	path string
}

var day1 = time.Date(2026, 11, 3, 9, 0, 0, 0, time.UTC)

func newKnownEvents(t *testing.T) *knownEvents {
	k := &knownEvents{t: t, now: day1, path: filepath.Join(t.TempDir(), "k.db")}
	k.open()
	return k
}

func (k *knownEvents) open() {
	st, err := Open(k.path, Options{})
	if err != nil {
		k.t.Fatal(err)
	}
	k.st = st
	k.t.Cleanup(func() { st.Close() })
	cat := billing.Catalog{
		Plans: map[string]*billing.Plan{"pro": {Name: "pro", MonthlyCredits: 2500, Sale: billing.Sale{PriceIDs: []string{"price_pro"}}}},
		Packs: map[string]*billing.Pack{"topup": {Name: "topup", Credits: 1000, Sale: billing.Sale{PriceIDs: []string{"price_topup"}}}},
	}
	k.svc = billing.NewService(st, billing.Options{Rules: billing.Rules{Catalog: cat}, Clock: func() time.Time { return k.now }})
}

func (k *knownEvents) send(id, typ string, o obj) {
	k.t.Helper()
	body, _ := json.Marshal(obj{"id": id, "object": "event", "type": typ, "created": k.now.Unix(),
		"api_version": "2023-10-16", "data": obj{"object": o}})
	if _, _, err := k.svc.Ingest(body, "test"); err != nil {
		k.t.Fatal(err)
	}
	if _, err := k.svc.ProcessPending(context.Background()); err != nil {
		k.t.Fatal(err)
	}
	if rec, _ := k.st.EventByID(id); rec.State != billing.StateApplied {
		k.t.Fatalf("%s %s: %s (%s)", id, typ, rec.State, rec.Reason)
	}
}

func pack(id, user string, amount int64, currency string) obj {
	return obj{"id": id, "object": "checkout.session", "mode": "payment", "payment_status": "paid", "status": "complete",
		"customer": "cus_" + user, "amount_total": amount, "currency": currency, "payment_intent": "pi_" + id,
		"metadata": obj{"user_id": user, "type": "credits-topup"}}
}

func (k *knownEvents) month() {
	k.send("evt_a", "checkout.session.completed", pack("cs_a", "u1", 2000, "usd"))
	k.send("evt_j", "checkout.session.completed", pack("cs_j", "u2", 1500, "jpy"))
	k.now = day1.Add(24 * time.Hour) // day 2
	k.send("evt_r", "charge.refunded", obj{"id": "ch_a", "object": "charge", "payment_intent": "pi_cs_a",
		"amount": 2000, "amount_refunded": 500, "refunded": false, "currency": "usd"})
	end := k.now.Add(30 * 24 * time.Hour)
	k.send("evt_co", "checkout.session.completed", obj{"id": "cs_plan", "object": "checkout.session", "mode": "subscription",
		"payment_status": "paid", "status": "complete", "customer": "cus_u3", "amount_total": 4900, "currency": "usd",
		"subscription": "sub_1", "metadata": obj{"user_id": "u3", "type": "plan-pro"}})
	k.send("evt_sc", "customer.subscription.created", obj{"id": "sub_1", "object": "subscription", "customer": "cus_u3",
		"status": "active", "current_period_end": end.Unix(), "metadata": obj{"user_id": "u3"},
		"items": obj{"data": []any{obj{"price": obj{"id": "price_pro"}}}}})
	k.send("evt_i1", "invoice.paid", obj{"id": "in_1", "object": "invoice", "subscription": "sub_1", "customer": "cus_u3",
		"billing_reason": "subscription_create", "paid": true, "status": "paid", "amount_paid": 4900, "currency": "usd",
		"payment_intent": "pi_in_1", "subscription_details": obj{"metadata": obj{"user_id": "u3"}},
		"lines": obj{"data": []any{obj{"type": "subscription", "subscription": "sub_1", "price": obj{"id": "price_pro"},
			"period": obj{"start": k.now.Unix(), "end": end.Unix()}}}}})
	k.now = day1.Add(48 * time.Hour) // day 3
	key, err := k.svc.CreateAPIKey(context.Background(), "app")
	if err != nil || key == "" {
		k.t.Fatal(err)
	}
	if _, err := k.svc.Spend(context.Background(), "app", "u3", 300, "report", "sp1"); err != nil {
		k.t.Fatal(err)
	}
	k.send("evt_d", "charge.dispute.closed", obj{"id": "dp_j", "object": "dispute", "charge": "ch_j", "payment_intent": "pi_cs_j",
		"amount": 1500, "currency": "jpy", "status": "lost"})
	k.now = day1.Add(72 * time.Hour) // day 4
	k.send("evt_del", "customer.subscription.deleted", obj{"id": "sub_1", "object": "subscription", "customer": "cus_u3",
		"status": "canceled", "ended_at": k.now.Unix(), "metadata": obj{"user_id": "u3"},
		"items": obj{"data": []any{obj{"price": obj{"id": "price_pro"}}}}})
}

// The rollups of known events are the hand-counted figures: the JPY pack
// in whole yen, the partial refund as 500 of 2,000 cents, the plan's
// checkout not counted beside its invoice.
func TestRollupsOfKnownEventsAreTheHandCountedFigures(t *testing.T) {
	k := newKnownEvents(t)
	k.month()
	mustVerify(t, k.st)
	in, err := k.svc.Insight(day1, day1.Add(72*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	checkKnownMonth(t, in, true)
}

func checkKnownMonth(t *testing.T, in billing.Insight, history bool) {
	t.Helper()
	if len(in.Days) != 4 || in.Days[0].Day != "2026-11-03" || in.Days[3].Day != "2026-11-06" {
		t.Fatalf("days: %+v", in.Days)
	}
	usd, jpy := in.Total.Revenue["usd"], in.Total.Revenue["jpy"]
	if usd != (billing.Money{Gross: 6900, Refunded: 500}) || usd.Net() != 6400 {
		t.Errorf("usd: %+v (want gross 2000+4900, refunded 500)", usd)
	}
	if jpy != (billing.Money{Gross: 1500, Disputed: 1500}) || jpy.Net() != 0 {
		t.Errorf("jpy: %+v (want gross 1500, disputed 1500)", jpy)
	}
	want := billing.CreditFlow{Granted: 1000 + 1000 + 2500, Spent: 300, Expired: 2500 - 300, ClawedBack: 250 + 1000}
	if in.Total.Credits != want {
		t.Errorf("credits: %+v, want %+v", in.Total.Credits, want)
	}
	byDay := []billing.CreditFlow{{Granted: 2000}, {Granted: 2500, ClawedBack: 250}, {Spent: 300, ClawedBack: 1000}, {Expired: 2200}}
	for i, w := range byDay {
		if in.Days[i].Credits != w {
			t.Errorf("day %d credits: %+v, want %+v", i+1, in.Days[i].Credits, w)
		}
	}
	if history {
		if got := in.Days[0].Revenue["usd"]; got != (billing.Money{Gross: 2000}) {
			t.Errorf("day 1 usd: %+v", got)
		}
		if got := in.Days[1].Revenue["usd"]; got != (billing.Money{Gross: 4900, Refunded: 500}) {
			t.Errorf("day 2 usd: %+v", got)
		}
		if got := in.Days[2].Revenue["jpy"]; got != (billing.Money{Disputed: 1500}) {
			t.Errorf("day 3 jpy: %+v", got)
		}
	}
	if in.Total.Plans["pro"] != (billing.PlanFlow{New: 1, Churned: 1}) {
		t.Errorf("pro: %+v", in.Total.Plans["pro"])
	}
	if len(in.Plans) != 0 {
		t.Errorf("plans in force after the cancellation: %+v", in.Plans)
	}
	wantTop := []billing.UserSpend{{User: "u3", Currency: "usd", Net: 4900}, {User: "u1", Currency: "usd", Net: 1500}}
	if len(in.TopUsers) != 2 || in.TopUsers[0] != wantTop[0] || in.TopUsers[1] != wantTop[1] {
		t.Errorf("top users: %+v, want %+v (u2's yen came back in the dispute)", in.TopUsers, wantTop)
	}
}

// While the plan is in force it counts: one active, its invoice as MRR.
func TestPlanTotalsCountTheSubscriptionInForce(t *testing.T) {
	k2 := newKnownEvents(t)
	k2.send("evt_co", "checkout.session.completed", obj{"id": "cs_plan", "object": "checkout.session", "mode": "subscription",
		"payment_status": "paid", "status": "complete", "customer": "cus_u3", "amount_total": 4900, "currency": "usd",
		"subscription": "sub_1", "metadata": obj{"user_id": "u3", "type": "plan-pro"}})
	k2.send("evt_i1", "invoice.paid", obj{"id": "in_1", "object": "invoice", "subscription": "sub_1", "customer": "cus_u3",
		"billing_reason": "subscription_create", "paid": true, "status": "paid", "amount_paid": 4900, "currency": "usd",
		"subscription_details": obj{"metadata": obj{"user_id": "u3"}},
		"lines": obj{"data": []any{obj{"type": "subscription", "subscription": "sub_1", "price": obj{"id": "price_pro"},
			"period": obj{"start": day1.Unix(), "end": day1.Add(30 * 24 * time.Hour).Unix()}}}}})
	in, err := k2.svc.RecentInsight(30)
	if err != nil {
		t.Fatal(err)
	}
	if len(in.Plans) != 1 || in.Plans[0].Plan != "pro" || in.Plans[0].Active != 1 || in.Plans[0].MRR["usd"] != 4900 {
		t.Fatalf("plans: %+v", in.Plans)
	}
	if got := in.Total.Revenue["usd"].Gross; got != 4900 {
		t.Errorf("usd gross %d: the plan's checkout and its invoice are one payment", got)
	}
	mustVerify(t, k2.st)
}

// previousLayout turns the database at path into what schema version 6
// (or 7) wrote: no rollup buckets, purchases without refunded or disputed
// money.
func previousLayout(t *testing.T, path string) {
	t.Helper()
	rewriteFile(t, path, func(tx *bolt.Tx) error {
		if err := asVersion(tx, 6, rollupBuckets...); err != nil {
			return err
		}
		b := tx.Bucket(purchasesBucket)
		err := b.ForEach(func(k, v []byte) error {
			var raw map[string]any
			if err := json.Unmarshal(v, &raw); err != nil {
				return err
			}
			delete(raw, "amount_refunded")
			delete(raw, "amount_disputed")
			out, _ := json.Marshal(raw)
			return b.Put(k, out)
		})
		if err != nil {
			return err
		}
		return recordsAsJSON(tx)
	})
}

// A database of the previous layout opens: migration 8 builds the rollups
// from the ledger, the purchases and the refund and dispute events, and
// the figures are the ones kept live; verify passes.
func TestMigrationBuildsRollupsOfAnOlderDatabase(t *testing.T) {
	k := newKnownEvents(t)
	k.month()
	live, err := k.svc.Insight(day1, day1.Add(72*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	k.st.Close()
	previousLayout(t, k.path)
	k.open()
	mustVerify(t, k.st)
	in, err := k.svc.Insight(day1, day1.Add(72*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	checkKnownMonth(t, in, true)
	for i := range live.Days {
		if live.Days[i].Credits != in.Days[i].Credits {
			t.Errorf("day %s: live %+v, migrated %+v", live.Days[i].Day, live.Days[i].Credits, in.Days[i].Credits)
		}
	}
	var p billing.Purchase
	_ = k.st.View(k.now, func(tx billing.Tx) error { p, _, err = tx.Purchase("cs_a"); return err })
	if p.AmountRefunded != 500 {
		t.Errorf("cs_a refunded %d after migration, want 500 from its event", p.AmountRefunded)
	}
}

// Verify finds a rollup that disagrees with the ledger.
func TestVerifyFindsARollupOutOfStep(t *testing.T) {
	k := newKnownEvents(t)
	k.month()
	k.st.Close()
	rewriteFile(t, k.path, func(tx *bolt.Tx) error {
		return addDay(tx, billing.DayRollup{Day: "2026-11-04", Credits: billing.CreditFlow{Granted: 7}})
	})
	k.open()
	if _, err := k.st.Verify(); err == nil {
		t.Fatal("verify passed with 7 credits granted that no entry moved")
	}
}
