package appwebhook_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"creditdesk/billing"
	"creditdesk/internal/appwebhook"
	"creditdesk/internal/testkit"
	"creditdesk/storage"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
)

var t0 = time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)

const day = 24 * time.Hour

// received is one request the app's receiver verified.
type received struct {
	id        string
	timestamp int64
	body      billing.MessageBody
	raw       []byte
}

// receiver is the founder's app: an httptest server that verifies each
// request with the Standard Webhooks library (not creditdesk's code) and
// answers with what status says.
type receiver struct {
	t      *testing.T
	srv    *httptest.Server
	secret string
	mu     sync.Mutex
	got    []received
	// status decides the answer to request n (0-based) of message id.
	status func(n int, id string, body billing.MessageBody) int
	tries  map[string]int
	ch     chan received
}

func newReceiver(t *testing.T, secret string) *receiver {
	r := &receiver{t: t, secret: secret, tries: map[string]int{}, ch: make(chan received, 1000)}
	wh, err := standardwebhooks.NewWebhook(secret)
	if err != nil {
		t.Fatal(err)
	}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		raw, _ := io.ReadAll(req.Body)
		// The clock is the test's: the library's tolerance is checked
		// against the header below instead.
		if err := wh.VerifyIgnoringTimestamp(raw, req.Header); err != nil {
			t.Errorf("signature does not verify: %v", err)
			http.Error(w, "bad signature", http.StatusBadRequest)
			return
		}
		var b billing.MessageBody
		if err := json.Unmarshal(raw, &b); err != nil {
			t.Errorf("body: %v", err)
		}
		ts, _ := strconv.ParseInt(req.Header.Get("webhook-timestamp"), 10, 64)
		rec := received{id: req.Header.Get("webhook-id"), timestamp: ts, body: b, raw: raw}
		r.mu.Lock()
		n := r.tries[rec.id]
		r.tries[rec.id]++
		code := http.StatusOK
		if r.status != nil {
			code = r.status(n, rec.id, b)
		}
		if code/100 == 2 {
			r.got = append(r.got, rec)
		}
		r.mu.Unlock()
		w.WriteHeader(code)
		_, _ = io.WriteString(w, "answer "+strconv.Itoa(code))
		r.ch <- rec
	}))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *receiver) delivered() []received {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.got)
}

// next waits for the receiver's next request (a failsafe timeout, not a
// wait the test relies on).
func (r *receiver) next() received {
	r.t.Helper()
	select {
	case rec := <-r.ch:
		return rec
	case <-time.After(20 * time.Second):
		r.t.Fatal("no request reached the receiver")
		return received{}
	}
}

type rig struct {
	t      *testing.T
	svc    *billing.Service
	st     *storage.Store
	clock  *testkit.Clock
	recv   *receiver
	sender *appwebhook.Sender
	ep     string
	stop   func()
	// recorded receives each attempt once the outbox has stored it.
	recorded chan billing.DeliveryResult
}

// waitDelivered waits until n attempts have been stored as delivered,
// moving the clock to each retry the sender waits for.
func (r *rig) waitDelivered(n int) {
	r.t.Helper()
	failsafe := time.After(20 * time.Second)
	for ok := 0; ok < n; {
		select {
		case res := <-r.recorded:
			if res.OK {
				ok++
			}
		case <-time.After(20 * time.Millisecond):
			// Nothing recorded for a while. If the sender waits (a timer is
			// armed) for a retry, let it come; if only to prune a week on,
			// there is nothing to move the clock for.
			due, next, err := r.svc.DueMessages(1, 1)
			if r.clock.WaitArmed(0) && err == nil && len(due) == 0 && !next.IsZero() {
				r.clock.Advance(max(next.Sub(r.clock.Now()), time.Millisecond))
			}
		case <-failsafe:
			r.t.Fatalf("%d of %d delivered", ok, n)
		}
		for len(r.recv.ch) > 0 {
			<-r.recv.ch
		}
	}
}

