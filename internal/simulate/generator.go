// Package simulate generates realistic, signed Stripe webhook events and
// sends them to a receiver: a slow trickle for demo mode, a paced load
// generator for `creditdesk simulate`, and fixtures for tests.
package simulate

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"strings"
	"time"
)

// APIVersion is the Stripe API version every generated event is shaped like.
const APIVersion = "2023-10-16"

// Event is one generated Stripe event, ready to be signed and POSTed.
type Event struct {
	ID, Type string
	Body     []byte
	// Redelivery is true when this is a repeat of an earlier event: same ID
	// and Body, as Stripe sends when it retries or an endpoint is resent.
	Redelivery bool
}

// Pack is a one-time credit pack the simulated users buy.
type Pack struct {
	Name    string
	Credits int
	Amount  int // cents, usd
	PriceID string
}

// Plan is a monthly subscription the simulated users buy.
type Plan struct {
	Name    string
	Credits int // per month
	Amount  int // cents, usd
	PriceID string
}

// Packs and Plans match billing.SampleCatalog, which demo mode uses.
var (
	Packs = []Pack{
		{"starter", 500, 900, "price_starter"},
		{"topup", 1000, 2000, "price_topup"},
		{"bulk", 5000, 7900, "price_bulk"},
	}
	Plans = []Plan{
		{"pro", 2500, 4900, "price_pro_monthly"},
		{"enterprise", 10000, 19900, "price_enterprise_monthly"},
	}
)

const (
	period      = 30 * 24 * time.Hour
	historySize = 256 // events kept for redelivery
	maxPacks    = 256 // purchases kept for refunds
)

type obj = map[string]any

type user struct {
	ID, Email, Name, Customer string
	sub                       *subscription
}

type subscription struct {
	ID, ItemID string
	user       *user
	plan       Plan
	start      time.Time
	periodEnd  time.Time // current_period_end
	due        time.Time // when the next renewal or retry happens
	pastDue    *invoice  // unpaid renewal invoice, if any
	invoices   int
	status     string
}

type invoice struct {
	ID, PI, Charge, number string
	start, end             time.Time // line period
	attempts               int
}

type purchase struct {
	user     *user
	pi, ch   string
	amount   int
	refunded int
	metadata obj
	created  time.Time
}

// Generator produces a deterministic stream of Stripe events for a small
// population of users: pack checkouts, plan checkouts, renewals (some
// delivered out of order, some failing), refunds, cancellations and
// redeliveries. It is not safe for concurrent use.
type Generator struct {
	// Now, if set, supplies every event's "created" time instead of the
	// simulated clock (the demo trickle uses wall time). Object timestamps
	// such as subscription periods stay on the simulated clock.
	Now func() time.Time
	// Mistakes adds, now and then, a checkout whose type nothing maps or
	// that names no user, as real setups produce (the demo sets it).
	Mistakes bool
	// Paced keeps the simulated clock moving a flow at a time: a renewal
	// waits until its subscription is due instead of jumping to it, so the
	// events cover the days in order (the demo's backfilled month).
	Paced bool

	rng       *rand.Rand
	clock     time.Time
	load      bool
	users     []*user
	subs      []*subscription // active or past_due
	purchases []*purchase
	history   []Event
	queue     []Event
	products  map[string]string
}

// NewGenerator returns a generator of whole billing flows whose ids and
// choices derive from seed and whose simulated clock starts at start.
func NewGenerator(seed uint64, start time.Time) *Generator {
	g := &Generator{rng: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)), clock: start.Truncate(time.Second),
		products: map[string]string{}}
	names := []string{"ada", "grace", "linus", "margaret", "ken", "barbara", "dennis", "frances", "alan", "radia",
		"edsger", "hedy", "john", "katherine", "tim", "annie", "guido", "sophie", "bjarne", "jean", "niklaus", "karen", "rob", "lynn"}
	used := map[int]bool{}
	for _, name := range names {
		n := g.rng.IntN(9999) + 1
		for used[n] {
			n = g.rng.IntN(9999) + 1
		}
		used[n] = true
		g.users = append(g.users, &user{ID: fmt.Sprintf("user_%04d", n), Name: strings.ToUpper(name[:1]) + name[1:],
			Email: fmt.Sprintf("%s.%04d@example.com", name, n), Customer: g.id("cus_", 14)})
	}
	for _, p := range Plans {
		g.products[p.PriceID] = g.id("prod_", 14)
	}
	return g
}

