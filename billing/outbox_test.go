package billing_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	. "creditdesk/billing"
	"creditdesk/internal/testkit"
	"creditdesk/storage"
)

var allKinds = AppEndpoint{ID: "ep_all", URL: "https://app.example/hooks", Events: MessageKinds}

func outboxConfig() OutboxConfig {
	return OutboxConfig{Endpoints: []AppEndpoint{allKinds, {ID: "ep_default", URL: "https://other.example/hooks"}},
		LowCredits: 50, LowCreditsByTier: map[string]int64{"pro": 200}}
}

func newOutboxHarness(t *testing.T, st testStore) *harness {
	h := &harness{t: t, st: st, now: t0}
	h.svc = NewService(st, Options{Rules: Rules{Catalog: testCatalog()}, Clock: func() time.Time { return h.now },
		Outbox: outboxConfig()})
	h.svc.SetWaitLimit(365 * day)
	return h
}

func bboltStore(t *testing.T) testStore {
	st := testkit.TempStore(t)
	return st
}

// outbox returns the messages to one endpoint, oldest first, with their
// bodies decoded.
func (h *harness) outbox(endpoint string) []MessageBody {
	h.t.Helper()
	ms, err := h.st.OutboxPage(0, 10000, false)
	if err != nil {
		h.t.Fatal(err)
	}
	var out []MessageBody
	for _, m := range slices.Backward(ms) {
		if m.Endpoint != endpoint {
			continue
		}
		var b MessageBody
		if err := json.Unmarshal(m.Body, &b); err != nil {
			h.t.Fatal(err)
		}
		if b.Type != m.Type || m.State != DeliveryPending || m.ID == "" {
			h.t.Fatalf("message %+v: body type %s", m, b.Type)
		}
		out = append(out, b)
	}
	return out
}

func kinds(ms []MessageBody) string {
	var k []string
	for _, m := range ms {
		k = append(k, m.Type)
	}
	return strings.Join(k, " ")
}

// A subscription's life, a top-up, its refund, manual and API changes:
// each makes the messages the README lists, in the order they happened,
// with the balance and tier after each, on bbolt and in memory alike.
func TestOutboxMessagesOfALifecycle(t *testing.T) {
	for name, st := range map[string]func(*testing.T) testStore{"bbolt": bboltStore, "memory": func(*testing.T) testStore { return newMemStore() }} {
		t.Run(name, func(t *testing.T) {
			h := newOutboxHarness(t, st(t))
			lc := subscriptionLifecycle(v2023)
			h.now = lc.now
			for _, ev := range lc.events {
				h.send(ev)
			}
			got := h.outbox("ep_all")
			// The clock stands at the story's end, so each past period's
			// plan credits expire as soon as they are granted.
			want := "purchase.completed plan.started " + // checkout, subscription created
				"purchase.completed credits.granted credits.expired " + // invoice 1: its purchase, grant, expiry
				"plan.renewed " +
				"purchase.completed credits.granted credits.expired " + // invoice 2
				"purchase.completed credits.granted " + // the top-up
				"plan.renewed " +
				"purchase.completed credits.granted " + // invoice 3, period still running
				"purchase.refunded credits.clawed_back " + // the top-up refunded
				"plan.canceled credits.expired credits.granted" // cancellation: plan credits expire, free allowance
			if kinds(got) != want {
				t.Fatalf("messages\n got %s\nwant %s", kinds(got), want)
			}
			for _, m := range got {
				if m.Data.UserID != "u1" || m.Data.StripeEvent == "" || !strings.HasPrefix(m.Data.StripeEvent, "evt_") {
					t.Fatalf("message %s: %+v", m.Type, m.Data)
				}
			}
			first := got[3] // the first plan grant
			if first.Data.Entry == nil || first.Data.Entry.Delta != 2500 || first.Data.Balance != 2500 || first.Data.Tier != "free" && first.Data.Tier != "pro" {
				t.Fatalf("first grant %+v", first.Data)
			}
			last := got[len(got)-1]
			if last.Data.Balance != 100 || last.Data.Tier != "free" || last.Data.Entry.Kind != KindFree {
				t.Fatalf("last message %+v", last.Data)
			}
			if c := got[len(got)-3]; c.Data.Subscription == nil || c.Data.Subscription.ID != "sub_1" || c.Data.Plan != "pro" || c.Data.StripeEvent != "evt_del" {
				t.Fatalf("plan.canceled %+v", c.Data)
			}

			// Operator and API changes; credits.spent only where asked for.
			ctx := context.Background()
			if _, err := h.svc.Adjust(ctx, Adjustment{User: "u1", Delta: 400, Reason: "goodwill", Create: true, Key: "g1"}); err != nil {
				t.Fatal(err)
			}
			if _, err := h.svc.Adjust(ctx, Adjustment{User: "u1", Delta: -100, Reason: "oops", Create: true, Key: "r1"}); err != nil {
				t.Fatal(err)
			}
			if _, err := h.svc.Spend(ctx, "app", "u1", 380, "render", "s1"); err != nil {
				t.Fatal(err)
			}
			// A replayed spend is the same entry: no second message.
			if _, err := h.svc.Spend(ctx, "app", "u1", 380, "render", "s1"); err != nil {
				t.Fatal(err)
			}
			tail := h.outbox("ep_all")[len(got):]
			if kinds(tail) != "credits.granted credits.revoked credits.spent credits.low" {
				t.Fatalf("after adjust and spend: %s", kinds(tail))
			}
			if low := tail[3]; low.Data.Balance != 20 || low.Data.Threshold != 50 {
				t.Fatalf("credits.low %+v", low.Data)
			}
			if d := kinds(h.outbox("ep_default")); strings.Contains(d, "credits.spent") || !strings.HasSuffix(d, "credits.granted credits.revoked credits.low") {
				t.Fatalf("default endpoint got %s", d)
			}
			c, err := h.st.Counts()
			if err != nil || c.OutboxPending != uint64(len(h.outbox("ep_all"))+len(h.outbox("ep_default"))) {
				t.Fatalf("counts %+v %v", c, err)
			}
			h.verify()
		})
	}
}

