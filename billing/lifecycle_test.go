package billing_test

import (
	"context"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	. "creditdesk/billing"
)

const day = 24 * time.Hour

// Shapes of the objects that moved between API versions. v2023 is the
// shape stripe-go v76 was built for; basil (2025-03-31) and later moved an
// invoice's subscription, metadata, paid flag and line prices under
// "parent" and "pricing", and a subscription's period onto its items.
type shape struct {
	version string
	invoice func(id, sub, user, price string, start, end time.Time, reason string) M
	sub     func(id, user, price, status string, end time.Time) M
}

var v2023 = shape{
	version: "2023-10-16",
	invoice: func(id, sub, user, price string, start, end time.Time, reason string) M {
		return M{"id": id, "object": "invoice", "subscription": sub, "customer": "cus_" + user, "billing_reason": reason,
			"paid": true, "status": "paid", "amount_paid": 4900, "currency": "usd", "payment_intent": "pi_" + id,
			"subscription_details": M{"metadata": M{"user_id": user}},
			"period_start":         start.Add(-30 * day).Unix(), "period_end": start.Unix(),
			"lines": M{"object": "list", "data": []any{M{"id": "il_" + id, "type": "subscription", "subscription": sub,
				"price": M{"id": price}, "period": M{"start": start.Unix(), "end": end.Unix()}}}}}
	},
	sub: func(id, user, price, status string, end time.Time) M {
		return M{"id": id, "object": "subscription", "customer": "cus_" + user, "status": status,
			"current_period_end": end.Unix(), "metadata": M{"user_id": user},
			"items": M{"object": "list", "data": []any{M{"id": "si_1", "price": M{"id": price, "product": "prod_pro"}}}}}
	},
}

var basil = shape{
	version: "2025-03-31.basil",
	invoice: func(id, sub, user, price string, start, end time.Time, reason string) M {
		return M{"id": id, "object": "invoice", "customer": "cus_" + user, "billing_reason": reason, "status": "paid",
			"amount_paid": 4900, "currency": "usd",
			"parent":       M{"type": "subscription_details", "subscription_details": M{"subscription": sub, "metadata": M{"user_id": user}}},
			"period_start": start.Add(-30 * day).Unix(), "period_end": start.Unix(),
			"lines": M{"object": "list", "data": []any{M{"id": "il_" + id,
				"parent":  M{"type": "subscription_item_details", "subscription_item_details": M{"subscription": sub}},
				"pricing": M{"type": "price_details", "price_details": M{"price": price, "product": "prod_pro"}},
				"period":  M{"start": start.Unix(), "end": end.Unix()}}}}}
	},
	sub: func(id, user, price, status string, end time.Time) M {
		return M{"id": id, "object": "subscription", "customer": "cus_" + user, "status": status, "metadata": M{"user_id": user},
			"items": M{"object": "list", "data": []any{M{"id": "si_1", "current_period_end": end.Unix(),
				"price": M{"id": price, "product": "prod_pro"}}}}}
	},
}

// A shape nobody has seen yet: the 2023 fields under a future version name.
var future = shape{version: "2031-07-01.unseen", invoice: v2023.invoice, sub: v2023.sub}

type lifecycle struct {
	events [][]byte
	now    time.Time
}

