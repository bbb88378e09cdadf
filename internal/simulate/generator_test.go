package simulate

import (
	"bytes"
	"encoding/json"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stripe/stripe-go/v76/webhook"
)

var t0 = time.Date(2024, 3, 1, 12, 0, 0, 0, time.UTC)

const secret = "whsec_test_simulate"

// decoded is a generated event parsed as a receiver would see it.
type decoded struct {
	Event
	m map[string]any
}

func decode(t *testing.T, ev Event) decoded {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(ev.Body, &m); err != nil {
		t.Fatalf("%s %s: invalid JSON: %v", ev.Type, ev.ID, err)
	}
	return decoded{ev, m}
}

// str returns the string at the path under data.object ("" if absent).
func (d decoded) str(path ...string) string {
	v, _ := d.at(path...).(string)
	return v
}

func (d decoded) num(path ...string) int64 {
	v, _ := d.at(path...).(float64)
	return int64(v)
}

func (d decoded) at(path ...string) any {
	var v any = d.m["data"].(map[string]any)["object"]
	for _, k := range path {
		switch x := v.(type) {
		case map[string]any:
			v = x[k]
		case []any:
			i, _ := strconv.Atoi(k)
			if i >= len(x) {
				return nil
			}
			v = x[i]
		default:
			return nil
		}
	}
	return v
}

func stream(t *testing.T, g *Generator, n int) []decoded {
	evs := make([]decoded, n)
	for i := range evs {
		evs[i] = decode(t, g.Next())
	}
	return evs
}

func TestEventsAreStripeShapedAndVerify(t *testing.T) {
	seen := map[string][]byte{}
	types := map[string]int{}
	redeliveries := 0
	for _, d := range stream(t, NewGenerator(7, t0), 3000) {
		header := Sign(d.Body, secret)
		e, err := webhook.ConstructEventWithOptions(d.Body, header, secret, webhook.ConstructEventOptions{IgnoreAPIVersionMismatch: true})
		if err != nil {
			t.Fatalf("%s: %v", d.Type, err)
		}
		if e.ID != d.ID || string(e.Type) != d.Type || e.APIVersion != "2023-10-16" || e.Livemode || e.Data == nil || e.Data.Object["object"] == nil {
			t.Fatalf("envelope mismatch: %+v for %s %s", e, d.ID, d.Type)
		}
		if d.m["object"] != "event" || !strings.HasPrefix(d.ID, "evt_") || d.m["created"].(float64) < float64(t0.Unix()) ||
			d.m["pending_webhooks"].(float64) < 1 || d.m["request"] == nil {
			t.Fatalf("bad envelope: %s", d.Body)
		}
		if prev, dup := seen[d.ID]; dup != d.Redelivery || dup && !bytes.Equal(prev, d.Body) {
			t.Fatalf("event %s: seen before=%v but Redelivery=%v (or body changed)", d.ID, dup, d.Redelivery)
		}
		if d.Redelivery {
			redeliveries++
		}
		seen[d.ID] = d.Body
		types[d.Type]++
	}
	for _, typ := range []string{"checkout.session.completed", "customer.subscription.created", "customer.subscription.updated",
		"customer.subscription.deleted", "invoice.paid", "invoice.payment_failed", "payment_intent.payment_failed", "charge.refunded"} {
		if types[typ] == 0 {
			t.Errorf("no %s in 3000 events", typ)
		}
	}
	if redeliveries == 0 {
		t.Error("no redeliveries in 3000 events")
	}
}

func TestSameSeedSameStream(t *testing.T) {
	a, b, c := NewGenerator(42, t0), NewGenerator(42, t0), NewGenerator(43, t0)
	differs := false
	for range 500 {
		ea, eb, ec := a.Next(), b.Next(), c.Next()
		if ea.ID != eb.ID || !bytes.Equal(ea.Body, eb.Body) {
			t.Fatalf("same seed diverged: %s vs %s", ea.ID, eb.ID)
		}
		differs = differs || ea.ID != ec.ID
	}
	if !differs {
		t.Error("different seeds produced the same ids")
	}
}