// newRig runs creditdesk's service over a bbolt store with one endpoint,
// the receiver, and (with run) the sender, all on the fake clock.
func newRig(t *testing.T, events []string, allowPrivate bool, run bool) *rig {
	t.Helper()
	clock := testkit.NewClock(t0)
	secret := "whsec_" + "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw" // a test secret
	recv := newReceiver(t, secret)
	st := testkit.TempStore(t)
	ep := appwebhook.EndpointID(recv.srv.URL)
	recorded := make(chan billing.DeliveryResult, 10000)
	cat := billing.SampleCatalog()
	svc := billing.NewService(st, billing.Options{Rules: billing.Rules{Catalog: cat}, Clock: clock.Now, After: clock.After,
		WaitLimit: 365 * day,
		Outbox: billing.OutboxConfig{Endpoints: []billing.AppEndpoint{{ID: ep, URL: recv.srv.URL, Events: events}}, LowCredits: 50,
			Features: func(_ billing.ProductState, tier string) map[string]any { return map[string]any{"tier": tier} }}})
	s := appwebhook.New(appwebhook.Options{Outbox: svc, Endpoints: []appwebhook.Endpoint{{ID: ep, URL: recv.srv.URL, AllowPrivate: allowPrivate}},
		Secrets: func() ([]string, error) { return []string{secret}, nil }, Clock: clock.Now, After: clock.After,
		Jitter: func() float64 { return 0.5 }, Recorded: func(rs []billing.DeliveryResult) {
			for _, res := range rs {
				recorded <- res
			}
		}})
	r := &rig{t: t, svc: svc, st: st, clock: clock, recv: recv, sender: s, ep: ep, stop: func() {}, recorded: recorded}
	if run {
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error)
		go func() { done <- s.Run(ctx) }()
		var once sync.Once
		r.stop = func() { once.Do(func() { cancel(); <-done }) }
		t.Cleanup(r.stop)
	}
	return r
}

func (r *rig) send(id, typ string, object map[string]any) {
	r.t.Helper()
	body, _ := json.Marshal(map[string]any{"id": id, "object": "event", "type": typ, "created": r.clock.Now().Unix(),
		"api_version": "2023-10-16", "data": map[string]any{"object": object}})
	if _, _, err := r.svc.Ingest(body, "test"); err != nil {
		r.t.Fatal(err)
	}
	if _, err := r.svc.ProcessPending(context.Background()); err != nil {
		r.t.Fatal(err)
	}
}

func (r *rig) outbox() []billing.OutboxMessage {
	r.t.Helper()
	ms, err := r.st.OutboxPage(0, 10000, false)
	if err != nil {
		r.t.Fatal(err)
	}
	slices.Reverse(ms)
	return ms
}

type M = map[string]any

func sub(id, user, price, status string, end time.Time) M {
	return M{"id": id, "object": "subscription", "customer": "cus_" + user, "status": status,
		"current_period_end": end.Unix(), "metadata": M{"user_id": user},
		"items": M{"object": "list", "data": []any{M{"id": "si_1", "price": M{"id": price}}}}}
}

func invoice(id, sub, user, price string, start, end time.Time) M {
	return M{"id": id, "object": "invoice", "subscription": sub, "customer": "cus_" + user, "billing_reason": "subscription_cycle",
		"paid": true, "status": "paid", "amount_paid": 4900, "currency": "usd", "payment_intent": "pi_" + id,
		"subscription_details": M{"metadata": M{"user_id": user}},
		"lines": M{"object": "list", "data": []any{M{"id": "il_" + id, "type": "subscription", "subscription": sub,
			"price": M{"id": price}, "period": M{"start": start.Unix(), "end": end.Unix()}}}}}
}

func topup(id, user string) M {
	return M{"id": id, "object": "checkout.session", "mode": "payment", "payment_status": "paid", "status": "complete",
		"customer": "cus_" + user, "amount_total": 900, "currency": "usd", "payment_intent": "pi_" + id,
		"metadata": M{"user_id": user, "type": "starter"}}
}

