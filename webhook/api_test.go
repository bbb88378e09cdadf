package webhook

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/time/rate"

	"creditdesk/billing"
	"creditdesk/internal/testkit"
	"creditdesk/storage"
)

// fakeStripe is a billing.Stripe that records what it was asked and answers
// with canned links or err.
type fakeStripe struct {
	mu        sync.Mutex
	checkouts []billing.CheckoutRequest
	portals   []string
	err       error
}

func (f *fakeStripe) CreateCheckout(_ context.Context, req billing.CheckoutRequest) (billing.CheckoutLink, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.checkouts = append(f.checkouts, req)
	if f.err != nil {
		return billing.CheckoutLink{}, f.err
	}
	id := fmt.Sprintf("cs_test_%d", len(f.checkouts))
	return billing.CheckoutLink{URL: "https://checkout.stripe.com/c/pay/" + id, SessionID: id}, nil
}

func (f *fakeStripe) CreatePortal(_ context.Context, userID, returnURL string) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.portals = append(f.portals, userID)
	if f.err != nil {
		return "", f.err
	}
	return "https://billing.stripe.com/p/session/" + userID, nil
}

// apiRig is creditdesk's server (webhook, /healthz and the app's API) over a
// real listener and a real store.
type apiRig struct {
	t      testing.TB
	srv    *httptest.Server
	svc    *billing.Service
	st     *storage.Store
	key    string
	stripe *fakeStripe
	now    time.Time
	client *http.Client
}

func newAPIRig(t testing.TB, limits Limits, withStripe bool) *apiRig {
	t.Helper()
	st := testkit.TempStore(t)
	r := &apiRig{t: t, st: st, now: time.Now().UTC(), client: &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 128}}}
	r.svc = billing.NewService(st, billing.Options{Rules: billing.Rules{Catalog: billing.SampleCatalog()}, Clock: func() time.Time { return r.now }})
	s := NewServer(DefaultPath, NewReceiver(r.svc, []string{oldSecret}), func() error { return nil })
	var stripe billing.Stripe
	if withStripe {
		r.stripe = &fakeStripe{}
		stripe = r.stripe
	}
	NewAPI(r.svc, stripe, limits).Mount(s.Mux)
	r.srv = httptest.NewServer(s.Mux)
	t.Cleanup(r.srv.Close)
	key, err := r.svc.CreateAPIKey(context.Background(), "app")
	if err != nil {
		t.Fatal(err)
	}
	r.key = key
	return r
}

// answer is one HTTP response, its body decoded.
type answer struct {
	status int
	header http.Header
	raw    string
	body   map[string]any
}

func (a answer) code() string {
	e, _ := a.body["error"].(map[string]any)
	c, _ := e["code"].(string)
	return c
}

func (a answer) num(k string) int64 {
	f, _ := a.body[k].(float64)
	return int64(f)
}

// do sends a request with the rig's key (unless headers set Authorization).
func (r *apiRig) do(method, path, body string, headers ...string) answer {
	r.t.Helper()
	a, err := r.send(method, path, body, headers...)
	if err != nil {
		r.t.Fatal(err)
	}
	return a
}

func (r *apiRig) send(method, path, body string, headers ...string) (answer, error) {
	req, err := http.NewRequest(method, r.srv.URL+path, strings.NewReader(body))
	if err != nil {
		return answer{}, err
	}
	req.Header.Set("Authorization", "Bearer "+r.key)
	req.Header.Set("Content-Type", "application/json")
	for i := 0; i+1 < len(headers); i += 2 {
		if headers[i+1] == "" {
			req.Header.Del(headers[i])
		} else {
			req.Header.Set(headers[i], headers[i+1])
		}
	}
	resp, err := r.client.Do(req)
	if err != nil {
		return answer{}, err
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	a := answer{status: resp.StatusCode, header: resp.Header, raw: string(raw)}
	if err := json.Unmarshal(raw, &a.body); err != nil {
		return a, fmt.Errorf("%s %s: answer is not a JSON object: %q", method, path, raw)
	}
	if resp.StatusCode >= 400 {
		e, ok := a.body["error"].(map[string]any)
		if !ok || e["code"] == "" || e["message"] == "" || e["code"] == nil || e["message"] == nil {
			return a, fmt.Errorf("%s %s: error answer lacks error.code and error.message: %s", method, path, raw)
		}
		if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
			return a, fmt.Errorf("%s %s: error content type %q", method, path, ct)
		}
	}
	return a, nil
}