// NewLoadGenerator returns a generator that emits only independent,
// successful credit-pack checkouts: every event has a fresh id, nothing is
// redelivered and no state accumulates, so it suits long load runs.
func NewLoadGenerator(seed uint64, start time.Time) *Generator {
	g := NewGenerator(seed, start)
	g.load = true
	return g
}

// Next returns the next event in delivery order.
func (g *Generator) Next() Event {
	for len(g.queue) == 0 {
		g.flow()
	}
	ev := g.queue[0]
	g.queue = g.queue[1:]
	return ev
}

// flow runs one randomly chosen flow, queueing its events.
func (g *Generator) flow() {
	g.clock = g.clock.Add(2*time.Minute + time.Duration(g.rng.Int64N(3*3600))*time.Second)
	if g.load {
		g.packCheckout(g.pick(), false)
		return
	}
	switch r := g.rng.IntN(100); {
	case r < 6 && g.Mistakes:
		g.mistake(g.pick())
	case r < 40:
		g.packCheckout(g.pick(), g.rng.IntN(12) == 0)
	case r < 55:
		if u := g.pick(); u.sub == nil {
			g.planCheckout(u)
		}
	case r < 80:
		g.renewal()
	case r < 88:
		g.refund()
	case r < 93:
		if len(g.subs) > 0 {
			g.cancel(g.subs[g.rng.IntN(len(g.subs))])
		}
	default:
		if len(g.history) > 0 {
			ev := g.history[g.rng.IntN(len(g.history))]
			ev.Redelivery = true
			g.queue = append(g.queue, ev)
		}
	}
}

func (g *Generator) pick() *user { return g.users[g.rng.IntN(len(g.users))] }

const alnum = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

// id returns prefix followed by n random alphanumerics, Stripe style.
func (g *Generator) id(prefix string, n int) string {
	b := make([]byte, len(prefix), len(prefix)+n)
	copy(b, prefix)
	for range n {
		b = append(b, alnum[g.rng.IntN(len(alnum))])
	}
	return string(b)
}

func (g *Generator) uuid() string {
	a, b := g.rng.Uint64(), g.rng.Uint64()
	return fmt.Sprintf("%08x-%04x-4%03x-%04x-%012x", a>>32, a>>16&0xffff, a&0xfff, b>>48&0x3fff|0x8000, b&0xffffffffffff)
}

// tick advances the simulated clock by a few seconds and returns it.
func (g *Generator) tick() time.Time {
	g.clock = g.clock.Add(time.Duration(1+g.rng.IntN(4)) * time.Second)
	return g.clock
}

// event builds and returns an event envelope; byAPI marks events caused by
// an API request (they carry request ids), the rest are automatic.
func (g *Generator) event(typ string, t time.Time, object, prev obj, byAPI bool) Event {
	id := g.id("evt_1", 23)
	created := t
	if g.Now != nil {
		created = g.Now()
	}
	req := obj{"id": nil, "idempotency_key": nil}
	if byAPI {
		req = obj{"id": g.id("req_", 14), "idempotency_key": g.uuid()}
	}
	data := obj{"object": object}
	if prev != nil {
		data["previous_attributes"] = prev
	}
	body, err := json.MarshalIndent(obj{
		"id": id, "object": "event", "api_version": APIVersion, "created": created.Unix(), "livemode": false,
		"pending_webhooks": 1 + g.rng.IntN(2), "request": req, "type": typ, "data": data,
	}, "", "  ")
	if err != nil {
		panic(err) // only plain maps, strings and numbers are marshalled
	}
	return Event{ID: id, Type: typ, Body: body}
}

// emit queues events in the given order and remembers them for redelivery.
func (g *Generator) emit(evs ...Event) {
	g.queue = append(g.queue, evs...)
	if g.load {
		return
	}
	g.history = append(g.history, evs...)
	if n := len(g.history) - historySize; n > 0 {
		g.history = append(g.history[:0], g.history[n:]...)
	}
}