// subscriptionLifecycle: subscribe to pro, renew twice, buy a top-up, the
// top-up is refunded, the plan is cancelled.
func subscriptionLifecycle(sh shape) lifecycle {
	p1 := t0
	p2, p3, p4 := p1.Add(30*day), p1.Add(60*day), p1.Add(90*day)
	v := sh.version
	cancelAt := p3.Add(10 * day)
	sub := func(status string, end time.Time) M { return sh.sub("sub_1", "u1", "price_pro_monthly", status, end) }
	deleted := sub("canceled", p4)
	deleted["canceled_at"], deleted["ended_at"] = cancelAt.Unix(), cancelAt.Unix()
	return lifecycle{now: cancelAt.Add(time.Hour), events: [][]byte{
		payload("evt_co", "checkout.session.completed", p1, v, session("cs_plan", "u1", M{"user_id": "u1", "type": "plan-pro"},
			M{"mode": "subscription", "subscription": "sub_1", "payment_intent": nil})),
		payload("evt_sc", "customer.subscription.created", p1.Add(time.Second), v, sub("active", p2)),
		payload("evt_i1", "invoice.paid", p1.Add(2*time.Second), v, sh.invoice("in_1", "sub_1", "u1", "price_pro_monthly", p1, p2, "subscription_create")),
		payload("evt_su2", "customer.subscription.updated", p2, v, sub("active", p3)),
		payload("evt_i2", "invoice.paid", p2.Add(time.Second), v, sh.invoice("in_2", "sub_1", "u1", "price_pro_monthly", p2, p3, "subscription_cycle")),
		payload("evt_top", "checkout.session.completed", p2.Add(day), v, session("cs_top", "u1", M{"user_id": "u1", "type": "credits-topup"}, nil)),
		payload("evt_su3", "customer.subscription.updated", p3, v, sub("active", p4)),
		payload("evt_i3", "invoice.paid", p3.Add(time.Second), v, sh.invoice("in_3", "sub_1", "u1", "price_pro_monthly", p3, p4, "subscription_cycle")),
		payload("evt_rf", "charge.refunded", p3.Add(2*day), v, M{"id": "ch_top", "object": "charge", "payment_intent": "pi_cs_top",
			"amount": 2000, "amount_refunded": 2000, "refunded": true, "customer": "cus_u1"}),
		payload("evt_del", "customer.subscription.deleted", cancelAt, v, deleted),
	}}
}

// packLifecycle: a pack bought with manual capture, captured, half
// refunded, then the rest refunded.
func packLifecycle() lifecycle {
	s := session("cs_pack", "u2", M{"user_id": "u2", "credits": "800", "capture": "manual"}, M{"payment_status": "unpaid"})
	return lifecycle{now: t0.Add(2 * day), events: [][]byte{
		payload("evt_pco", "checkout.session.completed", t0, "2023-10-16", s),
		payload("evt_pcap", "payment_intent.succeeded", t0.Add(time.Hour), "2023-10-16",
			M{"id": "pi_cs_pack", "object": "payment_intent", "capture_method": "manual", "status": "succeeded", "customer": "cus_u2"}),
		payload("evt_pr1", "charge.refunded", t0.Add(2*time.Hour), "2023-10-16", M{"id": "ch_pack", "payment_intent": "pi_cs_pack",
			"amount": 2000, "amount_refunded": 1000, "refunded": false}),
		payload("evt_pr2", "charge.refunded", t0.Add(3*time.Hour), "2023-10-16", M{"id": "ch_pack", "payment_intent": "pi_cs_pack",
			"amount": 2000, "amount_refunded": 2000, "refunded": true}),
	}}
}

type outcome struct {
	balance int64
	tier    string
	ledger  string
}

// play delivers the events of lc in order to a new Service over the store
// that newH makes, and returns the user's outcome.
func play(t *testing.T, newH func(*testing.T, Catalog) *harness, lc lifecycle, order []int, user string) outcome {
	t.Helper()
	h := newH(t, testCatalog())
	d := h.playStory(lc, order, user)
	for _, id := range []string{"evt_co", "evt_i1", "evt_i3", "evt_del", "evt_rf", "evt_pcap", "evt_pr2"} {
		if ev, err := h.st.EventByID(id); err == nil && ev.State != StateApplied {
			t.Fatalf("order %v: %s ended %s: %s", order, id, ev.State, ev.Reason)
		}
	}
	// The ledger compared is what each kind of entry adds up to: a full
	// refund delivered before the partial one it includes claws back in one
	// entry instead of two, for the same total.
	return outcomeOf(d, true)
}

func TestSubscriptionLifecycleInOrder(t *testing.T) {
	for _, sh := range []shape{v2023, basil, future} {
		t.Run(sh.version, func(t *testing.T) {
			lc := subscriptionLifecycle(sh)
			// Three plan grants; the first two expire at their period end,
			// the third at cancellation; the top-up is refunded; the free
			// allowance is what is left.
			want := outcome{balance: 100, tier: "free",
				ledger: "expire-7500 free+100 pack+1000 plan+7500 refund-1000"}
			for name, newH := range map[string]func(*testing.T, Catalog) *harness{"bbolt": newHarness, "memory": newMemHarness} {
				if got := play(t, newH, lc, []int{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}, "u1"); got != want {
					t.Fatalf("%s: got  %+v\nwant %+v", name, got, want)
				}
			}
		})
	}
}