// Every kind of message reaches the app once, signed so that the Standard
// Webhooks library verifies it, with the body the outbox holds: the user,
// balance, tier, what changed and the Stripe event.
func TestEveryKindDeliveredOnceWithItsBody(t *testing.T) {
	r := newRig(t, billing.MessageKinds, true, true)
	ctx := context.Background()
	p1 := t0
	r.send("evt_sc", "customer.subscription.created", sub("sub_1", "u1", "price_pro_monthly", "active", p1.Add(30*day)))
	r.send("evt_i1", "invoice.paid", invoice("in_1", "sub_1", "u1", "price_pro_monthly", p1, p1.Add(30*day)))
	r.send("evt_su", "customer.subscription.updated", sub("sub_1", "u1", "price_pro_monthly", "active", p1.Add(60*day)))
	r.send("evt_ch", "customer.subscription.updated", sub("sub_1", "u1", "price_enterprise_monthly", "active", p1.Add(60*day)))
	r.send("evt_pd", "customer.subscription.updated", sub("sub_1", "u1", "price_enterprise_monthly", "past_due", p1.Add(60*day)))
	r.send("evt_top", "checkout.session.completed", topup("cs_top", "u1"))
	r.send("evt_rf", "charge.refunded", M{"id": "ch_top", "object": "charge", "payment_intent": "pi_cs_top",
		"amount": 900, "amount_refunded": 900, "refunded": true, "customer": "cus_u1"})
	r.send("evt_del", "customer.subscription.deleted", func() M {
		s := sub("sub_1", "u1", "price_enterprise_monthly", "canceled", p1.Add(60*day))
		s["canceled_at"], s["ended_at"] = p1.Unix(), p1.Unix()
		return s
	}())
	r.send("evt_t2", "checkout.session.completed", topup("cs_t2", "u2"))
	r.send("evt_dc", "charge.dispute.created", M{"id": "dp_1", "charge": "ch_t2", "payment_intent": "pi_cs_t2", "reason": "fraudulent", "status": "needs_response"})
	if _, err := r.svc.Adjust(ctx, billing.Adjustment{User: "u3", Delta: 100, Reason: "welcome", Create: true, Key: "g1"}); err != nil {
		t.Fatal(err)
	}
	if _, err := r.svc.Adjust(ctx, billing.Adjustment{User: "u3", Delta: -20, Reason: "correction", Create: true, Key: "r1"}); err != nil {
		t.Fatal(err)
	}
	if _, err := r.svc.Spend(ctx, "app", "u3", 60, "render", "s1"); err != nil {
		t.Fatal(err)
	}
	want := r.outbox()
	seen := map[string]bool{}
	for _, m := range want {
		seen[m.Type] = true
	}
	for _, k := range billing.MessageKinds {
		if !seen[k] {
			t.Errorf("no %s message in the outbox", k)
		}
	}
	if t.Failed() {
		t.FailNow()
	}
	r.waitDelivered(len(want))
	got := r.recv.delivered()
	if len(got) != len(want) {
		t.Fatalf("%d delivered, %d in the outbox", len(got), len(want))
	}
	byID := map[string]received{}
	for _, g := range got {
		if _, dup := byID[g.id]; dup {
			t.Fatalf("message %s delivered twice", g.id)
		}
		byID[g.id] = g
	}
	for _, m := range want {
		g, ok := byID[m.ID]
		if !ok {
			t.Fatalf("%s %s not delivered", m.Type, m.ID)
		}
		if string(g.raw) != string(m.Body) || g.body.Type != m.Type || g.timestamp != t0.Unix() {
			t.Fatalf("%s: got %s at %d", m.Type, g.raw, g.timestamp)
		}
		d := g.body.Data
		if d.UserID == "" || d.Tier == "" {
			t.Fatalf("%s without user or tier: %s", m.Type, g.raw)
		}
		switch {
		case strings.HasPrefix(m.Type, "credits."):
			if d.Entry == nil || d.Entry.BalanceAfter != d.Balance {
				t.Fatalf("%s: %s", m.Type, g.raw)
			}
		case strings.HasPrefix(m.Type, "plan."):
			if d.Subscription == nil || d.Plan == "" || d.StripeEvent == "" || d.Features["tier"] != d.Tier {
				t.Fatalf("%s: %s", m.Type, g.raw)
			}
		case strings.HasPrefix(m.Type, "purchase."):
			if d.Purchase == nil || d.StripeEvent == "" {
				t.Fatalf("%s: %s", m.Type, g.raw)
			}
		}
	}
	for _, k := range []struct{ kind, event, user string }{
		{billing.MsgPlanStarted, "evt_sc", "u1"}, {billing.MsgPlanRenewed, "evt_su", "u1"}, {billing.MsgPlanChanged, "evt_ch", "u1"},
		{billing.MsgPlanPastDue, "evt_pd", "u1"}, {billing.MsgPlanCanceled, "evt_del", "u1"}, {billing.MsgPurchaseRefunded, "evt_rf", "u1"},
		{billing.MsgCreditsClawedBack, "evt_rf", "u1"}, {billing.MsgDisputeOpened, "evt_dc", "u2"}, {billing.MsgCreditsSpent, "", "u3"},
		{billing.MsgCreditsLow, "", "u3"}, {billing.MsgCreditsRevoked, "", "u3"},
	} {
		ok := false
		for _, g := range got {
			if g.body.Type == k.kind && g.body.Data.StripeEvent == k.event && g.body.Data.UserID == k.user {
				ok = true
			}
		}
		if !ok {
			t.Errorf("no %s for %s from %q", k.kind, k.user, k.event)
		}
	}
	for _, g := range got {
		if g.body.Type == billing.MsgPlanChanged && (g.body.Data.PreviousPlan != "pro" || g.body.Data.Plan != "enterprise") {
			t.Errorf("plan.changed %s", g.raw)
		}
		if g.body.Type == billing.MsgCreditsLow && (g.body.Data.Balance != 20 || g.body.Data.Threshold != 50) {
			t.Errorf("credits.low %s", g.raw)
		}
	}
	c, err := r.st.Counts()
	if err != nil || c.OutboxPending != 0 {
		t.Fatalf("after delivery: %+v %v", c, err)
	}
	if _, err := r.st.Verify(); err != nil {
		t.Fatal(err)
	}
}

