package billing

import (
	"sort"
	"strings"
	"time"
)

// Rollups are the per-day figures the Overview and `creditdesk report`
// show: money by currency, credits by what moved them, subscriptions by
// plan. The store keeps them as records of their own, changed in the
// transaction that changes what they count (a purchase stored, ledger
// entries appended, a subscription stored), so reading a month reads thirty
// small records and never scans events. Which change adds what to which day
// is decided here, by the pure functions below; the store persists.
//
// A day is a UTC calendar day. Money counts on the day creditdesk recorded
// the payment, refund or lost dispute; credits on their entry's date.

// DayLayout is how a rollup day is written, and keyed: it sorts by date.
const DayLayout = "2006-01-02"

// DayOf is the UTC day t falls on.
func DayOf(t time.Time) string { return t.UTC().Format(DayLayout) }

// Money is what purchases in one currency took, in its minor units.
type Money struct {
	Gross    int64 `json:"gross"`
	Refunded int64 `json:"refunded"`
	Disputed int64 `json:"disputed"`
}

// Net is what stays: gross less refunds and lost disputes.
func (m Money) Net() int64 { return m.Gross - m.Refunded - m.Disputed }

// IsZero reports whether nothing moved.
func (m Money) IsZero() bool { return m == Money{} }

func (m Money) plus(o Money, sign int64) Money {
	return Money{Gross: m.Gross + sign*o.Gross, Refunded: m.Refunded + sign*o.Refunded, Disputed: m.Disputed + sign*o.Disputed}
}

// CreditFlow is what moved credits, by what moved them.
type CreditFlow struct {
	// Granted: packs, plan periods, the free allowance, grants by hand or
	// through the API.
	Granted int64 `json:"granted"`
	// Spent through the app's API.
	Spent int64 `json:"spent"`
	// Expired: written off past their expiry, or with a cancelled plan.
	Expired int64 `json:"expired"`
	// ClawedBack by refunds and lost disputes.
	ClawedBack int64 `json:"clawed_back"`
	// Revoked: taken back by hand, or the free allowance taken back when a
	// plan starts.
	Revoked int64 `json:"revoked"`
}

// IsZero reports whether no credits moved.
func (c CreditFlow) IsZero() bool { return c == CreditFlow{} }

func (c CreditFlow) plus(o CreditFlow) CreditFlow {
	return CreditFlow{Granted: c.Granted + o.Granted, Spent: c.Spent + o.Spent, Expired: c.Expired + o.Expired,
		ClawedBack: c.ClawedBack + o.ClawedBack, Revoked: c.Revoked + o.Revoked}
}

// PlanFlow is how many subscriptions to one plan started and ended.
type PlanFlow struct {
	New     int64 `json:"new"`
	Churned int64 `json:"churned"`
}

// DayRollup is one day's figures.
type DayRollup struct {
	Day string `json:"day"`
	// Revenue is by currency, lower case as Stripe writes it.
	Revenue map[string]Money `json:"revenue,omitempty"`
	Credits CreditFlow       `json:"credits"`
	// Plans is by plan name.
	Plans map[string]PlanFlow `json:"plans,omitempty"`
}

// IsZero reports whether the day holds nothing.
func (d DayRollup) IsZero() bool {
	for _, m := range d.Revenue {
		if !m.IsZero() {
			return false
		}
	}
	for _, p := range d.Plans {
		if p != (PlanFlow{}) {
			return false
		}
	}
	return d.Credits.IsZero()
}

// Add adds o's figures to d (the day stays d's); currencies and plans
// whose figures come to zero are dropped.
func (d *DayRollup) Add(o DayRollup) {
	for cur, m := range o.Revenue {
		if d.Revenue == nil {
			d.Revenue = map[string]Money{}
		}
		sum := d.Revenue[cur].plus(m, 1)
		if sum.IsZero() {
			delete(d.Revenue, cur)
		} else {
			d.Revenue[cur] = sum
		}
	}
	for plan, f := range o.Plans {
		if d.Plans == nil {
			d.Plans = map[string]PlanFlow{}
		}
		sum := PlanFlow{New: d.Plans[plan].New + f.New, Churned: d.Plans[plan].Churned + f.Churned}
		if sum == (PlanFlow{}) {
			delete(d.Plans, plan)
		} else {
			d.Plans[plan] = sum
		}
	}
	d.Credits = d.Credits.plus(o.Credits)
}

// Currencies returns the currencies with revenue, sorted.
func (d DayRollup) Currencies() []string {
	out := make([]string, 0, len(d.Revenue))
	for c := range d.Revenue {
		out = append(out, c)
	}
	sort.Strings(out)
	return out
}

