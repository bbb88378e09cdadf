package stripeapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stripe/stripe-go/v76"

	"creditdesk/billing"
	"creditdesk/internal/config"
	"creditdesk/internal/stripeapi/stripemock"
	"creditdesk/internal/testkit"
	"creditdesk/storage"
)

var testNow = time.Date(2026, 3, 10, 12, 0, 0, 0, time.UTC)

func testCatalog() billing.Catalog {
	return billing.Catalog{
		FreeCredits: 100,
		Plans: map[string]*billing.Plan{
			"pro": {Name: "pro", MonthlyCredits: 2500, Sale: billing.Sale{PriceIDs: []string{"price_pro_monthly"}}},
		},
		Packs: map[string]*billing.Pack{
			"topup":   {Name: "topup", Credits: 1000, Sale: billing.Sale{PriceIDs: []string{"price_topup"}}},
			"adhoc":   {Name: "adhoc", Credits: 300, Sale: billing.Sale{Amount: 1500, Currency: "eur"}},
			"noprice": {Name: "noprice", Credits: 10},
		},
		ProductMap:   map[string]string{},
		PaymentLinks: map[string]string{"topup": "https://buy.stripe.com/test_topup"},
	}
}

type env struct {
	t    *testing.T
	mock *stripemock.Server
	c    *Client
	svc  *billing.Service
	st   *storage.Store
}