// packCheckout emits a paid pack checkout, optionally preceded by a failed
// payment attempt (then half the time the buyer gives up).
func (g *Generator) packCheckout(u *user, failFirst bool) {
	p := Packs[[]int{0, 0, 0, 0, 0, 1, 1, 1, 2, 2}[g.rng.IntN(10)]]
	md := obj{"type": "credits-" + p.Name}
	switch r := g.rng.IntN(20); {
	case r < 14:
		md["user_id"] = u.ID
	case r < 17:
		md["userId"] = u.ID
	} // else only client_reference_id names the user
	if g.rng.IntN(6) == 0 {
		md["tokens"] = fmt.Sprint(p.Credits)
	} else {
		md["credits"] = fmt.Sprint(p.Credits)
	}
	pi, ch := g.id("pi_3", 23), g.id("ch_3", 23)
	if failFirst {
		g.emit(g.event("payment_intent.payment_failed", g.tick(), obj{
			"id": pi, "object": "payment_intent", "amount": p.Amount, "amount_received": 0, "currency": "usd",
			"customer": u.Customer, "created": g.clock.Unix() - 30, "livemode": false, "metadata": md,
			"latest_charge": g.id("ch_3", 23), "payment_method_types": []string{"card"}, "receipt_email": nil,
			"status": "requires_payment_method", "last_payment_error": obj{
				"type": "card_error", "code": "card_declined", "decline_code": "insufficient_funds",
				"message": "Your card has insufficient funds.", "charge": g.id("ch_3", 23)},
		}, nil, true))
		if g.rng.IntN(2) == 0 {
			return
		}
	}
	t := g.tick()
	g.emit(g.event("checkout.session.completed", t, g.session(u, "payment", p.Amount, md, obj{"payment_intent": pi}), nil, true))
	if g.load {
		return
	}
	g.purchases = append(g.purchases, &purchase{user: u, pi: pi, ch: ch, amount: p.Amount, metadata: md, created: t})
	if n := len(g.purchases) - maxPacks; n > 0 {
		g.purchases = append(g.purchases[:0], g.purchases[n:]...)
	}
}

func (g *Generator) session(u *user, mode string, amount int, md, extra obj) obj {
	created := g.clock.Add(-time.Duration(30+g.rng.IntN(300)) * time.Second).Unix()
	s := obj{
		"id": g.id("cs_test_a1", 56), "object": "checkout.session", "mode": mode, "status": "complete",
		"payment_status": "paid", "amount_subtotal": amount, "amount_total": amount, "currency": "usd",
		"customer": u.Customer, "customer_creation": nil, "customer_email": nil, "client_reference_id": u.ID,
		"created": created, "expires_at": created + 86400, "livemode": false, "metadata": md,
		"customer_details": obj{"email": u.Email, "name": u.Name, "phone": nil, "tax_exempt": "none", "address": nil}, "url": nil,
		"payment_intent": nil, "subscription": nil, "invoice": nil, "payment_method_types": []string{"card"},
		"success_url": "https://example.com/billing?session_id={CHECKOUT_SESSION_ID}", "cancel_url": "https://example.com/pricing",
		"total_details": obj{"amount_discount": 0, "amount_shipping": 0, "amount_tax": 0},
	}
	for k, v := range extra {
		s[k] = v
	}
	return s
}

// planCheckout emits a subscription checkout, the subscription and its
// first paid invoice.
func (g *Generator) planCheckout(u *user) {
	pl := Plans[[]int{0, 0, 0, 1}[g.rng.IntN(4)]]
	s := &subscription{ID: g.id("sub_1", 23), ItemID: g.id("si_", 14), user: u, plan: pl, status: "active"}
	s.start = g.clock
	s.periodEnd = s.start.Add(period)
	s.due = s.periodEnd
	inv := g.newInvoice(s, s.start, s.periodEnd)
	u.sub = s
	g.subs = append(g.subs, s)
	md := obj{"user_id": u.ID, "type": "plan-" + pl.Name}
	g.emit(g.event("checkout.session.completed", g.tick(), g.session(u, "subscription", pl.Amount, md,
		obj{"subscription": s.ID, "invoice": inv.ID}), nil, true))
	g.emit(g.event("customer.subscription.created", g.tick(), g.subObj(s, s.start), nil, true))
	g.emit(g.event("invoice.paid", g.tick(), g.invoiceObj(s, inv, "subscription_create", true), nil, false))
}

func (g *Generator) newInvoice(s *subscription, start, end time.Time) *invoice {
	s.invoices++
	return &invoice{ID: g.id("in_1", 23), PI: g.id("pi_3", 23), Charge: g.id("ch_3", 23), start: start, end: end, attempts: 1,
		number: fmt.Sprintf("%s-%04d", s.user.Customer[4:12], s.invoices)}
}

func (g *Generator) price(pl Plan) obj {
	return obj{"id": pl.PriceID, "object": "price", "active": true, "currency": "usd", "unit_amount": pl.Amount,
		"product": g.products[pl.PriceID], "type": "recurring", "lookup_key": nil, "metadata": obj{},
		"recurring": obj{"interval": "month", "interval_count": 1, "usage_type": "licensed"}}
}