// resolveUser and resolveCredits read a pack checkout the way the spec says
// a receiver may: any of the places a user id or a credit count can be.
func resolveUser(d decoded) string {
	for _, p := range [][]string{{"metadata", "user_id"}, {"metadata", "userId"}, {"client_reference_id"}} {
		if u := d.str(p...); u != "" {
			return u
		}
	}
	return ""
}

func TestPackCheckoutsAndRefunds(t *testing.T) {
	credits := map[int64]string{900: "500", 2000: "1000", 7900: "5000"}
	variants := map[string]int{}
	type sale struct {
		amount   int64
		customer string
		metadata map[string]any
	}
	paid := map[string]sale{} // by payment intent
	refunded := map[string]int64{}
	for _, d := range stream(t, NewGenerator(3, t0), 4000) {
		switch {
		case d.Type == "checkout.session.completed" && d.str("mode") == "payment":
			user := d.str("client_reference_id")
			if !strings.HasPrefix(user, "user_") || resolveUser(d) != user || d.str("payment_status") != "paid" || d.str("currency") != "usd" {
				t.Fatalf("pack checkout names no consistent user: %s", d.Body)
			}
			if !strings.HasPrefix(d.str("customer"), "cus_") || !strings.HasSuffix(d.str("customer_details", "email"), "@example.com") ||
				!strings.HasPrefix(d.str("payment_intent"), "pi_") {
				t.Fatalf("pack checkout without customer, email or payment intent: %s", d.Body)
			}
			n := d.str("metadata", "credits") + d.str("metadata", "tokens")
			if want := credits[d.num("amount_total")]; n != want || d.str("metadata", "type") != "credits-"+map[string]string{"500": "starter", "1000": "topup", "5000": "bulk"}[n] {
				t.Fatalf("amount %d with credits %q (want %q): %s", d.num("amount_total"), n, want, d.Body)
			}
			for _, k := range []string{"user_id", "userId", "tokens"} {
				if d.str("metadata", k) != "" {
					variants[k]++
				}
			}
			if d.str("metadata", "user_id")+d.str("metadata", "userId") == "" {
				variants["client_reference_id only"]++
			}
			if !d.Redelivery {
				paid[d.str("payment_intent")] = sale{d.num("amount_total"), d.str("customer"), d.at("metadata").(map[string]any)}
			}
		case d.Type == "payment_intent.payment_failed":
			if d.str("status") != "requires_payment_method" || d.str("last_payment_error", "message") == "" || resolveUser(d) == "" && d.str("customer") == "" {
				t.Fatalf("failed payment without reason or owner: %s", d.Body)
			}
		case d.Type == "charge.refunded":
			s, ok := paid[d.str("payment_intent")]
			if !ok {
				t.Fatalf("refund of unknown payment intent: %s", d.Body)
			}
			got := d.num("amount_refunded")
			if d.num("amount") != s.amount || d.str("customer") != s.customer || got <= 0 || got > s.amount ||
				d.at("refunded") != (got == s.amount) || !strings.HasPrefix(d.str("id"), "ch_") {
				t.Fatalf("refund inconsistent with purchase %+v: %s", s, d.Body)
			}
			for k, v := range s.metadata {
				if d.str("metadata", k) != v {
					t.Fatalf("refund metadata %s=%q, purchase had %q", k, d.str("metadata", k), v)
				}
			}
			if !d.Redelivery {
				if got < refunded[d.str("payment_intent")] {
					t.Fatalf("amount_refunded went down: %s", d.Body)
				}
				refunded[d.str("payment_intent")] = got
			}
		}
	}
	for _, k := range []string{"user_id", "userId", "tokens", "client_reference_id only"} {
		if variants[k] == 0 {
			t.Errorf("no pack checkout with %s", k)
		}
	}
	partial := 0
	for pi, n := range refunded {
		if n < paid[pi].amount {
			partial++
		}
	}
	if len(refunded) == 0 || partial == 0 {
		t.Errorf("refunds: %d, partial: %d; want both", len(refunded), partial)
	}
}