func newEnv(t *testing.T) *env {
	t.Helper()
	mock := stripemock.Start(t)
	st := testkit.TempStore(t)
	cat := testCatalog()
	cfg := Config{SecretKey: "sk_test_123", APIBase: mock.URL, Catalog: cat, ReturnBase: "https://app.example.com",
		Now: func() time.Time { return testNow }}
	lineItems, err := New(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	svc := billing.NewService(st, billing.Options{Rules: billing.Rules{Catalog: cat}, Fetcher: lineItems, Clock: func() time.Time { return testNow }})
	c, err := New(cfg, svc)
	if err != nil {
		t.Fatal(err)
	}
	return &env{t: t, mock: mock, c: c, svc: svc, st: st}
}

// one returns the single request to method path.
func (e *env) one(method, path string) stripemock.Request {
	e.t.Helper()
	rs := e.mock.Find(method, path)
	if len(rs) != 1 {
		e.t.Fatalf("%s %s: %d requests, want 1 (all: %v)", method, path, len(rs), paths(e.mock.Requests()))
	}
	return rs[0]
}

// checkout makes a checkout link for req and returns the one request that
// created its session.
func (e *env) checkout(req billing.CheckoutRequest) stripemock.Request {
	e.t.Helper()
	if _, err := e.c.CreateCheckout(context.Background(), req); err != nil {
		e.t.Fatal(err)
	}
	return e.one("POST", "/v1/checkout/sessions")
}

func paths(rs []stripemock.Request) []string {
	var out []string
	for _, r := range rs {
		out = append(out, r.Method+" "+r.Path)
	}
	return out
}

func wantForm(t *testing.T, r stripemock.Request, want map[string]string) {
	t.Helper()
	for k, v := range want {
		if got := r.Form.Get(k); got != v {
			t.Errorf("%s %s: %s = %q, want %q", r.Method, r.Path, k, got, v)
		}
	}
}

func noForm(t *testing.T, r stripemock.Request, keys ...string) {
	t.Helper()
	for _, k := range keys {
		if r.Form.Has(k) {
			t.Errorf("%s %s: %s = %q, want it absent", r.Method, r.Path, k, r.Form.Get(k))
		}
	}
}

func TestCheckoutPackWithManualCaptureCreatesCustomerAndSendsMetadata(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	link, err := e.c.CreateCheckout(ctx, billing.CheckoutRequest{UserID: "u1", Type: "topup", ManualCapture: true,
		AllowPromotionCodes: true, AutomaticTax: true})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(link.URL, "https://") || link.SessionID == "" || link.Livemode {
		t.Fatalf("link = %+v", link)
	}

	cus := e.one("POST", "/v1/customers")
	wantForm(t, cus, map[string]string{"metadata[user_id]": "u1"})
	if cus.IdempotencyKey != "creditdesk-customer-u1" {
		t.Errorf("customer idempotency key = %q", cus.IdempotencyKey)
	}
	// The customer stripe-mock made is linked both ways in the store.
	var u billing.User
	var linked string
	_ = e.st.View(testNow, func(tx billing.Tx) error {
		u, _, _ = tx.User("u1")
		linked = tx.CustomerUser(u.CustomerID)
		return nil
	})
	if !strings.HasPrefix(u.CustomerID, "cus_") || linked != "u1" {
		t.Fatalf("stored customer %q linked to %q", u.CustomerID, linked)
	}

	s := e.one("POST", "/v1/checkout/sessions")
	wantForm(t, s, map[string]string{
		"mode":                                   "payment",
		"customer":                               u.CustomerID,
		"client_reference_id":                    "u1",
		"metadata[type]":                         "topup",
		"metadata[user_id]":                      "u1",
		"metadata[credits]":                      "1000",
		"metadata[capture]":                      "manual",
		"payment_intent_data[capture_method]":    "manual",
		"payment_intent_data[metadata][user_id]": "u1",
		"line_items[0][price]":                   "price_topup",
		"line_items[0][quantity]":                "1",
		"allow_promotion_codes":                  "true",
		"automatic_tax[enabled]":                 "true",
		"customer_update[address]":               "auto",
		"success_url":                            "https://app.example.com/checkout/success?session_id={CHECKOUT_SESSION_ID}",
		"cancel_url":                             "https://app.example.com/checkout/cancel",
	})
	noForm(t, s, "subscription_data[metadata][user_id]", "line_items[0][price_data][currency]")
	if !strings.HasPrefix(s.IdempotencyKey, "creditdesk-checkout-") || len(s.IdempotencyKey) < len("creditdesk-checkout-")+16 {
		t.Errorf("checkout idempotency key = %q", s.IdempotencyKey)
	}
	if s.StripeVersion != stripe.APIVersion {
		t.Errorf("Stripe-Version = %q, want %q", s.StripeVersion, stripe.APIVersion)
	}

	// A second link for the same user reuses the customer.
	e.mock.Reset()
	if _, err := e.c.CreateCheckout(ctx, billing.CheckoutRequest{UserID: "u1", Type: "topup"}); err != nil {
		t.Fatal(err)
	}
	if n := len(e.mock.Find("POST", "/v1/customers")); n != 0 {
		t.Errorf("second checkout created %d customers, want to reuse the stored one", n)
	}
	s2 := e.one("POST", "/v1/checkout/sessions")
	wantForm(t, s2, map[string]string{"customer": u.CustomerID, "mode": "payment"})
	noForm(t, s2, "payment_intent_data[capture_method]", "metadata[capture]", "allow_promotion_codes", "automatic_tax[enabled]")
	if s2.IdempotencyKey == s.IdempotencyKey {
		t.Error("two different checkouts shared an idempotency key")
	}
}

func TestCheckoutPlanIsASubscriptionWithUserOnTheSubscription(t *testing.T) {
	e := newEnv(t)
	s := e.checkout(billing.CheckoutRequest{UserID: "u2", Type: "plan-pro",
		SuccessURL: "https://app.example.com/thanks", IdempotencyKey: "k1"})
	wantForm(t, s, map[string]string{
		"mode":                                 "subscription",
		"metadata[type]":                       "pro",
		"metadata[user_id]":                    "u2",
		"client_reference_id":                  "u2",
		"subscription_data[metadata][user_id]": "u2",
		"line_items[0][price]":                 "price_pro_monthly",
		"success_url":                          "https://app.example.com/thanks",
	})
	noForm(t, s, "payment_intent_data[capture_method]", "metadata[credits]")
	if s.IdempotencyKey != "creditdesk-checkout-k1" {
		t.Errorf("idempotency key = %q, want the caller's", s.IdempotencyKey)
	}
}

func TestCheckoutPackWithoutPriceIDSellsAdHocPriceData(t *testing.T) {
	e := newEnv(t)
	s := e.checkout(billing.CheckoutRequest{UserID: "u3", Type: "adhoc"})
	wantForm(t, s, map[string]string{
		"mode":                                   "payment",
		"line_items[0][price_data][currency]":    "eur",
		"line_items[0][price_data][unit_amount]": "1500",
		"line_items[0][price_data][product_data][metadata][type]":    "adhoc",
		"line_items[0][price_data][product_data][metadata][credits]": "300",
		"metadata[credits]": "300",
	})
	if s.Form.Get("line_items[0][price_data][product_data][name]") == "" {
		t.Error("ad-hoc price has no product name")
	}
	noForm(t, s, "line_items[0][price]")
}

func TestCheckoutRefusesBadRequestsBeforeCallingStripe(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	cases := []struct {
		req  billing.CheckoutRequest
		want string
	}{
		{billing.CheckoutRequest{UserID: "u1", Type: "pro", ManualCapture: true}, "manual capture is for one-time payments"},
		{billing.CheckoutRequest{UserID: "u1", Type: "gold"}, `unknown purchase type "gold": the catalog has`},
		{billing.CheckoutRequest{UserID: "u1", Type: "noprice"}, `pack "noprice" has no price_ids and no amount`},
		{billing.CheckoutRequest{UserID: "", Type: "topup"}, "a user id is required"},
		{billing.CheckoutRequest{UserID: "u1"}, "a purchase type"},
	}
	for _, c := range cases {
		_, err := e.c.CreateCheckout(ctx, c.req)
		if err == nil || !strings.Contains(err.Error(), c.want) || !errors.Is(err, billing.ErrInvalid) {
			t.Errorf("%+v: err = %v, want %q", c.req, err, c.want)
		}
	}
	if rs := e.mock.Requests(); len(rs) != 0 {
		t.Errorf("refused requests still called Stripe: %v", paths(rs))
	}
}

func TestCheckoutRetriesA503WithTheSameIdempotencyKey(t *testing.T) {
	e := newEnv(t)
	var calls atomic.Int32
	e.mock.Override("POST /v1/checkout/sessions", func(w http.ResponseWriter, r *http.Request) {
		if calls.Add(1) == 1 {
			w.Header().Set("Request-Id", "req_busy")
			w.WriteHeader(http.StatusServiceUnavailable)
			fmt.Fprint(w, `{"error":{"type":"api_error","message":"try again"}}`)
			return
		}
		e.mock.Forward(w, r)
	})
	link, err := e.c.CreateCheckout(context.Background(), billing.CheckoutRequest{UserID: "u1", Type: "topup"})
	if err != nil || link.URL == "" {
		t.Fatalf("after a retry: %+v, %v", link, err)
	}
	rs := e.mock.Find("POST", "/v1/checkout/sessions")
	if len(rs) != 2 || rs[0].IdempotencyKey == "" || rs[0].IdempotencyKey != rs[1].IdempotencyKey {
		t.Fatalf("want 2 attempts with one idempotency key, got %d: %q", len(rs), keys(rs))
	}
}

func keys(rs []stripemock.Request) []string {
	var out []string
	for _, r := range rs {
		out = append(out, r.IdempotencyKey)
	}
	return out
}

func TestStripeErrorsAreOneLineWithRequestIDAndNoKey(t *testing.T) {
	e := newEnv(t)
	e.mock.Override("POST /v1/checkout/sessions", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Request-Id", "req_abc123")
		w.WriteHeader(http.StatusBadRequest)
		fmt.Fprint(w, `{"error":{"type":"invalid_request_error","code":"resource_missing","param":"line_items[0][price]",
			"message":"No such price: 'price_topup'\nkey sk_test_51Habcdefghijklmnop used"}}`)
	})
	_, err := e.c.CreateCheckout(context.Background(), billing.CheckoutRequest{UserID: "u1", Type: "topup"})
	if err == nil {
		t.Fatal("no error")
	}
	msg := err.Error()
	for _, want := range []string{"invalid_request_error", "resource_missing", "No such price: 'price_topup'", "req_abc123"} {
		if !strings.Contains(msg, want) {
			t.Errorf("error %q lacks %q", msg, want)
		}
	}
	if strings.Contains(msg, "\n") || strings.Contains(msg, "abcdefghijklmnop") || strings.Contains(msg, "{") {
		t.Errorf("error is not one clean line without the key: %q", msg)
	}
	var te *billing.TransientError
	if errors.As(err, &te) {
		t.Error("a 400 was marked transient")
	}
	if se, ok := StripeError(err); !ok || se.Code != "resource_missing" {
		t.Errorf("StripeError = %+v, %v", se, ok)
	}
}