// A receiver that fails five times gets the message on the sixth attempt,
// each after the backoff (5 s, 10 s, 20 s, 40 s, 80 s at the middle of the
// jitter), with the same webhook-id every time; it is then done.
func TestRetriedWithBackoffUntilItSucceeds(t *testing.T) {
	r := newRig(t, nil, true, true)
	r.recv.status = func(n int, _ string, _ billing.MessageBody) int {
		if n < 5 {
			return http.StatusServiceUnavailable
		}
		return http.StatusNoContent
	}
	if _, err := r.svc.Adjust(context.Background(), billing.Adjustment{User: "u1", Delta: 100, Reason: "welcome", Create: true, Key: "g1"}); err != nil {
		t.Fatal(err)
	}
	first := r.recv.next()
	at := []int64{first.timestamp}
	for _, wait := range []time.Duration{5, 10, 20, 40, 80} {
		if !r.clock.WaitArmed(20 * time.Second) {
			t.Fatalf("after attempt %d the sender never waited for its retry", len(at))
		}
		r.clock.Advance(wait*time.Second - time.Millisecond)
		select {
		case rec := <-r.recv.ch:
			t.Fatalf("retried %v early: %s", time.Millisecond, rec.id)
		default:
		}
		r.clock.Advance(time.Millisecond)
		rec := r.recv.next()
		if rec.id != first.id {
			t.Fatalf("webhook-id changed: %s then %s", first.id, rec.id)
		}
		at = append(at, rec.timestamp)
	}
	wantAt := []int64{0, 5, 15, 35, 75, 155}
	for i := range at {
		if at[i]-t0.Unix() != wantAt[i] {
			t.Fatalf("attempts at %v s, want %v", at, wantAt)
		}
	}
	r.waitDelivered(1)
	if got := r.recv.delivered(); len(got) != 1 || got[0].id != first.id {
		t.Fatalf("delivered %d", len(got))
	}
	ms := r.outbox()
	if len(ms) != 1 || ms[0].State != billing.DeliveryDelivered || ms[0].Attempts != 6 || ms[0].LastStatus != 204 {
		t.Fatalf("outbox %+v", ms)
	}
	// Started again a day later, it sends nothing more.
	r.clock.Advance(day)
	if due, next, err := r.svc.DueMessages(10, 1); len(due) != 0 || !next.IsZero() || err != nil {
		t.Fatalf("still due: %v %v %v", due, next, err)
	}
}