func (r *apiRig) spend(user string, amount int64, key string) answer {
	r.t.Helper()
	return r.do("POST", "/api/users/"+user+"/spend", fmt.Sprintf(`{"amount":%d,"reason":"generate image"}`, amount), "Idempotency-Key", key)
}

// seed posts a grant of n credits to user expiring at exp (zero: never).
func (r *apiRig) seed(user string, n int64, exp time.Time, source string) {
	r.t.Helper()
	err := r.st.Update(r.now, func(tx billing.Tx) error {
		_, _, err := billing.Post(tx, billing.Posting{UserID: user, Delta: n, Key: "seed:" + source, Reason: "seed", Source: source, Kind: "pack", ExpiresAt: exp})
		return err
	})
	if err != nil {
		r.t.Fatal(err)
	}
}

func (r *apiRig) ledger(user string) []billing.Entry {
	r.t.Helper()
	es, err := r.svc.Ledger(user, 10000)
	if err != nil {
		r.t.Fatal(err)
	}
	return es
}

func (r *apiRig) verify() {
	r.t.Helper()
	if _, err := r.st.Verify(); err != nil {
		r.t.Fatalf("verify: %v", err)
	}
}

func TestAPIAuthentication(t *testing.T) {
	r := newAPIRig(t, DefaultLimits(), true)
	r.seed("u1", 10, time.Time{}, "evt_1")
	revoked, _ := r.svc.CreateAPIKey(context.Background(), "old")
	if err := r.svc.RevokeAPIKey(context.Background(), "old"); err != nil {
		t.Fatal(err)
	}
	var first string
	for name, auth := range map[string]string{
		"missing":       "",
		"basic":         "Basic " + r.key,
		"no scheme":     r.key,
		"wrong key":     "Bearer cdk_" + strings.Repeat("0", 64),
		"truncated key": "Bearer " + r.key[:len(r.key)-1],
		"revoked key":   "Bearer " + revoked,
		"empty bearer":  "Bearer ",
	} {
		for _, ep := range []struct{ method, path, body string }{
			{"GET", "/api/users/u1", ""},
			{"POST", "/api/users/u1/spend", `{"amount":1}`},
			{"POST", "/api/users/u1/grant", `{"amount":1}`},
			{"POST", "/api/stripe/checkout", `{"userId":"u1","type":"pro"}`},
			{"POST", "/api/stripe/portal", `{"userId":"u1"}`},
		} {
			a := r.do(ep.method, ep.path, ep.body, "Authorization", auth, "Idempotency-Key", "k-"+name)
			if a.status != 401 || a.code() != "unauthorized" {
				t.Errorf("%s key, %s %s: %d %s", name, ep.method, ep.path, a.status, a.raw)
			}
			// The same answer whatever was wrong.
			if first == "" {
				first = a.raw
			} else if a.raw != first {
				t.Errorf("%s key: answer %q differs from %q", name, a.raw, first)
			}
		}
	}
	if r.do("GET", "/api/users/u1", "").status != 200 {
		t.Fatal("the working key was refused")
	}
	if es := r.ledger("u1"); len(es) != 1 {
		t.Fatalf("unauthenticated requests wrote %d entries", len(es)-1)
	}
	if len(r.stripe.checkouts)+len(r.stripe.portals) != 0 {
		t.Fatal("unauthenticated requests reached Stripe")
	}
}

