package billing_test

import (
	"testing"
	"time"

	. "creditdesk/billing"
)

// Which entry counts as what: packs and plans granted, API spends spent,
// expiries expired, refunds and disputes clawed back, a revoke by hand
// revoked, a link between records of one user nothing.
func TestEntryFlowByKind(t *testing.T) {
	cases := []struct {
		e    Entry
		want CreditFlow
	}{
		{Entry{Kind: KindPack, Delta: 1000}, CreditFlow{Granted: 1000}},
		{Entry{Kind: KindPlan, Delta: 2500}, CreditFlow{Granted: 2500}},
		{Entry{Kind: KindManual, Delta: 50}, CreditFlow{Granted: 50}},
		{Entry{Kind: KindManual, Delta: -20}, CreditFlow{Revoked: 20}},
		{Entry{Kind: KindSpend, Delta: -7}, CreditFlow{Spent: 7}},
		{Entry{Kind: KindExpire, Delta: -900}, CreditFlow{Expired: 900}},
		{Entry{Kind: KindRefund, Delta: -250}, CreditFlow{ClawedBack: 250}},
		{Entry{Kind: KindDispute, Delta: -1000}, CreditFlow{ClawedBack: 1000}},
		{Entry{Kind: KindLink, Delta: -40}, CreditFlow{}},
		{Entry{Kind: KindLink, Delta: 40}, CreditFlow{}},
	}
	for _, c := range cases {
		if got := EntryFlow(c.e); got != c.want {
			t.Errorf("%s %d: %+v, want %+v", c.e.Kind, c.e.Delta, got, c.want)
		}
	}
}

// A purchase counts its total once it is paid, and each later refund by
// what it adds; a subscription's checkout counts nothing (its invoice
// does); a purchase moved to another user moves its spend.
func TestPurchaseRollupCountsChangesOnly(t *testing.T) {
	at := time.Date(2026, 5, 2, 23, 59, 0, 0, time.FixedZone("x", -3600))
	pending := Purchase{ID: "cs_1", UserID: "u", Status: "pending", AmountTotal: 1500, Currency: "JPY"}
	paid := pending
	paid.Status = "paid"
	d := PurchaseRollup(pending, paid, at)
	if d.Day != "2026-05-03" || d.Revenue["jpy"] != (Money{Gross: 1500}) {
		t.Fatalf("paid: %+v (the day is UTC's)", d)
	}
	part := paid
	part.Status, part.AmountRefunded = "part_refunded", 300
	if d := PurchaseRollup(paid, part, at); d.Revenue["jpy"] != (Money{Refunded: 300}) {
		t.Fatalf("refund: %+v", d)
	}
	if d := PurchaseRollup(part, part, at); !d.IsZero() {
		t.Fatalf("stored again unchanged: %+v", d)
	}
	sub := Purchase{ID: "cs_2", Mode: "subscription", Kind: PurchasePlan, Status: "paid", AmountTotal: 4900, Currency: "usd"}
	if d := PurchaseRollup(Purchase{}, sub, at); !d.IsZero() {
		t.Fatalf("a subscription's checkout counted: %+v", d)
	}
	moved := part
	moved.UserID = "v"
	got := PurchaseSpend(part, moved)
	if len(got) != 2 || got[0] != (SpendChange{User: "u", Currency: "jpy", Net: -1200}) || got[1] != (SpendChange{User: "v", Currency: "jpy", Net: 1200}) {
		t.Fatalf("moved: %+v", got)
	}
}

// A subscription is new the first time it is in force, churned when it
// ends; paused and resumed it is neither.
func TestSeatNewAndChurned(t *testing.T) {
	at := time.Date(2026, 5, 2, 10, 0, 0, 0, time.UTC)
	s, d := SeatOfSubscription(Seat{}, Subscription{ID: "sub", Plan: "pro", Status: "active"}, at)
	if !s.Active || d.Plans["pro"] != (PlanFlow{New: 1}) {
		t.Fatalf("start: %+v %+v", s, d)
	}
	s, d = SeatOfSubscription(s, Subscription{ID: "sub", Plan: "pro", Status: "paused"}, at)
	if s.Active || !d.IsZero() {
		t.Fatalf("paused: %+v %+v", s, d)
	}
	s, d = SeatOfSubscription(s, Subscription{ID: "sub", Plan: "pro", Status: "active"}, at)
	if !s.Active || !d.IsZero() {
		t.Fatalf("resumed: %+v %+v", s, d)
	}
	s = SeatOfPurchase(s, Purchase{Kind: PurchasePlan, Subscription: "sub", Status: "paid", ID: "in_1", AmountTotal: 4900, Currency: "USD"})
	var pt PlanTotals
	pt.Add(s, 1)
	if pt.Active != 1 || pt.MRR["usd"] != 4900 {
		t.Fatalf("totals: %+v", pt)
	}
	s, d = SeatOfSubscription(s, Subscription{ID: "sub", Plan: "pro", Status: "canceled", Deleted: true}, at)
	if s.Active || d.Plans["pro"] != (PlanFlow{Churned: 1}) {
		t.Fatalf("ended: %+v %+v", s, d)
	}
}