// A dispute flags the purchase: dispute.opened and attention.added, once
// (the flag raised again is not new).
func TestOutboxDisputeAndAttention(t *testing.T) {
	h := newOutboxHarness(t, bboltStore(t))
	h.send(payload("evt_p", "checkout.session.completed", t0, "2023-10-16", session("cs_d", "u4", M{"user_id": "u4", "type": "topup"}, nil)))
	dispute := payload("evt_dc", "charge.dispute.created", t0, "2023-10-16", M{"id": "dp_1", "charge": "ch_d", "payment_intent": "pi_cs_d", "reason": "fraudulent", "status": "needs_response"})
	h.send(dispute)
	h.send(payload("evt_dc2", "charge.dispute.updated", t0, "2023-10-16", M{"id": "dp_1", "charge": "ch_d", "payment_intent": "pi_cs_d", "reason": "fraudulent", "status": "under_review"}))
	got := h.outbox("ep_all")
	if kinds(got) != "purchase.completed credits.granted dispute.opened attention.added" {
		t.Fatalf("messages %s", kinds(got))
	}
	if d := got[2].Data; d.Attention == nil || d.Attention.Kind != AttnDisputed || d.StripeEvent != "evt_dc" || d.Balance != 1000 {
		t.Fatalf("dispute.opened %+v", d)
	}
}

// The plan transitions that the lifecycle does not show, from the pure
// function alone.
func TestMessagesForPlanTransitions(t *testing.T) {
	cfg := OutboxConfig{Features: func(_ ProductState, tier string) map[string]any { return map[string]any{"tier_" + tier: true} }}
	u := User{ID: "u1", Tier: "team", Balance: 7}
	sub := func(plan, status string, end time.Time) *Subscription {
		return &Subscription{ID: "sub_1", UserID: "u1", Plan: plan, Status: status, PeriodEnd: end}
	}
	for _, c := range []struct {
		name     string
		old, new *Subscription
		want     string
	}{
		{"new active", nil, sub("pro", "active", t0), "plan.started"},
		{"upgrade", sub("pro", "active", t0), sub("team", "active", t0), "plan.changed"},
		{"payment failed", sub("pro", "active", t0), sub("pro", "past_due", t0), "plan.past_due"},
		{"recovered", sub("pro", "past_due", t0), sub("pro", "active", t0.Add(30*day)), "plan.renewed"},
		{"canceled", sub("pro", "active", t0), sub("pro", "canceled", t0), "plan.canceled"},
		{"canceled again", sub("pro", "canceled", t0), sub("pro", "canceled", t0), ""},
		{"incomplete", nil, sub("pro", "incomplete", t0), ""},
		{"nothing new", sub("pro", "active", t0), sub("pro", "active", t0), ""},
	} {
		ms := cfg.MessagesFor(Change{Event: "evt_1", OldSub: c.old, NewSub: c.new}, u, nil)
		var got []string
		for _, m := range ms {
			got = append(got, m.Type)
			if m.Data.UserID != "u1" || m.Data.Tier != "team" || m.Data.Balance != 7 || m.Data.StripeEvent != "evt_1" ||
				m.Data.Features["tier_team"] != true || m.Data.Plan != c.new.Plan {
				t.Fatalf("%s: %+v", c.name, m.Data)
			}
		}
		if strings.Join(got, " ") != c.want {
			t.Fatalf("%s: %v, want %q", c.name, got, c.want)
		}
	}
	if ms := cfg.MessagesFor(Change{OldSub: sub("pro", "active", t0), NewSub: sub("team", "active", t0)}, u, nil); ms[0].Data.PreviousPlan != "pro" {
		t.Fatalf("plan.changed %+v", ms[0].Data)
	}
}