func TestRenewalShowsPlanCreditsPlusCarriedTopUp(t *testing.T) {
	h := newHarness(t, testCatalog())
	lc := subscriptionLifecycle(v2023)
	h.now = t0.Add(35 * day) // in the second period
	for _, i := range []int{0, 1, 2, 5, 3, 4} {
		h.send(lc.events[i])
	}
	h.svc.ExpireDue()
	d := h.user("u1")
	if d.Spendable != 2500+1000 || d.User.Tier != "pro" {
		t.Fatalf("after renewal: %d credits, tier %s; want 3,500 (2,500 plan + 1,000 top-up carried over), pro", d.Spendable, d.User.Tier)
	}
	if d.Plan == nil || d.Plan.Status != "active" || !d.Plan.PeriodEnd.Equal(t0.Add(60*day)) {
		t.Fatalf("plan %+v", d.Plan)
	}
	// Spending takes the expiring plan credits first, so the top-up
	// survives the period end.
	if _, err := h.svc.Adjust(context.Background(), Adjustment{User: "u1", Delta: -3000, Reason: "usage", Key: "spend1"}); err != nil {
		t.Fatal(err)
	}
	h.now = t0.Add(61 * day)
	if d := h.user("u1"); d.Spendable != 500 {
		t.Fatalf("after the period ended: %d, want the 500 top-up credits left", d.Spendable)
	}
	h.verify()
}

// anyOrders plays lc in runs random orders, each with up to three
// redeliveries anywhere, and fails at the first whose outcome is not want.
func anyOrders(t *testing.T, newH func(*testing.T, Catalog) *harness, lc lifecycle, user string, want outcome, runs int, seed uint64) {
	t.Helper()
	rng := rand.New(rand.NewPCG(seed, 7))
	for run := range runs {
		order := rng.Perm(len(lc.events))
		for range rng.IntN(4) { // redeliveries anywhere
			order = slices.Insert(order, rng.IntN(len(order)+1), rng.IntN(len(lc.events)))
		}
		if got := play(t, newH, lc, order, user); got != want {
			t.Fatalf("run %d, order %v:\ngot  %+v\nwant %+v", run, order, got, want)
		}
	}
}

// On bbolt, a few orders: the store does what the memory one does.
func TestSubscriptionLifecycleAnyOrderWithDuplicates(t *testing.T) {
	lc := subscriptionLifecycle(v2023)
	want := play(t, newHarness, lc, []int{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}, "u1")
	runs := 60
	if testing.Short() {
		runs = 10
	}
	anyOrders(t, newHarness, lc, "u1", want, runs, 42)
}

// In memory, thousands of orders of both lifecycles: the rules and the
// ledger maths are order-independent and idempotent.
func TestLifecyclesInMemoryAnyOrderWithDuplicates(t *testing.T) {
	runs := 2500
	if testing.Short() {
		runs = 250
	}
	for _, sh := range []shape{v2023, basil} {
		lc := subscriptionLifecycle(sh)
		want := play(t, newMemHarness, lc, []int{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}, "u1")
		anyOrders(t, newMemHarness, lc, "u1", want, runs, 43)
	}
	anyOrders(t, newMemHarness, packLifecycle(), "u2", outcome{balance: 0, tier: "free", ledger: "pack+800 refund-800"}, runs, 44)
}

func TestPackLifecycleEveryOrder(t *testing.T) {
	lc := packLifecycle()
	want := outcome{balance: 0, tier: "free", ledger: "pack+800 refund-800"}
	var perms func(prefix, rest []int)
	n := 0
	perms = func(prefix, rest []int) {
		if len(rest) == 0 {
			order := append(slices.Clone(prefix), prefix[0]) // and a redelivery
			if got := play(t, newHarness, lc, order, "u2"); got != want {
				t.Fatalf("order %v: got %+v want %+v", order, got, want)
			}
			n++
			return
		}
		for i := range rest {
			perms(append(slices.Clone(prefix), rest[i]), append(slices.Clone(rest[:i]), rest[i+1:]...))
		}
	}
	perms(nil, []int{0, 1, 2, 3})
	if n != 24 {
		t.Fatalf("%d orders", n)
	}
}