func (g *Generator) subObj(s *subscription, periodStart time.Time) obj {
	return obj{
		"id": s.ID, "object": "subscription", "status": s.status, "customer": s.user.Customer,
		"created": s.start.Unix(), "start_date": s.start.Unix(), "billing_cycle_anchor": s.start.Unix(),
		"current_period_start": periodStart.Unix(), "current_period_end": s.periodEnd.Unix(),
		"cancel_at": nil, "cancel_at_period_end": false, "canceled_at": nil, "ended_at": nil,
		"collection_method": "charge_automatically", "currency": "usd", "livemode": false, "quantity": 1,
		"metadata": obj{"user_id": s.user.ID},
		"items": obj{"object": "list", "has_more": false, "total_count": 1, "url": "/v1/subscription_items?subscription=" + s.ID,
			"data": []obj{{"id": s.ItemID, "object": "subscription_item", "price": g.price(s.plan), "quantity": 1, "subscription": s.ID}}},
	}
}

func (g *Generator) invoiceObj(s *subscription, inv *invoice, reason string, paid bool) obj {
	amountPaid, status, next := s.plan.Amount, "paid", any(nil)
	if !paid {
		amountPaid, status, next = 0, "open", g.clock.Add(3*24*time.Hour).Unix()
	}
	// Stripe's invoice-level period is the previous period (empty for the
	// first invoice); the service period lives on the line.
	ps, pe := inv.start.Add(-period), inv.start
	if reason == "subscription_create" {
		ps = inv.start
	}
	return obj{
		"id": inv.ID, "object": "invoice", "billing_reason": reason, "customer": s.user.Customer,
		"customer_email": s.user.Email, "customer_name": s.user.Name, "subscription": s.ID,
		"amount_due": s.plan.Amount, "amount_paid": amountPaid, "amount_remaining": s.plan.Amount - amountPaid,
		"subtotal": s.plan.Amount, "total": s.plan.Amount, "currency": "usd", "paid": paid, "status": status,
		"attempted": true, "attempt_count": inv.attempts, "next_payment_attempt": next,
		"charge": inv.Charge, "payment_intent": inv.PI, "collection_method": "charge_automatically",
		"created": inv.start.Unix(), "period_start": ps.Unix(), "period_end": pe.Unix(), "livemode": false,
		"number": inv.number, "metadata": obj{},
		"subscription_details": obj{"metadata": obj{"user_id": s.user.ID}},
		"lines": obj{"object": "list", "has_more": false, "total_count": 1, "url": "/v1/invoices/" + inv.ID + "/lines",
			"data": []obj{{"id": g.id("il_1", 23), "object": "line_item", "type": "subscription", "amount": s.plan.Amount,
				"currency": "usd", "quantity": 1, "proration": false, "livemode": false, "metadata": obj{},
				"description": fmt.Sprintf("1 × %s (at $%.2f / month)", s.plan.Name, float64(s.plan.Amount)/100), "price": g.price(s.plan), "subscription": s.ID,
				"subscription_item": s.ItemID, "period": obj{"start": inv.start.Unix(), "end": inv.end.Unix()}}}},
	}
}

// renewal handles the subscription whose renewal (or payment retry) is due
// first: the clock jumps to it, then it renews, fails, recovers or ends.
func (g *Generator) renewal() {
	if len(g.subs) == 0 {
		return
	}
	s := g.subs[0]
	for _, x := range g.subs[1:] {
		if x.due.Before(s.due) {
			s = x
		}
	}
	if s.due.After(g.clock) {
		if g.Paced {
			return // nothing is due yet, and time does not jump
		}
		g.clock = s.due
	}
	if inv := s.pastDue; inv != nil { // retry of a failed renewal
		inv.attempts++
		if g.rng.IntN(3) == 0 {
			g.cancel(s)
			return
		}
		s.pastDue, s.status, s.due = nil, "active", s.periodEnd
		g.emit(g.event("invoice.paid", g.tick(), g.invoiceObj(s, inv, "subscription_cycle", true), nil, false))
		g.emit(g.event("customer.subscription.updated", g.tick(), g.subObj(s, inv.start), obj{"status": "past_due"}, false))
		return
	}
	prevStart, prevEnd := s.periodEnd.Add(-period), s.periodEnd
	inv := g.newInvoice(s, prevEnd, prevEnd.Add(period))
	s.periodEnd = inv.end
	prev := obj{"current_period_start": prevStart.Unix(), "current_period_end": prevEnd.Unix(), "latest_invoice": nil}
	if g.rng.IntN(6) == 0 { // the card is declined
		s.status, s.pastDue, s.due = "past_due", inv, g.clock.Add(3*24*time.Hour)
		prev["status"] = "active"
		g.emit(g.event("customer.subscription.updated", g.tick(), g.subObj(s, inv.start), prev, false))
		g.emit(g.event("invoice.payment_failed", g.tick(), g.invoiceObj(s, inv, "subscription_cycle", false), nil, false))
		return
	}
	s.due = s.periodEnd
	upd := g.event("customer.subscription.updated", g.tick(), g.subObj(s, inv.start), prev, false)
	g.clock = g.clock.Add(time.Hour) // Stripe finalizes and charges about an hour later
	paid := g.event("invoice.paid", g.tick(), g.invoiceObj(s, inv, "subscription_cycle", true), nil, false)
	if g.rng.IntN(4) == 0 {
		g.emit(paid, upd) // delivered out of order
	} else {
		g.emit(upd, paid)
	}
}