func TestAPIGetUser(t *testing.T) {
	r := newAPIRig(t, DefaultLimits(), false)
	periodEnd := r.now.Add(30 * 24 * time.Hour).Truncate(time.Second)
	r.seed("u1", 100, periodEnd, "in_plan")
	r.seed("u1", 50, time.Time{}, "evt_pack")
	r.seed("u1", 30, r.now.Add(time.Minute), "evt_soon_gone")
	err := r.st.Update(r.now, func(tx billing.Tx) error {
		u, _, _ := tx.User("u1")
		u.Tier, u.SubscriptionID = "pro", "sub_1"
		if err := tx.PutUser(u); err != nil {
			return err
		}
		return tx.PutSubscription(billing.Subscription{ID: "sub_1", Status: "active", Plan: "pro", PeriodEnd: periodEnd})
	})
	if err != nil {
		t.Fatal(err)
	}
	r.now = r.now.Add(2 * time.Minute) // the 30 credits expired; no expiry run yet

	a := r.do("GET", "/api/users/u1", "")
	if a.status != 200 {
		t.Fatalf("%d %s", a.status, a.raw)
	}
	var got struct {
		ID           string `json:"id"`
		Credits      int64  `json:"credits"`
		Tier         string `json:"tier"`
		Subscription *struct {
			Status    string    `json:"status"`
			PeriodEnd time.Time `json:"period_end"`
		} `json:"subscription"`
		Grants []struct {
			Remaining int64      `json:"remaining"`
			ExpiresAt *time.Time `json:"expires_at"`
			Source    string     `json:"source"`
		} `json:"grants"`
	}
	if err := json.Unmarshal([]byte(a.raw), &got); err != nil {
		t.Fatal(err)
	}
	if got.ID != "u1" || got.Credits != 150 || got.Tier != "pro" {
		t.Fatalf("user %+v, want u1 with 150 spendable credits (expired 30 not counted) on pro", got)
	}
	if got.Subscription == nil || got.Subscription.Status != "active" || !got.Subscription.PeriodEnd.Equal(periodEnd) {
		t.Fatalf("subscription %+v", got.Subscription)
	}
	if len(got.Grants) != 2 || got.Grants[0].Source != "in_plan" || got.Grants[0].Remaining != 100 || got.Grants[0].ExpiresAt == nil ||
		got.Grants[1].Source != "evt_pack" || got.Grants[1].ExpiresAt != nil {
		t.Fatalf("grants %s, want the plan lot (expiring) then the pack lot (never)", a.raw)
	}

	// A user with no plan has "subscription": null and "grants": [].
	r.seed("u2", 5, time.Time{}, "evt_u2")
	r.do("POST", "/api/users/u2/spend", `{"amount":5}`, "Idempotency-Key", "all")
	a = r.do("GET", "/api/users/u2", "")
	if !strings.Contains(a.raw, `"subscription":null`) || !strings.Contains(a.raw, `"grants":[]`) || a.num("credits") != 0 {
		t.Fatalf("u2: %s", a.raw)
	}
	a = r.do("GET", "/api/users/nobody", "")
	if a.status != 404 || a.code() != "user_not_found" {
		t.Fatalf("unknown user: %d %s", a.status, a.raw)
	}
}