func TestManualCaptureGrantsAtCaptureNotAuthorization(t *testing.T) {
	h := newHarness(t, testCatalog())
	lc := packLifecycle()
	h.send(lc.events[0])
	d := h.user("u2")
	if d.Spendable != 0 || d.Purchases[0].Status != "authorized" {
		t.Fatalf("authorization granted credits: %d, %s", d.Spendable, d.Purchases[0].Status)
	}
	h.send(lc.events[1])
	if d := h.user("u2"); d.Spendable != 800 || d.Purchases[0].Status != "paid" {
		t.Fatalf("capture: %d, %s", d.Spendable, d.Purchases[0].Status)
	}
}

func TestLateInvoiceForEndedPeriodExpiresAtOnce(t *testing.T) {
	h := newHarness(t, testCatalog())
	lc := subscriptionLifecycle(v2023)
	h.now = t0.Add(45 * day) // period 1 ended 15 days ago
	h.send(lc.events[0])
	h.send(lc.events[2]) // period 1's invoice, late
	d := h.user("u1")
	if d.Spendable != 0 {
		t.Fatalf("credits of an ended period count: %d", d.Spendable)
	}
	if d.Entries[0].Kind != "expire" || d.Entries[0].Delta != -2500 {
		t.Fatalf("no expiry entry: %+v", d.Entries)
	}
}

func TestInvoiceBeforeCheckoutWaitsThenApplies(t *testing.T) {
	h := newHarness(t, testCatalog())
	lc := subscriptionLifecycle(v2023)
	h.now = t0.Add(day)
	inv := v2023.invoice("in_x", "sub_1", "", "price_pro_monthly", t0, t0.Add(30*day), "subscription_create")
	delete(inv, "subscription_details") // no user on the invoice itself
	inv["customer"] = "cus_u1"
	h.send(payload("evt_ix", "invoice.paid", t0, "2023-10-16", inv))
	if rec := h.event("evt_ix"); rec.State != StateWaiting {
		t.Fatalf("invoice for an unknown subscription: %s", rec.State)
	}
	if st := h.svc.Stats(); st.Waiting != 1 {
		t.Fatalf("waiting count %d", st.Waiting)
	}
	items, _ := h.svc.Attention()
	if len(items) != 1 || items[0].Kind != AttnWaiting || items[0].Action != "retry" {
		t.Fatalf("attention %+v", items)
	}
	h.send(lc.events[0]) // the checkout links cus_u1 → u1
	if rec := h.event("evt_ix"); rec.State != StateApplied {
		t.Fatalf("after the checkout: %s %s", rec.State, rec.Reason)
	}
	if d := h.user("u1"); d.Spendable != 2500 {
		t.Fatalf("balance %d", d.Spendable)
	}
}

func TestPurchaseTypeResolution(t *testing.T) {
	cat := testCatalog()
	cat.ProductMap = map[string]string{"price_env": "topup", "prod_mapped": "pro"}
	r := Rules{Catalog: cat}
	items := func(li ...LineItem) *LineItems { return &LineItems{Items: li} }
	cases := []struct {
		name  string
		md    M
		items *LineItems
		want  string
		cred  int64
	}{
		{"metadata type suffix", M{"type": "credits-topup"}, nil, "topup", 1000},
		{"metadata plan", M{"type": "plan-pro"}, nil, "pro", 2500},
		{"ad-hoc credits", M{"credits": "42"}, nil, "credits", 42},
		{"ad-hoc tokens", M{"tokens": "7"}, nil, "credits", 7},
		{"product metadata", M{}, items(LineItem{PriceID: "price_x", ProductID: "prod_x", ProductType: "plan-pro"}), "pro", 2500},
		{"product map by price", M{}, items(LineItem{PriceID: "price_env", ProductID: "prod_x"}), "topup", 1000},
		{"product map by product", M{}, items(LineItem{PriceID: "price_x", ProductID: "prod_mapped"}), "pro", 2500},
		{"catalog price id", M{}, items(LineItem{PriceID: "price_topup"}), "topup", 1000},
		{"session type beats product", M{"type": "topup"}, items(LineItem{ProductType: "pro"}), "topup", 1000},
	}
	for _, c := range cases {
		got, ok := r.PurchaseType(ObjOf(M{"metadata": map[string]any(c.md)}), c.items)
		if !ok || got.Type != c.want || got.Credits != c.cred {
			t.Errorf("%s: got %+v %v, want %s/%d", c.name, got, ok, c.want, c.cred)
		}
	}
	if _, ok := r.PurchaseType(ObjOf(M{"metadata": map[string]any{"type": "mystery"}}), nil); ok {
		t.Error("an unknown type resolved")
	}
}