// A transaction that fails at its commit (a full disk) writes neither the
// ledger entry nor its message; the same grant once the disk has room
// writes both, once.
func TestOutboxIsInTheLedgerTransaction(t *testing.T) {
	var full atomic.Bool
	st := testkit.OpenStore(t, filepath.Join(t.TempDir(), "b.db"), storage.Options{CommitFault: func() error {
		if full.Load() {
			return syscall.ENOSPC
		}
		return nil
	}})
	h := newOutboxHarness(t, st)
	full.Store(true)
	if _, err := h.svc.Adjust(context.Background(), Adjustment{User: "u1", Delta: 100, Reason: "grant", Create: true, Key: "k1"}); !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("grant on a full disk: %v", err)
	}
	if got := kinds(h.outbox("ep_all")); got != "" {
		t.Fatalf("messages after a failed commit: %s", got)
	}
	full.Store(false)
	if _, err := h.svc.Adjust(context.Background(), Adjustment{User: "u1", Delta: 100, Reason: "grant", Create: true, Key: "k1"}); err != nil {
		t.Fatal(err)
	}
	if got := h.outbox("ep_all"); kinds(got) != "credits.granted" || got[0].Data.Balance != 100 {
		t.Fatalf("messages %s", kinds(got))
	}
	select {
	case <-h.svc.OutboxWake():
	default:
		t.Fatal("the commit that wrote a message did not wake the sender")
	}
	h.verify()
}

// An endpoint that fails for the whole retry window: its message is
// failed, the endpoint disabled and flagged; its newer messages wait
// (none lost) until the operator re-enables it, and "resend failed" queues
// the failed one again with the same id.
func TestEndpointDisabledAfterThreeDaysFailing(t *testing.T) {
	h := newOutboxHarness(t, bboltStore(t))
	ctx := context.Background()
	if _, err := h.svc.Adjust(ctx, Adjustment{User: "u1", Delta: 100, Reason: "grant", Create: true, Key: "k1"}); err != nil {
		t.Fatal(err)
	}
	due, _, err := h.svc.DueMessages(10, 1)
	if err != nil || len(due) != 2 {
		t.Fatalf("due %d %v", len(due), err)
	}
	var m OutboxMessage
	for _, d := range due {
		if d.Endpoint == "ep_all" {
			m = d
		}
	}
	fail := func(at time.Time) {
		t.Helper()
		h.now = at
		if err := h.svc.RecordDeliveries([]DeliveryResult{{Seq: m.Seq, At: at, Status: 500, Response: "down", Retry: at.Add(time.Hour)}}); err != nil {
			t.Fatal(err)
		}
	}
	fail(t0)
	fail(t0.Add(71 * time.Hour))
	if items, _ := h.svc.Attention(); len(items) != 0 {
		t.Fatalf("flagged before three days: %+v", items)
	}
	fail(t0.Add(72 * time.Hour))
	items, _ := h.svc.Attention()
	if len(items) != 1 || items[0].Kind != AttnAppWebhook || items[0].ID != "ep_all" || !strings.Contains(items[0].Detail, "https://app.example/hooks") {
		t.Fatalf("attention %+v", items)
	}
	if _, err := h.svc.Adjust(ctx, Adjustment{User: "u1", Delta: 5, Reason: "grant", Create: true, Key: "k2"}); err != nil {
		t.Fatal(err)
	}
	due, _, _ = h.svc.DueMessages(10, 1)
	for _, d := range due {
		if d.Endpoint == "ep_all" {
			t.Fatalf("a disabled endpoint's message is due: %+v", d)
		}
	}
	c, _ := h.st.Counts()
	if c.OutboxFailed != 1 {
		t.Fatalf("counts %+v", c)
	}
	if err := h.svc.EnableEndpoint("ep_all"); err != nil {
		t.Fatal(err)
	}
	if items, _ := h.svc.Attention(); len(items) != 0 {
		t.Fatalf("flag stays after re-enabling: %+v", items)
	}
	if n, err := h.svc.ResendFailed(); n != 1 || err != nil {
		t.Fatalf("resend failed: %d %v", n, err)
	}
	due, _, _ = h.svc.DueMessages(10, 1)
	var ids []string
	for _, d := range due {
		if d.Endpoint == "ep_all" {
			ids = append(ids, d.ID)
		}
	}
	if len(ids) != 1 || ids[0] != m.ID { // u1's newer message waits behind it
		t.Fatalf("due after re-enabling: %v, want %s first", ids, m.ID)
	}
	h.verify()
}