func TestAPISpend(t *testing.T) {
	r := newAPIRig(t, DefaultLimits(), false)
	r.seed("u1", 40, r.now.Add(time.Hour), "evt_soon")
	r.seed("u1", 60, time.Time{}, "evt_never")

	a := r.spend("u1", 50, "req-1")
	if a.status != 200 || a.num("credits") != 50 || a.num("entry_id") == 0 {
		t.Fatalf("spend: %d %s", a.status, a.raw)
	}
	first := a.raw
	// The soonest-expiring lot went first.
	b := r.do("GET", "/api/users/u1", "")
	gs := b.body["grants"].([]any)
	if len(gs) != 1 || gs[0].(map[string]any)["source"] != "evt_never" || gs[0].(map[string]any)["remaining"].(float64) != 50 {
		t.Fatalf("lots after spend: %s", b.raw)
	}

	// A retry gets the first answer and spends nothing.
	a = r.spend("u1", 50, "req-1")
	if a.status != 200 || a.raw != first || a.header.Get("Idempotent-Replayed") != "true" {
		t.Fatalf("retry: %d %s (first %s)", a.status, a.raw, first)
	}
	// The same key with another body is refused.
	a = r.spend("u1", 49, "req-1")
	if a.status != 422 || a.code() != "idempotency_key_reused" {
		t.Fatalf("reused key: %d %s", a.status, a.raw)
	}
	a = r.do("POST", "/api/users/u1/spend", `{"amount":50,"reason":"something else"}`, "Idempotency-Key", "req-1")
	if a.status != 422 {
		t.Fatalf("reused key, other reason: %d %s", a.status, a.raw)
	}
	// Not enough: 402 with the balance, nothing spent.
	a = r.spend("u1", 51, "req-2")
	if a.status != 402 || a.code() != "insufficient_credits" || a.body["error"].(map[string]any)["credits"].(float64) != 50 {
		t.Fatalf("overdraw: %d %s", a.status, a.raw)
	}
	// Spending exactly what is left works.
	if a = r.spend("u1", 50, "req-3"); a.status != 200 || a.num("credits") != 0 {
		t.Fatalf("spend the rest: %d %s", a.status, a.raw)
	}
	// Without an Idempotency-Key nothing happens.
	a = r.do("POST", "/api/users/u1/grant", `{"amount":5}`)
	if a.status != 400 || a.code() != "idempotency_key_required" {
		t.Fatalf("no key: %d %s", a.status, a.raw)
	}

	es := r.ledger("u1")
	var spends []billing.Entry
	for _, e := range es {
		if e.Kind == "spend" {
			spends = append(spends, e)
		}
	}
	if len(spends) != 2 || spends[0].Source != "api:app" || spends[0].Reason != "generate image" || spends[1].Delta != -50 {
		t.Fatalf("ledger spends: %+v", spends)
	}
	r.verify()
}