// One user's messages arrive in the order they were written, even when
// the first fails and is retried; another user's are not held up by it.
func TestOneUsersMessagesArriveInOrder(t *testing.T) {
	r := newRig(t, nil, true, true)
	var failed string
	r.recv.status = func(n int, id string, b billing.MessageBody) int {
		if b.Data.UserID == "u1" && failed == "" {
			failed = id
		}
		if id == failed && n == 0 {
			return http.StatusInternalServerError
		}
		return http.StatusOK
	}
	ctx := context.Background()
	for i := range 10 {
		for _, u := range []string{"u1", "u2"} {
			if _, err := r.svc.Adjust(ctx, billing.Adjustment{User: u, Delta: int64(i + 1), Reason: "grant", Create: true, Key: u + strconv.Itoa(i)}); err != nil {
				t.Fatal(err)
			}
		}
	}
	// u1's first fails; u2's ten arrive meanwhile.
	for u2 := 0; u2 < 10; {
		if rec := r.recv.next(); rec.body.Data.UserID == "u2" {
			u2++
		}
	}
	for _, g := range r.recv.delivered() {
		if g.body.Data.UserID == "u1" {
			t.Fatalf("u1's message %s arrived before its first", g.id)
		}
	}
	r.waitDelivered(20)
	var balances []int64
	for _, g := range r.recv.delivered() {
		if g.body.Data.UserID == "u1" {
			balances = append(balances, g.body.Data.Balance)
		}
	}
	want := []int64{1, 3, 6, 10, 15, 21, 28, 36, 45, 55}
	if !slices.Equal(balances, want) {
		t.Fatalf("u1's balances arrived as %v, want %v", balances, want)
	}
}

// A URL whose address is loopback is refused at dial time unless
// allow_private is set, and a name that resolves to loopback as well: no
// request reaches the receiver, and the attempt says why.
func TestPrivateAddressRefused(t *testing.T) {
	for _, host := range []string{"", "localhost"} {
		r := newRig(t, nil, false, false)
		url := r.recv.srv.URL
		if host != "" {
			url = strings.Replace(url, "127.0.0.1", host, 1)
		}
		s := appwebhook.New(appwebhook.Options{Outbox: r.svc, Endpoints: []appwebhook.Endpoint{{ID: r.ep, URL: url}},
			Secrets: func() ([]string, error) { return []string{r.recv.secret}, nil }, Clock: r.clock.Now})
		if _, err := r.svc.Adjust(context.Background(), billing.Adjustment{User: "u1", Delta: 100, Reason: "welcome", Create: true, Key: "g1"}); err != nil {
			t.Fatal(err)
		}
		m := r.outbox()[0]
		res := s.Deliver(context.Background(), m)
		if res.OK || res.Status != 0 || !strings.Contains(res.Err, "private or loopback") {
			t.Fatalf("%s: %+v", url, res)
		}
		if len(r.recv.ch) != 0 {
			t.Fatalf("%s: a request reached the receiver", url)
		}
		// Allowed explicitly, the same message goes through.
		ok := appwebhook.New(appwebhook.Options{Outbox: r.svc, Endpoints: []appwebhook.Endpoint{{ID: r.ep, URL: url, AllowPrivate: true}},
			Secrets: func() ([]string, error) { return []string{r.recv.secret}, nil }, Clock: r.clock.Now})
		if res := ok.Deliver(context.Background(), m); !res.OK || res.Status != 200 || res.Response != "answer 200" {
			t.Fatalf("%s allowed: %+v", url, res)
		}
	}
}

// Rotation: both secrets sign for a day, so an app still on the old one
// verifies; after the day only the new one does.
func TestRotatedSecretSignsForADay(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c.db.appwebhook-secret")
	old, _, err := appwebhook.RotateSecret(path, t0)
	if err != nil {
		t.Fatal(err)
	}
	fresh, hint, err := appwebhook.RotateSecret(path, t0.Add(time.Hour))
	if err != nil || hint != appwebhook.Hint(old) || !strings.HasPrefix(hint, "whsec_…") || len(hint) != len("whsec_…")+4 {
		t.Fatalf("rotate: %q %v", hint, err)
	}
	for _, c := range []struct {
		at   time.Time
		want []string
	}{{t0.Add(2 * time.Hour), []string{fresh, old}}, {t0.Add(26 * time.Hour), []string{fresh}}} {
		got, err := appwebhook.LoadSecrets(path, c.at)
		if err != nil || !slices.Equal(got, c.want) {
			t.Fatalf("at %s: %d secrets %v", c.at, len(got), err)
		}
		var hdr http.Header
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) { hdr = req.Header.Clone() }))
		m := billing.OutboxMessage{Seq: 1, ID: "msg_1_abc", Endpoint: "ep", Body: []byte(`{"type":"credits.granted"}`)}
		s := appwebhook.New(appwebhook.Options{Endpoints: []appwebhook.Endpoint{{ID: "ep", URL: srv.URL, AllowPrivate: true}},
			Secrets: func() ([]string, error) { return got, nil }})
		res := s.Deliver(context.Background(), m)
		srv.Close()
		if !res.OK {
			t.Fatalf("%+v", res)
		}
		for _, secret := range []string{old, fresh} {
			wh, _ := standardwebhooks.NewWebhook(secret)
			err := wh.Verify(m.Body, hdr)
			if want := slices.Contains(c.want, secret); (err == nil) != want {
				t.Fatalf("at %s, secret %s verifies: %v, want %v", c.at, appwebhook.Hint(secret), err, want)
			}
		}
	}
}