func TestPortalNeedsACustomer(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	_, err := e.c.CreatePortal(ctx, "nobody", "")
	if !errors.Is(err, billing.ErrNoCustomer) || strings.Contains(err.Error(), "{") {
		t.Fatalf("portal without customer: %v", err)
	}
	if rs := e.mock.Requests(); len(rs) != 0 {
		t.Errorf("called Stripe for a user with no customer: %v", paths(rs))
	}
	_ = e.st.Update(testNow, func(tx billing.Tx) error {
		u, _ := billing.EnsureUser(tx, "u9")
		u.CustomerID = "cus_u9"
		return tx.PutUser(u)
	})
	url, err := e.c.CreatePortal(ctx, "u9", "https://app.example.com/account")
	if err != nil || !strings.HasPrefix(url, "https://") {
		t.Fatalf("portal: %q %v", url, err)
	}
	r := e.one("POST", "/v1/billing_portal/sessions")
	wantForm(t, r, map[string]string{"customer": "cus_u9", "return_url": "https://app.example.com/account"})
	if r.IdempotencyKey == "" {
		t.Error("portal create without an idempotency key")
	}
}

func TestSessionLineItemsExpandsPricesAndProducts(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	items, err := e.c.SessionLineItems(ctx, "cs_test_1")
	if err != nil {
		t.Fatal(err)
	}
	r := e.one("GET", "/v1/checkout/sessions/cs_test_1")
	if got := r.Form["expand[]"]; len(got) == 0 {
		got = []string{r.Form.Get("expand[0]"), r.Form.Get("expand[1]")}
		if got[0] != "line_items" || got[1] != "line_items.data.price.product" {
			t.Errorf("expand = %v (query %v)", got, r.Form)
		}
	}
	if len(items.Items) == 0 || !strings.HasPrefix(items.Items[0].PriceID, "price_") || !strings.HasPrefix(items.Items[0].ProductID, "prod_") {
		t.Fatalf("items from stripe-mock = %+v", items)
	}

	// The product's metadata gives the type and credits.
	e.mock.Override("GET /v1/checkout/sessions/cs_meta", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, `{"id":"cs_meta","object":"checkout.session","line_items":{"object":"list","data":[
			{"id":"li_1","object":"item","quantity":3,"price":{"id":"price_x","object":"price",
			 "product":{"id":"prod_x","object":"product","metadata":{"type":"topup","credits":"250"}}}}]}}`)
	})
	items, err = e.c.SessionLineItems(ctx, "cs_meta")
	want := billing.LineItem{PriceID: "price_x", ProductID: "prod_x", ProductType: "topup", ProductCredits: 250, Quantity: 3}
	if err != nil || len(items.Items) != 1 || items.Items[0] != want {
		t.Fatalf("items = %+v, %v; want %+v", items, err, want)
	}

	// 429 and 5xx are worth retrying; a 404 is an answer.
	e.mock.Override("GET /v1/checkout/sessions/cs_busy", func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusTooManyRequests)
		fmt.Fprint(w, `{"error":{"type":"invalid_request_error","code":"rate_limit","message":"Too many requests"}}`)
	})
	_, err = e.c.SessionLineItems(ctx, "cs_busy")
	var te *billing.TransientError
	if !errors.As(err, &te) {
		t.Errorf("429: %v is not transient", err)
	}
	e.mock.Override("GET /v1/checkout/sessions/cs_gone", func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusNotFound)
		fmt.Fprint(w, `{"error":{"type":"invalid_request_error","code":"resource_missing","message":"No such checkout.session"}}`)
	})
	_, err = e.c.SessionLineItems(ctx, "cs_gone")
	if err == nil || errors.As(err, &te) {
		t.Errorf("404: %v, want a plain error", err)
	}
}