// A product.updated event caches the product's features.* metadata; a
// plan whose price belongs to it unlocks them, under the catalog file's.
func TestProductMetadataFeatures(t *testing.T) {
	h := newHarness(t, testCatalog())
	h.send(payload("evt_pr", "price.updated", t0, "2023-10-16", M{"id": "price_pro_monthly", "object": "price", "product": "prod_pro", "active": true,
		"unit_amount": 4900, "currency": "usd", "recurring": M{"interval": "month"}}))
	h.send(payload("evt_prod", "product.updated", t0, "2023-10-16", M{"id": "prod_pro", "object": "product", "name": "Pro", "active": true,
		"metadata": M{"features.max_projects": "5", "features.models": `["gpt-4o","claude"]`, "type": "pro"}}))
	var got map[string]any
	if err := h.st.View(t0, func(tx Tx) error {
		got = testCatalog().TierFeatures(tx, "pro")
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if got["max_projects"] != float64(5) || len(got["models"].([]any)) != 2 {
		t.Fatalf("features %v", got)
	}
	if free := testCatalog().TierFeatures(nil, "free"); free != nil {
		t.Fatalf("free features %v, want none configured", free)
	}
}

// DueMessages hands out each user's chain in order: up to chain of their
// messages, starting with the oldest, and none while the oldest waits for
// its retry.
func TestDueMessagesChainsPerUser(t *testing.T) {
	h := newMemHarness(t, testCatalog())
	h.svc = NewService(h.st, Options{Rules: Rules{Catalog: testCatalog()}, Clock: func() time.Time { return h.now },
		Outbox: OutboxConfig{Endpoints: []AppEndpoint{allKinds}}})
	ctx := context.Background()
	for i := range 3 {
		for _, u := range []string{"u1", "u2"} {
			if _, err := h.svc.Adjust(ctx, Adjustment{User: u, Delta: int64(i + 1), Reason: "r", Create: true, Key: u + string(rune('a'+i))}); err != nil {
				t.Fatal(err)
			}
		}
	}
	users := func(ms []OutboxMessage) string {
		var s []string
		for _, m := range ms {
			var b MessageBody
			_ = json.Unmarshal(m.Body, &b)
			s = append(s, fmt.Sprintf("%s:%d", m.User, b.Data.Balance))
		}
		return strings.Join(s, " ")
	}
	due, _, _ := h.svc.DueMessages(10, 2)
	if got := users(due); got != "u1:1 u2:1 u1:3 u2:3" {
		t.Fatalf("chains of 2: %s", got)
	}
	// u1's oldest fails: its retry holds all of u1's back.
	if err := h.svc.RecordDeliveries([]DeliveryResult{{Seq: due[0].Seq, At: h.now, Status: 500, Retry: h.now.Add(time.Minute)}}); err != nil {
		t.Fatal(err)
	}
	due, next, _ := h.svc.DueMessages(10, 5)
	if got := users(due); got != "u2:1 u2:3 u2:6" || !next.Equal(h.now.Add(time.Minute)) {
		t.Fatalf("after u1's failure: %s, next %s", got, next)
	}
}

// With an app endpoint configured the store is wrapped for the outbox; the
// Overview's and report's figures still come from its rollups.
func TestInsightWithAppEndpoints(t *testing.T) {
	h := newOutboxHarness(t, bboltStore(t))
	if _, err := h.svc.Adjust(context.Background(), Adjustment{User: "u1", Delta: 40, Reason: "welcome", Create: true, Key: "k1"}); err != nil {
		t.Fatal(err)
	}
	in, err := h.svc.RecentInsight(1)
	if err != nil {
		t.Fatal(err)
	}
	if in.Total.Credits.Granted != 40 {
		t.Errorf("granted %d in the rollups, want 40", in.Total.Credits.Granted)
	}
	if n := len(h.outbox(allKinds.ID)); n == 0 {
		t.Error("no message in the outbox: the store was not wrapped")
	}
}