// An endpoint that does not answer within the timeout is a failed attempt
// that says so, retried like any other (the test's timeout is 100 ms, the
// real one 10 s).
func TestNoAnswerWithinTheTimeoutIsARetry(t *testing.T) {
	release := make(chan struct{})
	hang := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-release:
		}
	}))
	defer hang.Close()
	defer close(release) // before Close, which waits for the handler
	s := appwebhook.New(appwebhook.Options{Endpoints: []appwebhook.Endpoint{{ID: "ep", URL: hang.URL, AllowPrivate: true}},
		Secrets: func() ([]string, error) { return []string{"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"}, nil },
		Timeout: 100 * time.Millisecond, Clock: func() time.Time { return t0 }, Jitter: func() float64 { return 0.5 }})
	res := s.Deliver(context.Background(), billing.OutboxMessage{Seq: 1, ID: "msg_1", Endpoint: "ep", Body: []byte(`{}`), DeliveryStatus: billing.DeliveryStatus{Attempts: 2}})
	if res.OK || res.Status != 0 || res.Err != "no answer within 100ms" || !res.Retry.Equal(t0.Add(20*time.Second)) {
		t.Fatalf("%+v", res)
	}
}

// Delivered messages are kept for billing.KeepDelivered (listed in the
// Deliveries tab and by creditdesk deliveries), then the sender prunes
// them on its clock, in transactions of a few hundred, and only those: a
// message delivered later stays until its own week is up. The counts and
// verify stay true.
func TestDeliveredMessagesArePrunedAfterAWeek(t *testing.T) {
	r := newRig(t, nil, true, true)
	ctx := context.Background()
	listed := func() int {
		ds, err := r.svc.Deliveries(0, 1000, false)
		if err != nil {
			t.Fatal(err)
		}
		return len(ds)
	}
	const n = 300 // more than one pruning transaction holds
	for i := range n {
		if _, err := r.svc.Adjust(ctx, billing.Adjustment{User: fmt.Sprintf("a%03d", i), Delta: 100, Reason: "welcome", Create: true, Key: fmt.Sprint("g", i)}); err != nil {
			t.Fatal(err)
		}
	}
	r.waitDelivered(n)
	r.clock.Advance(3 * day)
	if _, err := r.svc.Adjust(ctx, billing.Adjustment{User: "b", Delta: 100, Reason: "welcome", Create: true, Key: "gb"}); err != nil {
		t.Fatal(err)
	}
	r.waitDelivered(1)
	r.clock.Advance(4*day - time.Second)
	if got := listed(); got != n+1 {
		t.Fatalf("%d listed a second before the first week is up, want %d", got, n+1)
	}
	r.clock.Advance(time.Second)
	testkit.Eventually(t, 10*time.Second, "the first week's deliveries pruned", func() bool { return listed() == 1 })
	ds, _ := r.svc.Deliveries(0, 10, false)
	if ds[0].User != "b" || ds[0].State != billing.DeliveryDelivered {
		t.Fatalf("left: %+v", ds[0])
	}
	if c, err := r.st.Counts(); err != nil || c.OutboxPending != 0 || c.OutboxFailed != 0 {
		t.Fatalf("counts %+v %v", c, err)
	}
	if _, err := r.st.Verify(); err != nil {
		t.Fatal(err)
	}
	r.clock.Advance(3 * day)
	testkit.Eventually(t, 10*time.Second, "the last delivery pruned", func() bool { return listed() == 0 })
	if _, err := r.st.Verify(); err != nil {
		t.Fatal(err)
	}
}