// cancel emits the deletion of s and forgets it.
func (g *Generator) cancel(s *subscription) {
	t := g.tick()
	s.status = "canceled"
	o := g.subObj(s, s.periodEnd.Add(-period))
	o["canceled_at"], o["ended_at"] = t.Unix(), t.Unix()
	o["cancellation_details"] = obj{"reason": "cancellation_requested", "comment": nil, "feedback": nil}
	if s.pastDue != nil {
		o["cancellation_details"] = obj{"reason": "payment_failed", "comment": nil, "feedback": nil}
	}
	g.emit(g.event("customer.subscription.deleted", t, o, nil, s.pastDue == nil))
	s.user.sub = nil
	for i, x := range g.subs {
		if x == s {
			g.subs = append(g.subs[:i], g.subs[i+1:]...)
			break
		}
	}
}

// refund refunds half or all of what is left of an earlier pack purchase.
func (g *Generator) refund() {
	var open []*purchase
	for _, p := range g.purchases {
		if p.refunded < p.amount {
			open = append(open, p)
		}
	}
	if len(open) == 0 {
		return
	}
	p := open[g.rng.IntN(len(open))]
	amt := p.amount - p.refunded
	if p.refunded == 0 && g.rng.IntN(3) == 0 {
		amt = p.amount / 2
	}
	p.refunded += amt
	t := g.tick()
	g.emit(g.event("charge.refunded", t, obj{
		"id": p.ch, "object": "charge", "amount": p.amount, "amount_captured": p.amount, "amount_refunded": p.refunded,
		"refunded": p.refunded == p.amount, "captured": true, "paid": true, "status": "succeeded", "currency": "usd",
		"customer": p.user.Customer, "payment_intent": p.pi, "metadata": p.metadata, "created": p.created.Unix(),
		"receipt_email": p.user.Email, "billing_details": obj{"email": p.user.Email, "name": p.user.Name},
		"livemode": false, "refunds": obj{"object": "list", "has_more": false, "total_count": 1, "url": "/v1/charges/" + p.ch + "/refunds",
			"data": []obj{{"id": g.id("re_3", 23), "object": "refund", "amount": amt, "charge": p.ch, "payment_intent": p.pi,
				"currency": "usd", "created": t.Unix(), "reason": "requested_by_customer", "status": "succeeded"}}},
	}, nil, true))
}

// mistake emits a pack checkout that a real setup gets wrong now and then,
// so the demo's Attention tab has something to fix: a purchase type nothing
// maps (assign it), or a checkout with no user id at all (link it).
func (g *Generator) mistake(u *user) {
	p := Packs[1]
	t := g.tick()
	if g.rng.IntN(2) == 0 {
		md := obj{"user_id": u.ID, "type": "credits-legacy-promo"}
		g.emit(g.event("checkout.session.completed", t, g.session(u, "payment", p.Amount, md, obj{"payment_intent": g.id("pi_3", 23)}), nil, true))
		return
	}
	md := obj{"credits": fmt.Sprint(p.Credits)}
	s := g.session(u, "payment", p.Amount, md, obj{"payment_intent": g.id("pi_3", 23), "client_reference_id": nil})
	s["customer"] = g.id("cus_", 14) // a guest checkout: a customer no user is linked to
	g.emit(g.event("checkout.session.completed", t, s, nil, true))
}