func TestNetworkFailureIsTransient(t *testing.T) {
	c, err := New(Config{SecretKey: "sk_test_123", APIBase: "http://127.0.0.1:1", MaxNetworkRetries: -1}, nil)
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.SessionLineItems(context.Background(), "cs_1")
	var te *billing.TransientError
	if !errors.As(err, &te) || strings.Contains(err.Error(), "sk_test_123") {
		t.Fatalf("unreachable API: %v", err)
	}
}

func TestNewRefusesKeysOfTheWrongKind(t *testing.T) {
	if _, err := New(Config{}, nil); !errors.Is(err, billing.ErrNoStripe) {
		t.Errorf("no key: %v", err)
	}
	_, err := New(Config{SecretKey: "pk_test_abcdefgh1234"}, nil)
	if err == nil || !strings.Contains(err.Error(), "publishable key") || strings.Contains(err.Error(), "abcdefgh1234") {
		t.Errorf("pk_ key: %v", err)
	}
}

func TestCaptureQueueListsStoreAndAPIAuthorizations(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	_ = e.st.Update(testNow, func(tx billing.Tx) error {
		for _, p := range []billing.Purchase{
			{ID: "cs_auth", UserID: "u1", Mode: "payment", Status: "authorized", PaymentIntent: "pi_store", AmountTotal: 2000, Currency: "usd", Type: "topup", Credits: 1000, CreatedAt: testNow.Add(-6 * 24 * time.Hour)},
			{ID: "cs_paid", UserID: "u1", Mode: "payment", Status: "paid", PaymentIntent: "pi_paid"},
		} {
			if err := tx.PutPurchase(p); err != nil {
				return err
			}
		}
		return nil
	})
	created := testNow.Add(-2 * 24 * time.Hour).Unix()
	e.mock.Override("GET /v1/payment_intents", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, `{"object":"list","has_more":false,"data":[
			{"id":"pi_api","object":"payment_intent","status":"requires_capture","amount":5000,"amount_capturable":4900,"currency":"jpy","created":%d,"metadata":{"user_id":"u2","type":"bulk"}},
			{"id":"pi_done","object":"payment_intent","status":"succeeded","amount":100,"currency":"usd","created":%d}]}`, created, created)
	})
	auths, err := e.c.Captures(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(auths) != 2 {
		t.Fatalf("auths = %+v", auths)
	}
	// Soonest deadline first: the store's, authorized 6 days ago.
	a, b := auths[0], auths[1]
	if a.PaymentIntent != "pi_store" || a.UserID != "u1" || !a.Deadline.Equal(testNow.Add(24*time.Hour)) || !a.InStore || a.InStripe {
		t.Errorf("store authorization = %+v", a)
	}
	if b.PaymentIntent != "pi_api" || b.UserID != "u2" || b.Amount != 4900 || b.Currency != "jpy" || !b.InStripe ||
		!b.Deadline.Equal(time.Unix(created, 0).Add(7*24*time.Hour)) {
		t.Errorf("API authorization = %+v", b)
	}
	r := e.one("GET", "/v1/payment_intents")
	if got := r.Form.Get("created[gte]"); got != fmt.Sprint(testNow.Add(-7*24*time.Hour-time.Hour).Unix()) {
		t.Errorf("created[gte] = %q", got)
	}

	res, err := e.c.Capture(ctx, "pi_api", "key1")
	if err != nil || res.PaymentIntent == "" {
		t.Fatalf("capture: %+v %v", res, err)
	}
	cr := e.one("POST", "/v1/payment_intents/pi_api/capture")
	if cr.IdempotencyKey != "creditdesk-capture-pi_api-key1" {
		t.Errorf("capture idempotency key = %q", cr.IdempotencyKey)
	}
	if _, err := e.c.Cancel(ctx, "pi_store", ""); err != nil {
		t.Fatal(err)
	}
	if k := e.one("POST", "/v1/payment_intents/pi_store/cancel").IdempotencyKey; !strings.HasPrefix(k, "creditdesk-cancel-pi_store-") {
		t.Errorf("cancel idempotency key = %q", k)
	}
	if _, err := e.c.Capture(ctx, "cs_auth", ""); err == nil || !strings.Contains(err.Error(), "not a payment intent") {
		t.Errorf("capture of a session id: %v", err)
	}
	// Capturing grants nothing by itself: credits come with the event.
	var bal int64
	_ = e.st.View(testNow, func(tx billing.Tx) error {
		u, _, _ := tx.User("u2")
		bal = u.Balance
		return nil
	})
	if bal != 0 {
		t.Errorf("capture granted %d credits before Stripe's event", bal)
	}
}