// TakesMoney reports whether a purchase's amount is money taken: a paid
// pack or invoice (refunded or not). A subscription's checkout session is
// not: its first invoice, a purchase of its own, is what was paid.
func TakesMoney(p Purchase) bool {
	if p.Status != "paid" && p.Status != "part_refunded" && p.Status != "refunded" {
		return false
	}
	return !(p.Mode == "subscription" && strings.HasPrefix(p.ID, "cs_"))
}

// PurchaseRevenue is what a purchase counts for in its currency: its
// total once paid, its refunds and lost disputes so far.
func PurchaseRevenue(p Purchase) Money {
	if !TakesMoney(p) {
		return Money{}
	}
	return Money{Gross: p.AmountTotal, Refunded: p.AmountRefunded, Disputed: p.AmountDisputed}
}

// PurchaseRollup is what storing next over prev (zero for a new purchase)
// adds to the day at: the money the change took or gave back.
func PurchaseRollup(prev, next Purchase, at time.Time) DayRollup {
	d := DayRollup{Day: DayOf(at)}
	was, is := PurchaseRevenue(prev), PurchaseRevenue(next)
	if !was.IsZero() {
		d.Add(DayRollup{Revenue: map[string]Money{currencyKey(prev.Currency): Money{}.plus(was, -1)}})
	}
	if !is.IsZero() {
		d.Add(DayRollup{Revenue: map[string]Money{currencyKey(next.Currency): is}})
	}
	return d
}

func currencyKey(c string) string { return strings.ToLower(c) }

// SpendChange is what a change to a purchase does to one user's net spend
// in one currency.
type SpendChange struct {
	User     string
	Currency string
	Net      int64
}

// PurchaseSpend is what storing next over prev does to what each user has
// paid, net of refunds and disputes (a purchase moved to another user, as a
// link does, moves its spend).
func PurchaseSpend(prev, next Purchase) []SpendChange {
	var out []SpendChange
	if n := PurchaseRevenue(prev).Net(); n != 0 {
		out = append(out, SpendChange{User: prev.UserID, Currency: currencyKey(prev.Currency), Net: -n})
	}
	if n := PurchaseRevenue(next).Net(); n != 0 {
		if len(out) == 1 && out[0].User == next.UserID && out[0].Currency == currencyKey(next.Currency) {
			out[0].Net += n
			if out[0].Net == 0 {
				return nil
			}
			return out
		}
		out = append(out, SpendChange{User: next.UserID, Currency: currencyKey(next.Currency), Net: n})
	}
	return out
}

// EntryFlow is what one ledger entry adds to its day's credits.
func EntryFlow(e Entry) CreditFlow {
	switch {
	case e.Kind == KindLink:
		return CreditFlow{} // moved between records of one user
	case e.Kind == KindSpend:
		return CreditFlow{Spent: -e.Delta}
	case e.Kind == KindExpire:
		return CreditFlow{Expired: -e.Delta}
	case e.Kind == KindRefund || e.Kind == KindDispute:
		return CreditFlow{ClawedBack: -e.Delta}
	case e.Delta > 0:
		return CreditFlow{Granted: e.Delta}
	default:
		return CreditFlow{Revoked: -e.Delta}
	}
}

// EntryRollup is what one ledger entry adds, on the day of its date.
func EntryRollup(e Entry) DayRollup {
	return DayRollup{Day: DayOf(e.At), Credits: EntryFlow(e)}
}

// Seat is what one subscription counts for in its plan's totals: whether
// it is in force, and what it pays a month (its last paid invoice).
type Seat struct {
	Plan     string `json:"plan"`
	Active   bool   `json:"active,omitempty"`
	Currency string `json:"currency,omitempty"`
	Monthly  int64  `json:"monthly,omitempty"`
	// Started: it was counted as new once; a resumed plan is not new again.
	Started bool `json:"started,omitempty"`
}

// SubscriptionActive reports whether a subscription is in force: not
// deleted, not cancelled, paused or unpaid (a past-due one still is).
func SubscriptionActive(s Subscription) bool {
	if s.Deleted {
		return false
	}
	switch s.Status {
	case "canceled", "incomplete", "incomplete_expired", "unpaid", "paused":
		return false
	}
	return true
}

// SeatOfSubscription is the seat after storing s over a seat prev, and
// what that adds to the day at: a new subscription to its plan the first
// time it is in force, a churned one when it ends.
func SeatOfSubscription(prev Seat, s Subscription, at time.Time) (Seat, DayRollup) {
	next := prev
	if s.Plan != "" {
		next.Plan = s.Plan
	}
	next.Active = SubscriptionActive(s) && next.Plan != ""
	d := DayRollup{Day: DayOf(at)}
	if next.Active && !prev.Started {
		next.Started = true
		d.Plans = map[string]PlanFlow{next.Plan: {New: 1}}
	}
	if prev.Active && !next.Active && (s.Deleted || s.Status == "canceled") {
		d.Add(DayRollup{Plans: map[string]PlanFlow{prev.Plan: {Churned: 1}}})
	}
	return next, d
}