func TestUnresolvedPurchaseIsAssignedOnce(t *testing.T) {
	h := newHarness(t, testCatalog())
	h.send(payload("evt_u", "checkout.session.completed", t0, "2023-10-16", session("cs_u", "u3", M{"user_id": "u3", "type": "mystery"}, nil)))
	items, _ := h.svc.Attention()
	if len(items) != 1 || items[0].Kind != AttnUnresolved || items[0].Action != "assign" {
		t.Fatalf("attention %+v", items)
	}
	if n := h.svc.Stats().Attention; n != 1 {
		t.Fatalf("header count %d, want 1", n)
	}
	if err := h.svc.AssignType(context.Background(), "cs_u", "nonsense"); err == nil {
		t.Fatal("assigned a type not in the catalog")
	}
	if err := h.svc.AssignType(context.Background(), "cs_u", "topup"); err != nil {
		t.Fatal(err)
	}
	h.svc.ProcessPending(context.Background())
	if err := h.svc.AssignType(context.Background(), "cs_u", "topup"); err == nil {
		t.Fatal("assigned twice")
	}
	if d := h.user("u3"); d.Spendable != 1000 {
		t.Fatalf("balance %d", d.Spendable)
	}
	if items, _ := h.svc.Attention(); len(items) != 0 || h.svc.Stats().Attention != 0 {
		t.Fatalf("still in attention: %+v", items)
	}
	h.verify()
}

func TestUnlinkedPurchaseMovesWhenLinked(t *testing.T) {
	h := newHarness(t, testCatalog())
	s := session("cs_n", "x", M{"credits": "300"}, nil)
	s["customer"] = "cus_anon"
	h.send(payload("evt_n", "checkout.session.completed", t0, "2023-10-16", s))
	if d := h.user("cus_anon"); !d.User.Unlinked || d.Spendable != 300 {
		t.Fatalf("unlinked record %+v", d.User)
	}
	if err := h.svc.LinkUser(context.Background(), "cus_anon", "u9"); err != nil {
		t.Fatal(err)
	}
	if d := h.user("u9"); d.Spendable != 300 || d.User.CustomerID != "cus_anon" || len(d.Purchases) != 1 {
		t.Fatalf("linked user %+v, %d credits, %d purchases", d.User, d.Spendable, len(d.Purchases))
	}
	if d := h.user("cus_anon"); d.Spendable != 0 || d.User.Unlinked {
		t.Fatalf("source kept credits: %d", d.Spendable)
	}
	// Later events for that customer now reach the user.
	h.send(payload("evt_n2", "checkout.session.completed", t0, "2023-10-16", map[string]any(func() M {
		s2 := session("cs_n2", "x", M{"credits": "5"}, nil)
		s2["customer"] = "cus_anon"
		return s2
	}())))
	if d := h.user("u9"); d.Spendable != 305 {
		t.Fatalf("after link: %d", d.Spendable)
	}
	h.verify()
}

func TestDisputeLostClawsBackAndFlags(t *testing.T) {
	h := newHarness(t, testCatalog())
	h.send(payload("evt_p", "checkout.session.completed", t0, "2023-10-16", session("cs_d", "u4", M{"user_id": "u4", "type": "topup"}, nil)))
	h.send(payload("evt_dc", "charge.dispute.created", t0, "2023-10-16", M{"id": "dp_1", "charge": "ch_d", "payment_intent": "pi_cs_d", "reason": "fraudulent", "status": "needs_response"}))
	items, _ := h.svc.Attention()
	if len(items) != 1 || items[0].Kind != AttnDisputed || items[0].User != "u4" {
		t.Fatalf("attention %+v", items)
	}
	h.send(payload("evt_dl", "charge.dispute.closed", t0, "2023-10-16", M{"id": "dp_1", "charge": "ch_d", "payment_intent": "pi_cs_d", "status": "lost"}))
	if d := h.user("u4"); d.Spendable != 0 {
		t.Fatalf("lost dispute left %d", d.Spendable)
	}
	if items, _ := h.svc.Attention(); len(items) != 0 {
		t.Fatalf("dispute flag stays: %+v", items)
	}
}