func event(id, typ string, created time.Time, extra string) string {
	return fmt.Sprintf(`{"id":%q,"object":"event","type":%q,"created":%d,"api_version":"2099-01-01.preview","livemode":false,%s"data":{"object":{"id":"prod_%s","object":"product","name":"P","metadata":{}}}}`,
		id, typ, created.Unix(), extra, id)
}

func TestResyncFeedsRawEventsOldestFirstAndDropsDuplicates(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	t1, t2, t3 := testNow.Add(-3*time.Hour), testNow.Add(-2*time.Hour), testNow.Add(-time.Hour)
	// evt_2 came by webhook already.
	if _, _, err := e.svc.Ingest([]byte(event("evt_2", "product.updated", t2, "")), "webhook"); err != nil {
		t.Fatal(err)
	}
	e.mock.Override("GET /v1/events", func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Query().Get("starting_after") {
		case "":
			fmt.Fprintf(w, `{"object":"list","has_more":true,"data":[%s,%s,%s]}`,
				event("evt_3", "product.created", t3, `"future_field":{"x":1},`), event("evt_x", "charge.succeeded", t3, ""), event("evt_2", "product.updated", t2, ""))
		case "evt_2":
			fmt.Fprintf(w, `{"object":"list","has_more":false,"data":[%s]}`, event("evt_1", "product.created", t1, ""))
		default:
			http.Error(w, "unexpected cursor", http.StatusBadRequest)
		}
	})
	var progress []ResyncProgress
	res, err := e.c.Resync(ctx, ResyncOptions{Since: testNow.Add(-72 * time.Hour), FailedOnly: true,
		Progress: func(p ResyncProgress) { progress = append(progress, p) }})
	if err != nil {
		t.Fatal(err)
	}
	if res.Listed != 4 || res.Stored != 2 || res.Duplicates != 1 || res.Skipped != 1 || res.Pages != 2 || !res.Done {
		t.Fatalf("result = %+v", res)
	}
	if len(progress) < 3 || !progress[len(progress)-1].Done {
		t.Errorf("progress = %+v", progress)
	}
	reqs := e.mock.Find("GET", "/v1/events")
	if len(reqs) != 2 {
		t.Fatalf("%d event pages requested", len(reqs))
	}
	wantForm(t, reqs[0], map[string]string{"created[gte]": fmt.Sprint(testNow.Add(-72 * time.Hour).Unix()), "delivery_success": "false", "limit": "100"})
	wantForm(t, reqs[1], map[string]string{"starting_after": "evt_2"})

	ev1, err1 := e.st.EventByID("evt_1")
	ev3, err3 := e.st.EventByID("evt_3")
	if err1 != nil || err3 != nil {
		t.Fatal(err1, err3)
	}
	if ev1.Seq > ev3.Seq || ev1.Source != "resync" {
		t.Errorf("evt_1 seq %d source %q, evt_3 seq %d: want oldest first, from resync", ev1.Seq, ev1.Source, ev3.Seq)
	}
	if !strings.Contains(string(ev3.Payload), `"future_field"`) {
		t.Errorf("payload lost fields of a newer API version: %s", ev3.Payload)
	}
	if _, err := e.st.EventByID("evt_x"); !errors.Is(err, billing.ErrNotFound) {
		t.Errorf("an event type creditdesk does not handle was stored: %v", err)
	}
}