// SeatOfPurchase is the seat after a plan's invoice is stored: what it paid
// is what the subscription pays a month. Other purchases change nothing.
func SeatOfPurchase(prev Seat, p Purchase) Seat {
	if p.Kind != PurchasePlan || p.Subscription == "" || !TakesMoney(p) {
		return prev
	}
	prev.Currency, prev.Monthly = currencyKey(p.Currency), p.AmountTotal
	if prev.Plan == "" {
		prev.Plan = p.Type
	}
	return prev
}

// PlanTotals is one plan now: subscriptions in force and what they pay a
// month, by currency.
type PlanTotals struct {
	Plan   string           `json:"plan"`
	Active int64            `json:"active"`
	MRR    map[string]int64 `json:"mrr,omitempty"`
}

// IsZero reports whether the plan counts nothing.
func (p PlanTotals) IsZero() bool { return p.Active == 0 && len(p.MRR) == 0 }

// Add adds what seat s counts for, times sign (+1 or -1).
func (p *PlanTotals) Add(s Seat, sign int64) {
	if !s.Active {
		return
	}
	p.Active += sign
	if s.Monthly == 0 || s.Currency == "" {
		return
	}
	if p.MRR == nil {
		p.MRR = map[string]int64{}
	}
	p.MRR[s.Currency] += sign * s.Monthly
	if p.MRR[s.Currency] == 0 {
		delete(p.MRR, s.Currency)
	}
}

// UserSpend is what one user has paid in one currency, net of refunds and
// lost disputes, since creditdesk has known them.
type UserSpend struct {
	User     string `json:"user"`
	Currency string `json:"currency"`
	Net      int64  `json:"net"`
}

// Insight is what the Overview and `creditdesk report` show for a run of
// days: each day's figures, their sum, the plans now and the users who
// paid most.
type Insight struct {
	From  string `json:"from"`
	Until string `json:"until"`
	// Days has one rollup for each day from From to Until, in order, zero
	// where nothing happened.
	Days  []DayRollup  `json:"days"`
	Total DayRollup    `json:"total"`
	Plans []PlanTotals `json:"plans"`
	// TopUsers are the users who paid most, all time, in each currency:
	// by currency, then most paid first.
	TopUsers []UserSpend `json:"top_users"`
}

// InsightStore is a store that keeps the rollups.
type InsightStore interface {
	// Insight returns the rollups of the days from through until (days
	// as DayLayout), the plans' totals, and the top users of each currency.
	Insight(from, until string, top int) (Insight, error)
}

// DaysBetween lists the days from the day of from through the day of
// until, in order (none when until is before from).
func DaysBetween(from, until time.Time) []string {
	var out []string
	start, end := from.UTC().Truncate(24*time.Hour), until.UTC().Truncate(24*time.Hour)
	for d := start; !d.After(end) && len(out) < 100000; d = d.Add(24 * time.Hour) {
		out = append(out, d.Format(DayLayout))
	}
	return out
}

// Summarize fills in Total from Days.
func (in *Insight) Summarize() {
	in.Total = DayRollup{}
	for _, d := range in.Days {
		in.Total.Add(d)
	}
}

// Window sums the last n days of in (n > len(Days): all of them).
func (in Insight) Window(n int) DayRollup {
	var out DayRollup
	for i := max(0, len(in.Days)-n); i < len(in.Days); i++ {
		out.Add(in.Days[i])
	}
	return out
}

// PaymentReversal is the money one applied refund or lost-dispute event
// says was given back for a purchase: the charge's refunds so far, or the
// disputed amount.
type PaymentReversal struct {
	Purchase string
	Refunded int64
	Disputed int64
}

// ReversalOf reads what a stored charge.refunded or lost
// charge.dispute.closed event gave back, and for which purchase (ok is
// false for any other event, or one whose purchase is not known). It is how
// the rollups of a database older than them are built.
func ReversalOf(ev Event, st State) (PaymentReversal, bool, error) {
	if ev.Type != "charge.refunded" && ev.Type != "charge.dispute.closed" {
		return PaymentReversal{}, false, nil
	}
	obj, err := DataObject(ev.Payload)
	if err != nil {
		return PaymentReversal{}, false, nil
	}
	if ev.Type == "charge.dispute.closed" && obj.Str("status") != "lost" {
		return PaymentReversal{}, false, nil
	}
	p, ok, err := purchaseOfCharge(st, obj)
	if err != nil || !ok {
		return PaymentReversal{}, false, err
	}
	r := PaymentReversal{Purchase: p.ID}
	n, _ := obj.Int("amount")
	if ev.Type == "charge.dispute.closed" {
		r.Disputed = n
		return r, true, nil
	}
	r.Refunded, _ = obj.Int("amount_refunded")
	if full, _ := obj.Bool("refunded"); full && r.Refunded == 0 {
		r.Refunded = n
	}
	return r, true, nil
}