func TestSubscriptionFlowsReferenceConsistentIDs(t *testing.T) {
	type sub struct {
		user, customer, price string
		periodEnd             int64 // from the latest paid invoice line
		subPeriodEnd          int64 // from the latest customer.subscription.* event
		active                bool
	}
	subs := map[string]*sub{}
	pendingInvoice := map[string]string{} // checkout's invoice id by subscription
	cycles, outOfOrder, failed := 0, 0, 0
	for _, d := range stream(t, NewGenerator(11, t0), 5000) {
		if d.Redelivery {
			continue
		}
		switch d.Type {
		case "checkout.session.completed":
			if d.str("mode") != "subscription" {
				continue
			}
			id := d.str("subscription")
			if !strings.HasPrefix(id, "sub_") || !strings.HasPrefix(d.str("invoice"), "in_") || subs[id] != nil ||
				!strings.HasPrefix(d.str("metadata", "type"), "plan-") || d.str("metadata", "user_id") != d.str("client_reference_id") {
				t.Fatalf("bad plan checkout: %s", d.Body)
			}
			subs[id] = &sub{user: d.str("metadata", "user_id"), customer: d.str("customer")}
			pendingInvoice[id] = d.str("invoice")
		case "customer.subscription.created", "customer.subscription.updated", "customer.subscription.deleted":
			s := subs[d.str("id")]
			if s == nil || d.str("customer") != s.customer || d.str("metadata", "user_id") != s.user {
				t.Fatalf("%s for unknown subscription or wrong owner: %s", d.Type, d.Body)
			}
			price := d.str("items", "data", "0", "price", "id")
			if price != "price_pro_monthly" && price != "price_enterprise_monthly" || s.price != "" && price != s.price {
				t.Fatalf("subscription price %q: %s", price, d.Body)
			}
			s.price, s.subPeriodEnd = price, d.num("current_period_end")
			if d.num("current_period_end")-d.num("current_period_start") != 30*86400 {
				t.Fatalf("period is not 30 days: %s", d.Body)
			}
			switch d.Type {
			case "customer.subscription.created":
				if d.str("status") != "active" {
					t.Fatalf("new subscription not active: %s", d.Body)
				}
				s.active = true
			case "customer.subscription.deleted":
				if d.str("status") != "canceled" || !s.active {
					t.Fatalf("bad cancellation: %s", d.Body)
				}
				s.active = false
			}
		case "invoice.paid", "invoice.payment_failed":
			id := d.str("subscription")
			s := subs[id]
			if s == nil || !s.active || d.str("customer") != s.customer || d.str("subscription_details", "metadata", "user_id") != s.user ||
				d.str("lines", "data", "0", "subscription") != id || d.str("lines", "data", "0", "type") != "subscription" ||
				d.str("lines", "data", "0", "price", "id") != s.price {
				t.Fatalf("%s inconsistent with its subscription: %s", d.Type, d.Body)
			}
			start, end := d.num("lines", "data", "0", "period", "start"), d.num("lines", "data", "0", "period", "end")
			if d.Type == "invoice.payment_failed" {
				if d.at("paid") != false || d.str("status") != "open" || d.num("attempt_count") < 1 {
					t.Fatalf("bad failed invoice: %s", d.Body)
				}
				failed++
				continue
			}
			if d.at("paid") != true || d.str("status") != "paid" || d.num("amount_paid") <= 0 || end-start != 30*86400 {
				t.Fatalf("bad paid invoice: %s", d.Body)
			}
			switch d.str("billing_reason") {
			case "subscription_create":
				if d.str("id") != pendingInvoice[id] || s.periodEnd != 0 {
					t.Fatalf("first invoice %s, checkout said %s", d.str("id"), pendingInvoice[id])
				}
			case "subscription_cycle":
				if start != s.periodEnd {
					t.Fatalf("renewal period starts %d, previous ended %d: %s", start, s.periodEnd, d.Body)
				}
				cycles++
				if s.subPeriodEnd < end {
					outOfOrder++ // invoice arrived before the subscription update that moves the period
				}
			default:
				t.Fatalf("billing_reason %q", d.str("billing_reason"))
			}
			s.periodEnd = end
		}
	}
	if cycles == 0 || outOfOrder == 0 || outOfOrder == cycles || failed == 0 {
		t.Errorf("renewals %d, out of order %d, failed %d; want some of each", cycles, outOfOrder, failed)
	}
}