func TestResyncIsClampedTo30DaysAndAutoResyncStartsAtTheNewestEvent(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	if _, err := e.c.AutoResync(ctx, nil); !errors.Is(err, ErrNothingStored) {
		t.Fatalf("auto resync on an empty store: %v", err)
	}
	if _, err := e.c.Resync(ctx, ResyncOptions{Since: testNow.Add(-90 * 24 * time.Hour)}); err != nil {
		t.Fatal(err) // against stripe-mock's own events list
	}
	r := e.one("GET", "/v1/events")
	wantForm(t, r, map[string]string{"created[gte]": fmt.Sprint(testNow.Add(-30 * 24 * time.Hour).Unix())})
	noForm(t, r, "delivery_success")

	newest := testNow.Add(-5 * time.Hour)
	if _, _, err := e.svc.Ingest([]byte(event("evt_n", "product.created", newest, "")), "webhook"); err != nil {
		t.Fatal(err)
	}
	e.mock.Reset()
	if _, err := e.c.AutoResync(ctx, nil); err != nil {
		t.Fatal(err)
	}
	r = e.one("GET", "/v1/events")
	wantForm(t, r, map[string]string{"created[gte]": fmt.Sprint(newest.Add(-resyncOverlap).Unix())})
}

func TestCatalogSyncCachesProductsPricesCouponsAndMapsTypes(t *testing.T) {
	e := newEnv(t)
	res, err := e.c.SyncCatalog(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if res.Products == 0 || res.Prices == 0 || res.Coupons == 0 {
		t.Fatalf("sync = %+v", res)
	}
	for _, p := range []string{"/v1/products", "/v1/prices", "/v1/coupons"} {
		wantForm(t, e.one("GET", p), map[string]string{"limit": "100"})
	}
	v, err := e.c.CatalogView()
	if err != nil || len(v.Prices) == 0 || len(v.Coupons) == 0 || !v.SyncedAt.Equal(testNow) {
		t.Fatalf("view = %+v, %v", v, err)
	}
	pr := v.Prices[0]
	if !strings.HasPrefix(pr.PriceID, "price_") || pr.Amount == "" || !strings.Contains(pr.Amount, "USD") {
		t.Errorf("price row = %+v", pr)
	}
	// A price maps to a catalog type through the product map.
	cat := testCatalog()
	cat.ProductMap[pr.ProductID] = "topup"
	v, err = ReadCatalog(e.svc, cat)
	if err != nil || v.Prices[0].Type != "topup" {
		t.Errorf("mapped type = %q, %v", v.Prices[0].Type, err)
	}
	var topup TypeRow
	for _, tr := range v.Types {
		if tr.Name == "topup" {
			topup = tr
		}
	}
	if topup.PaymentLink != "https://buy.stripe.com/test_topup" || topup.Kind != "pack" {
		t.Errorf("topup row = %+v", topup)
	}
}

func TestWebhookSetupEnablesEveryHandledEventAndPinsTheAPIVersion(t *testing.T) {
	for _, u := range []string{"http://localhost:4242/api/stripe/webhook", "http://127.0.0.1:4242/x", "https://app.localhost/x", "http://[::1]:80/x"} {
		_, err := PlanWebhook(u)
		if err == nil || !strings.Contains(err.Error(), "stripe listen --forward-to") || strings.Count(err.Error(), "\n") > 0 {
			t.Errorf("%s: %v", u, err)
		}
	}
	e := newEnv(t)
	plan, err := PlanWebhook("https://billing.example.com/api/stripe/webhook")
	if err != nil {
		t.Fatal(err)
	}
	if plan.APIVersion != "2023-10-16" {
		t.Errorf("api version = %q", plan.APIVersion)
	}
	if _, err := e.c.SetupWebhook(context.Background(), plan); err != nil {
		t.Fatal(err)
	}
	r := e.one("POST", "/v1/webhook_endpoints")
	wantForm(t, r, map[string]string{"url": plan.URL, "api_version": "2023-10-16"})
	var got []string
	for i := 0; r.Form.Has(fmt.Sprintf("enabled_events[%d]", i)); i++ {
		got = append(got, r.Form.Get(fmt.Sprintf("enabled_events[%d]", i)))
	}
	if strings.Join(got, ",") != strings.Join(billing.HandledEvents, ",") {
		t.Errorf("enabled events = %v", got)
	}
	if r.IdempotencyKey == "" {
		t.Error("no idempotency key")
	}

	// An endpoint for the same URL already exists: refuse, create nothing.
	e.mock.Reset()
	e.mock.Override("GET /v1/webhook_endpoints", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, `{"object":"list","has_more":false,"data":[{"id":"we_1","object":"webhook_endpoint","url":"https://billing.example.com/api/stripe/webhook","enabled_events":["*"],"status":"enabled"}]}`)
	})
	if _, err := e.c.SetupWebhook(context.Background(), plan); err == nil || !strings.Contains(err.Error(), "we_1 already sends") {
		t.Errorf("duplicate endpoint: %v", err)
	}
	if n := len(e.mock.Find("POST", "/v1/webhook_endpoints")); n != 0 {
		t.Errorf("created %d endpoints", n)
	}
}