func TestPastDueFlaggedWithoutCreditChange(t *testing.T) {
	h := newHarness(t, testCatalog())
	lc := subscriptionLifecycle(v2023)
	h.now = t0.Add(day)
	h.send(lc.events[0])
	h.send(lc.events[2])
	inv := v2023.invoice("in_f", "sub_1", "u1", "price_pro_monthly", t0.Add(30*day), t0.Add(60*day), "subscription_cycle")
	inv["paid"], inv["status"], inv["attempt_count"] = false, "open", 1
	h.send(payload("evt_f", "invoice.payment_failed", t0.Add(30*day), "2023-10-16", inv))
	items, _ := h.svc.Attention()
	if len(items) != 1 || items[0].Kind != AttnPastDue {
		t.Fatalf("attention %+v", items)
	}
	if d := h.user("u1"); d.Spendable != 2500 {
		t.Fatalf("balance changed: %d", d.Spendable)
	}
}

func TestCatalogParsesTheDocumentedShapeAndNamesBadLines(t *testing.T) {
	c, err := ParseCatalog("creditdesk.toml", `free_credits = 100
[plans.pro]
monthly_credits = 2500
rollover = false
price_ids = ["price_pro_monthly"]
[packs.topup]
credits = 1000
price_ids = ["price_topup"]
`)
	if err != nil {
		t.Fatal(err)
	}
	if c.Plans["pro"].MonthlyCredits != 2500 || c.Packs["topup"].Credits != 1000 || c.FreeCredits != 100 {
		t.Fatalf("%+v", c)
	}
	if n, ok := c.ByPrice("price_topup"); !ok || n != "topup" {
		t.Fatal("price id not mapped")
	}
	_, err = ParseCatalog("creditdesk.toml", "[plans.pro]\nmonthly_credits = \"lots\"\n")
	if err == nil || err.Error() != "creditdesk.toml:2: plans.pro.monthly_credits must be a whole number, not a string" {
		t.Fatalf("type error: %v", err)
	}
	_, err = ParseCatalog("creditdesk.toml", "[plans.pro]\nmonthly_credits = 5\nprice_ids = [\"price_a\"]\n[packs.topup]\ncredits = 5\nprice_ids = [\"price_a\"]\n")
	if err == nil || !strings.Contains(err.Error(), "price price_a is listed under both pro and topup") {
		t.Fatalf("shared price id: %v", err)
	}
	_, err = ParseCatalog("creditdesk.toml", "free_credits = 100\nrollover = = true\n")
	if err == nil || !strings.Contains(err.Error(), "creditdesk.toml:2") {
		t.Fatalf("syntax error without line: %v", err)
	}
	_, err = ParseCatalog("creditdesk.toml", "[packs.topup]\ncredits = 10\nprice = 3\n")
	if err == nil || !strings.Contains(err.Error(), "packs.topup.price") {
		t.Fatalf("unknown key: %v", err)
	}
}

func TestEnvPriceMappingsOfTheStarterKits(t *testing.T) {
	c := testCatalog()
	err := c.ApplyEnv([]string{
		`STRIPE_PRODUCT_MAP={"price_a":"plan-pro"}`, "STRIPE_TOPUP_PRICE_ID=price_b", "STRIPE_PRICE_ID_PRO=price_c",
		"CHECKOUT_URL_TOPUP=https://buy.stripe.com/x"})
	if err != nil {
		t.Fatal(err)
	}
	for price, want := range map[string]string{"price_a": "pro", "price_b": "topup", "price_c": "pro"} {
		if n, ok := c.ByPrice(price); !ok || n != want {
			t.Errorf("%s → %q, want %s", price, n, want)
		}
	}
	if c.PaymentLinks["topup"] != "https://buy.stripe.com/x" {
		t.Errorf("payment links %v", c.PaymentLinks)
	}
	c2 := testCatalog()
	if err := c2.ApplyEnv([]string{"STRIPE_PRODUCT_MAP=price_x=topup, prod_y=pro"}); err != nil {
		t.Fatal(err)
	}
	if n, _ := c2.ByPrice("prod_y"); n != "pro" {
		t.Errorf("id=type form: %q", n)
	}
	if err := c2.ApplyEnv([]string{"STRIPE_PRODUCT_MAP=garbage"}); err == nil {
		t.Error("bad product map accepted")
	}
}