func TestLoadGeneratorEmitsUniqueIndependentPackCheckouts(t *testing.T) {
	g := NewLoadGenerator(1, t0)
	ids := map[string]bool{}
	for range 5000 {
		ev := g.Next()
		if ev.Type != "checkout.session.completed" || ev.Redelivery || ids[ev.ID] || !bytes.Contains(ev.Body, []byte(`"mode": "payment"`)) {
			t.Fatalf("load event %s %s redelivery=%v duplicate=%v", ev.ID, ev.Type, ev.Redelivery, ids[ev.ID])
		}
		ids[ev.ID] = true
	}
	if len(g.history)+len(g.purchases) != 0 {
		t.Errorf("load generator keeps state: %d events, %d purchases", len(g.history), len(g.purchases))
	}
}

func TestWallClockCreated(t *testing.T) {
	g := NewGenerator(5, t0)
	now := time.Date(2031, 1, 2, 3, 4, 5, 0, time.UTC)
	g.Now = func() time.Time { return now }
	for range 50 {
		if c := decode(t, g.Next()).m["created"].(float64); int64(c) != now.Unix() {
			t.Fatalf("created %v, want wall time %d", c, now.Unix())
		}
	}
}

func TestSignAt(t *testing.T) {
	body := NewGenerator(1, t0).Next().Body
	opts := webhook.ConstructEventOptions{IgnoreAPIVersionMismatch: true}
	if _, err := webhook.ConstructEventWithOptions(body, SignAt(body, secret, time.Now().Add(-time.Minute)), secret, opts); err != nil {
		t.Fatalf("recent signature rejected: %v", err)
	}
	if _, err := webhook.ConstructEventWithOptions(body, SignAt(body, secret, time.Now().Add(-time.Hour)), secret, opts); err == nil {
		t.Error("hour-old signature accepted")
	}
	if _, err := webhook.ConstructEventWithOptions(body, Sign(body, "whsec_other"), secret, opts); err == nil {
		t.Error("signature with the wrong secret accepted")
	}
	tampered := bytes.Replace(body, []byte(`"livemode": false`), []byte(`"livemode": true `), 1)
	if _, err := webhook.ConstructEventWithOptions(tampered, Sign(body, secret), secret, opts); err == nil {
		t.Error("tampered body accepted")
	}
	h := SignAt(body, secret, time.Unix(1700000000, 0))
	if !strings.HasPrefix(h, "t=1700000000,v1=") || len(h) != len("t=1700000000,v1=")+64 {
		t.Errorf("header %q", h)
	}
}

func TestMistakesOnlyWhenAsked(t *testing.T) {
	count := func(mistakes bool) int {
		g := NewGenerator(11, t0)
		g.Mistakes = mistakes
		n := 0
		for range 3000 {
			ev := g.Next()
			if ev.Type != "checkout.session.completed" {
				continue
			}
			d := decode(t, ev)
			if d.str("client_reference_id") == "" || d.str("metadata", "type") == "credits-legacy-promo" {
				n++
			}
		}
		return n
	}
	if n := count(false); n != 0 {
		t.Fatalf("%d mistaken checkouts without Mistakes", n)
	}
	if n := count(true); n == 0 {
		t.Fatal("no mistaken checkout with Mistakes set")
	}
}