func TestDoctorReportsEachProblemWithItsFix(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	cfg := config.Config{SecretKey: "sk_test_123", PublicURL: "https://billing.example.com", WebhookPath: "/api/stripe/webhook"}
	// billing.example.com answers over https (the https check's own test is in https_test.go).
	tlsOK := httpsServer(t, time.Now().Add(60*24*time.Hour), "billing.example.com")
	fs := Doctor(ctx, DoctorInput{Config: cfg, Client: e.c, Service: e.svc, Now: testNow, HTTPS: tlsOK})
	if !Failed(fs) {
		t.Fatalf("no problem found: %v", fs)
	}
	text := findings(fs)
	for _, want := range []string{
		"secret key sk_test_…, test mode",
		"the key works: account acct_",
		"none of the 1 registered endpoint(s) points at https://billing.example.com/api/stripe/webhook → run `creditdesk webhook setup https://billing.example.com/api/stripe/webhook`",
		"STRIPE_WEBHOOK_SECRET is not set",
		"no Stripe event received yet",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("doctor lacks %q:\n%s", want, text)
		}
	}
	for _, f := range fs {
		if f.Level != OK && f.Fix == "" {
			t.Errorf("%s without a fix", f)
		}
		if strings.Contains(f.String(), "\n") {
			t.Errorf("finding on several lines: %q", f)
		}
	}

	// All well: the endpoint is this receiver's with every event, the
	// secret is set, test events arrived for a test key.
	e.mock.Override("GET /v1/webhook_endpoints", func(w http.ResponseWriter, r *http.Request) {
		b, _ := json.Marshal(map[string]any{"object": "list", "data": []any{map[string]any{"id": "we_ok", "object": "webhook_endpoint",
			"url": "https://billing.example.com/api/stripe/webhook", "enabled_events": billing.HandledEvents, "status": "enabled", "api_version": "2023-10-16"}}})
		w.Write(b)
	})
	if _, _, err := e.svc.Ingest([]byte(event("evt_ok", "product.created", testNow.Add(-time.Hour), "")), "webhook"); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.ProcessPending(ctx); err != nil {
		t.Fatal(err)
	}
	cfg.WebhookSecret = "whsec_abcdefgh"
	fs = Doctor(ctx, DoctorInput{Config: cfg, Client: e.c, Service: e.svc, Now: testNow.Add(time.Hour), HTTPS: tlsOK})
	if Failed(fs) {
		t.Fatalf("problems on a good setup:\n%s", findings(fs))
	}
	if text := findings(fs); !strings.Contains(text, "we_ok → https://billing.example.com/api/stripe/webhook, API version 2023-10-16") ||
		!strings.Contains(text, "test-mode, like the key") || strings.Contains(text, "whsec_abcdefgh") {
		t.Errorf("good setup report:\n%s", text)
	}

	// A live key with test events is a problem; so is a pk_ key.
	liveCfg := cfg
	liveCfg.SecretKey = "sk_live_abcdefgh9999"
	live, _ := New(Config{SecretKey: liveCfg.SecretKey, APIBase: e.mock.URL}, e.svc)
	fs = Doctor(ctx, DoctorInput{Config: liveCfg, Client: live, Service: e.svc, Now: testNow, HTTPS: tlsOK})
	if text := findings(fs); !strings.Contains(text, "the key is live but the last 1 events received are test-mode") || strings.Contains(text, "abcdefgh9999") {
		t.Errorf("live key, test events:\n%s", text)
	}
	pk := cfg
	pk.SecretKey = "pk_test_abcdefgh1234"
	fs = Doctor(ctx, DoctorInput{Config: pk, Service: e.svc, Now: testNow, HTTPS: tlsOK})
	if text := findings(fs); !Failed(fs) || !strings.Contains(text, "publishable key") || strings.Contains(text, "abcdefgh1234") {
		t.Errorf("pk_ key:\n%s", text)
	}
}

func findings(fs []Finding) string {
	var b strings.Builder
	for _, f := range fs {
		b.WriteString(f.String() + "\n")
	}
	return b.String()
}

func TestFormatAmountKnowsZeroDecimalCurrencies(t *testing.T) {
	for _, c := range []struct {
		n    int64
		cur  string
		want string
	}{{1250, "usd", "12.50 USD"}, {500, "jpy", "500 JPY"}, {123456789, "eur", "1,234,567.89 EUR"}, {1000, "kwd", "1.000 KWD"}, {-5, "usd", "-0.05 USD"}} {
		if got := billing.FormatAmount(c.n, c.cur); got != c.want {
			t.Errorf("FormatAmount(%d, %s) = %q, want %q", c.n, c.cur, got, c.want)
		}
	}
}