func TestAPIGrant(t *testing.T) {
	r := newAPIRig(t, DefaultLimits(), false)
	feed, stop := r.svc.Subscribe()
	defer stop()
	body := `{"amount":25,"reason":"referral bonus"}`
	a := r.do("POST", "/api/users/new_user/grant", body, "Idempotency-Key", "ref-7")
	if a.status != 200 || a.num("credits") != 25 {
		t.Fatalf("grant: %d %s", a.status, a.raw)
	}
	again := r.do("POST", "/api/users/new_user/grant", body, "Idempotency-Key", "ref-7")
	if again.raw != a.raw {
		t.Fatalf("retried grant: %s, want %s", again.raw, a.raw)
	}
	if a := r.do("POST", "/api/users/new_user/grant", `{"amount":26,"reason":"referral bonus"}`, "Idempotency-Key", "ref-7"); a.status != 422 {
		t.Fatalf("reused key: %d %s", a.status, a.raw)
	}
	if got := r.do("GET", "/api/users/new_user", ""); got.num("credits") != 25 {
		t.Fatalf("after grant and retry: %s", got.raw)
	}
	es := r.ledger("new_user")
	if len(es) != 1 || es[0].Source != "api:app" || es[0].Reason != "referral bonus" || es[0].Delta != 25 {
		t.Fatalf("ledger %+v", es)
	}
	// It shows in the Live tab's feed once.
	select {
	case act := <-feed:
		if act.Kind != billing.ActivityAPI || act.User != "new_user" || act.Amount != 25 || act.Reason != "referral bonus" {
			t.Fatalf("activity %+v", act)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("grant not published to the live feed")
	}
	select {
	case act := <-feed:
		t.Fatalf("retry published again: %+v", act)
	case <-time.After(50 * time.Millisecond):
	}
}

func TestAPIRequestErrors(t *testing.T) {
	r := newAPIRig(t, DefaultLimits(), false)
	r.seed("u1", 100, time.Time{}, "evt_1")
	big := `{"amount":1,"reason":"` + strings.Repeat("x", MaxAPIBody) + `"}`
	tests := []struct {
		name, method, path, body string
		status                   int
		code                     string
	}{
		{"too large", "POST", "/api/users/u1/spend", big, 413, "body_too_large"},
		{"unknown field", "POST", "/api/users/u1/spend", `{"amount":1,"user":"u2"}`, 400, "unknown_field"},
		{"not JSON", "POST", "/api/users/u1/spend", `amount=1`, 400, "invalid_json"},
		{"empty", "POST", "/api/users/u1/spend", ``, 400, "invalid_json"},
		{"two objects", "POST", "/api/users/u1/spend", `{"amount":1}{"amount":1}`, 400, "invalid_json"},
		{"array", "POST", "/api/users/u1/spend", `[1]`, 400, "invalid_json"},
		{"string amount", "POST", "/api/users/u1/spend", `{"amount":"5"}`, 400, "invalid_json"},
		{"fractional", "POST", "/api/users/u1/spend", `{"amount":1.5}`, 400, "invalid_json"},
		{"overflow", "POST", "/api/users/u1/spend", `{"amount":99999999999999999999}`, 400, "invalid_json"},
		{"no amount", "POST", "/api/users/u1/spend", `{"reason":"x"}`, 400, "invalid_amount"},
		{"zero", "POST", "/api/users/u1/spend", `{"amount":0}`, 400, "invalid_amount"},
		{"negative", "POST", "/api/users/u1/spend", `{"amount":-5}`, 400, "invalid_amount"},
		{"negative grant", "POST", "/api/users/u1/grant", `{"amount":-5}`, 400, "invalid_amount"},
		{"long reason", "POST", "/api/users/u1/grant", `{"amount":5,"reason":"` + strings.Repeat("r", 501) + `"}`, 400, "invalid_reason"},
		{"control char in id", "POST", "/api/users/u%01/spend", `{"amount":1}`, 400, "invalid_request"},
		{"wrong method", "DELETE", "/api/users/u1", ``, 405, "method_not_allowed"},
		{"GET on spend", "GET", "/api/users/u1/spend", ``, 405, "method_not_allowed"},
		{"unknown path", "GET", "/api/nothing", ``, 404, "not_found"},
		{"checkout unknown field", "POST", "/api/stripe/checkout", `{"userId":"u1","type":"pro","quantity":2}`, 503, "stripe_not_configured"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r.t = t
			a := r.do(tt.method, tt.path, tt.body, "Idempotency-Key", "k-"+tt.name)
			if a.status != tt.status || a.code() != tt.code {
				t.Fatalf("%d %s, want %d %s", a.status, a.raw, tt.status, tt.code)
			}
		})
	}
	r.t = t
	if got := r.do("GET", "/api/users/u1", ""); got.num("credits") != 100 {
		t.Fatalf("refused requests changed the balance: %s", got.raw)
	}
	if a := r.do("POST", "/api/users/u1/spend", `{"amount":1}`, "Idempotency-Key", strings.Repeat("k", 256)); a.status != 400 || a.code() != "invalid_idempotency_key" {
		t.Fatalf("long key: %d %s", a.status, a.raw)
	}
	// The webhook receiver on the same server is untouched by the API's routes.
	resp, err := http.Post(r.srv.URL+DefaultPath, "application/json", strings.NewReader(`{}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 400 {
		t.Fatalf("unsigned webhook: %d, want the receiver's 400", resp.StatusCode)
	}
}

func TestAPIRateLimits(t *testing.T) {
	limits := Limits{Credits: Limit{Rate: rate.Every(time.Minute), Burst: 3}, Stripe: DefaultLimits().Stripe}
	r := newAPIRig(t, limits, true)
	r.seed("u1", 100, time.Time{}, "evt_1")
	other, _ := r.svc.CreateAPIKey(context.Background(), "other")
	for i := range 3 {
		if a := r.do("GET", "/api/users/u1", ""); a.status != 200 {
			t.Fatalf("request %d: %d", i, a.status)
		}
	}
	a := r.do("POST", "/api/users/u1/spend", `{"amount":1}`, "Idempotency-Key", "k")
	if a.status != 429 || a.code() != "rate_limited" {
		t.Fatalf("4th request: %d %s", a.status, a.raw)
	}
	if s, err := strconv.Atoi(a.header.Get("Retry-After")); err != nil || s < 1 || s > 60 {
		t.Fatalf("Retry-After %q, want 1..60 seconds", a.header.Get("Retry-After"))
	}
	if got := r.do("GET", "/api/users/u1", "", "Authorization", "Bearer "+other); got.num("credits") != 100 {
		t.Fatalf("another key was limited too, or the refused spend happened: %d %s", got.status, got.raw)
	}
	// Checkout and portal share the default 5 per 10 s.
	for i := range 5 {
		path, body := "/api/stripe/checkout", `{"userId":"u1","type":"pro"}`
		if i%2 == 1 {
			path, body = "/api/stripe/portal", `{"userId":"u1"}`
		}
		if a := r.do("POST", path, body); a.status != 200 {
			t.Fatalf("stripe call %d: %d %s", i, a.status, a.raw)
		}
	}
	a = r.do("POST", "/api/stripe/checkout", `{"userId":"u1","type":"pro"}`)
	if a.status != 429 || a.header.Get("Retry-After") == "" {
		t.Fatalf("6th stripe call in 10 s: %d %s", a.status, a.raw)
	}
	if n := len(r.stripe.checkouts) + len(r.stripe.portals); n != 5 {
		t.Fatalf("%d calls reached Stripe, want 5", n)
	}
}

func TestParseLimits(t *testing.T) {
	l, err := LimitsFromEnv(func(k string) string {
		return map[string]string{EnvCheckoutRate: "10/1m", EnvAPIRate: "1000/1s"}[k]
	})
	if err != nil {
		t.Fatal(err)
	}
	if l.Stripe.Burst != 10 || l.Stripe.Rate != rate.Every(6*time.Second) || l.Credits.Burst != 1000 || l.Credits.Rate != 1000 {
		t.Fatalf("limits %+v", l)
	}
	if d := DefaultLimits(); d.Stripe.String() != "5/10s" {
		t.Fatalf("default checkout limit %s, want 5/10s", d.Stripe)
	}
	for _, bad := range []string{"5", "0/10s", "5/0s", "x/10s", "5/ten"} {
		if _, err := LimitsFromEnv(func(k string) string { return map[string]string{EnvCheckoutRate: bad}[k] }); err == nil || !strings.Contains(err.Error(), EnvCheckoutRate) {
			t.Errorf("%q: %v", bad, err)
		}
	}
}

func TestAPICheckoutAndPortal(t *testing.T) {
	r := newAPIRig(t, Limits{Stripe: Limit{Rate: 100, Burst: 100}, Credits: DefaultLimits().Credits}, true)
	a := r.do("POST", "/api/stripe/checkout", `{"priceId":"price_123","mode":"subscription","userId":"u1","successUrl":"https://app.example.com/ok","cancelUrl":"https://app.example.com/no"}`, "Idempotency-Key", "co-1")
	if a.status != 200 || a.body["url"] != "https://checkout.stripe.com/c/pay/cs_test_1" || a.body["sessionId"] != "cs_test_1" {
		t.Fatalf("checkout: %d %s", a.status, a.raw)
	}
	got := r.stripe.checkouts[0]
	want := billing.CheckoutRequest{UserID: "u1", PriceID: "price_123", Mode: "subscription", SuccessURL: "https://app.example.com/ok",
		CancelURL: "https://app.example.com/no", IdempotencyKey: "api:app:co-1"}
	if got != want {
		t.Fatalf("Stripe asked %+v, want %+v", got, want)
	}
	if a := r.do("POST", "/api/stripe/checkout", `{"type":"pro","userId":"u1"}`); a.status != 200 || r.stripe.checkouts[1].Type != "pro" {
		t.Fatalf("checkout by type: %d %s", a.status, a.raw)
	}
	a = r.do("POST", "/api/stripe/portal", `{"userId":"u1"}`)
	if a.status != 200 || a.body["url"] != "https://billing.stripe.com/p/session/u1" {
		t.Fatalf("portal: %d %s", a.status, a.raw)
	}

	// Each refusal names the field that is wrong, as the app sent it.
	for _, tt := range []struct{ name, path, body, code, says string }{
		{"no user", "/api/stripe/checkout", `{"type":"pro"}`, "invalid_request", "userId is required"},
		{"no price or type", "/api/stripe/checkout", `{"userId":"u1"}`, "invalid_request", "priceId or type"},
		{"bad mode", "/api/stripe/checkout", `{"userId":"u1","type":"pro","mode":"setup"}`, "invalid_request", "mode"},
		{"relative url", "/api/stripe/checkout", `{"userId":"u1","type":"pro","successUrl":"/ok"}`, "invalid_request", "successUrl must be an absolute"},
		{"javascript url", "/api/stripe/checkout", `{"userId":"u1","type":"pro","cancelUrl":"javascript:alert(1)"}`, "invalid_request", "cancelUrl must be an absolute"},
		{"unknown field", "/api/stripe/checkout", `{"userId":"u1","type":"pro","quantity":2}`, "unknown_field", "quantity"},
		{"portal no user", "/api/stripe/portal", `{}`, "invalid_request", "userId is required"},
		{"portal relative url", "/api/stripe/portal", `{"userId":"u1","returnUrl":"/back"}`, "invalid_request", "returnUrl must be an absolute"},
		{"portal unknown field", "/api/stripe/portal", `{"userId":"u1","customer":"cus_1"}`, "unknown_field", "customer"},
	} {
		if a := r.do("POST", tt.path, tt.body); a.status != 400 || a.code() != tt.code || !strings.Contains(a.raw, tt.says) {
			t.Errorf("%s: %d %s, want 400 %s saying %q", tt.name, a.status, a.raw, tt.code, tt.says)
		}
	}

	for _, tt := range []struct {
		err    error
		status int
		code   string
	}{
		{billing.ErrNoCustomer, 409, "no_customer"},
		{fmt.Errorf("portal: %w", billing.ErrNoStripe), 503, "stripe_not_configured"},
		{fmt.Errorf("%w: unknown purchase type \"gold\"", billing.ErrInvalid), 400, "invalid_request"},
		{&billing.TransientError{Err: errors.New("Stripe API unreachable")}, 503, "stripe_unavailable"},
		{errors.New("Stripe invalid_request_error: No such price: 'price_x'"), 502, "stripe_error"},
	} {
		r.stripe.err = tt.err
		for path, body := range map[string]string{"/api/stripe/checkout": `{"userId":"u1","type":"pro"}`, "/api/stripe/portal": `{"userId":"u1"}`} {
			a := r.do("POST", path, body)
			if a.status != tt.status || a.code() != tt.code {
				t.Errorf("%v on %s: %d %s, want %d %s", tt.err, path, a.status, a.raw, tt.status, tt.code)
			}
		}
	}

	// Without a Stripe client both answer 503 and say how to fix it.
	r2 := newAPIRig(t, DefaultLimits(), false)
	r2.t = t
	for _, path := range []string{"/api/stripe/checkout", "/api/stripe/portal"} {
		a := r2.do("POST", path, `{"userId":"u1"}`)
		if a.status != 503 || a.code() != "stripe_not_configured" || !strings.Contains(a.raw, "STRIPE_SECRET_KEY") {
			t.Errorf("%s without Stripe: %d %s", path, a.status, a.raw)
		}
	}
}

func TestHealthz(t *testing.T) {
	var mu sync.Mutex
	var down error
	s := NewServer(DefaultPath, NewReceiver(nopInbox{}, nil), func() error { mu.Lock(); defer mu.Unlock(); return down })
	srv := httptest.NewServer(s.Mux)
	defer srv.Close()
	get := func() (int, string) {
		resp, err := http.Get(srv.URL + "/healthz")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, body := get(); code != 200 || !strings.Contains(body, `"ok"`) {
		t.Fatalf("healthy: %d %s", code, body)
	}
	mu.Lock()
	down = errors.New("processor not running")
	mu.Unlock()
	if code, body := get(); code != 503 || !strings.Contains(body, "processor not running") {
		t.Fatalf("processor stopped: %d %s", code, body)
	}
}

type nopInbox struct{}

func (nopInbox) Ingest([]byte, string) (billing.EventRecord, bool, error) {
	return billing.EventRecord{}, false, errors.New("no store")
}
func (nopInbox) NoteRejected(string, string) {}

// TestAPIConcurrentSpends runs 64 clients spending against one balance with
// fresh keys and keys they share and retry, asking for more than there is.
// Every key spends at most once, all answers for one key agree, the balance
// never goes below zero, and the ledger holds exactly the spends answered.
func TestAPIConcurrentSpends(t *testing.T) {
	r := newAPIRig(t, Limits{Credits: Limit{Rate: rate.Inf, Burst: 1}, Stripe: DefaultLimits().Stripe}, false)
	const (
		clients   = 64
		perClient = 12
		amount    = 7
		initial   = 3000 // less than the 64*12*7 = 5376 asked for
	)
	r.seed("u1", 1000, r.now.Add(time.Hour), "evt_a")
	r.seed("u1", 1000, r.now.Add(2*time.Hour), "evt_b")
	r.seed("u1", 1000, time.Time{}, "evt_c")

	type result struct {
		key     string
		status  int
		credits int64
		entry   int64
	}
	results := make(chan result, clients*perClient*2)
	var wg sync.WaitGroup
	for c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range perClient {
				key := fmt.Sprintf("c%d-%d", c, i)
				if i%3 == 0 {
					key = fmt.Sprintf("shared-%d", i) // every client sends this one
				}
				for try := 0; try < 2; try++ { // and retries each once
					a, err := r.send("POST", "/api/users/u1/spend", fmt.Sprintf(`{"amount":%d,"reason":"job"}`, amount), "Idempotency-Key", key)
					if err != nil {
						t.Error(err)
						return
					}
					results <- result{key, a.status, a.num("credits"), a.num("entry_id")}
				}
			}
		}()
	}
	wg.Wait()
	close(results)

	byKey := map[string]result{}
	refused := 0
	for res := range results {
		switch res.status {
		case 200:
			if prev, ok := byKey[res.key]; ok && prev != res {
				t.Errorf("key %s answered %+v and %+v", res.key, prev, res)
			}
			byKey[res.key] = res
			if res.credits < 0 {
				t.Errorf("balance went to %d", res.credits)
			}
		case 402:
			refused++
		default:
			t.Errorf("key %s: status %d", res.key, res.status)
		}
	}
	if refused == 0 {
		t.Fatal("no spend was refused though more was asked than there is")
	}
	var spends []billing.Entry
	for _, e := range r.ledger("u1") {
		if e.Kind == "spend" {
			spends = append(spends, e)
		}
	}
	if len(spends) != len(byKey) {
		t.Fatalf("%d spend entries for %d keys answered 200", len(spends), len(byKey))
	}
	entries := map[int64]bool{}
	for _, res := range byKey {
		entries[res.entry] = true
	}
	for _, e := range spends {
		if !entries[int64(e.ID)] || e.Delta != -amount {
			t.Errorf("entry %+v was not answered to any client", e)
		}
	}
	final := r.do("GET", "/api/users/u1", "").num("credits")
	if want := int64(initial - amount*len(byKey)); final != want || final < 0 || final >= amount {
		t.Fatalf("final balance %d, want %d (and below one spend, since some were refused)", final, want)
	}
	r.verify()
}
