package cli

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"creditdesk/billing"
	"creditdesk/internal/config"
	"creditdesk/internal/stripeapi/stripemock"
	"creditdesk/tui"
)

// runStripe runs the command line in dir against the stripe-mock behind
// mock, with key as STRIPE_SECRET_KEY.
func runStripe(t *testing.T, dir string, mock *stripemock.Server, key string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	t.Chdir(dir)
	vars := map[string]string{"STRIPE_SECRET_KEY": key, "STRIPE_API_BASE": "", "STRIPE_WEBHOOK_SECRET": "", "CREDITDESK_DB": filepath.Join(dir, "cd.db"),
		"CREDITDESK_ADDR": "", "CREDITDESK_CONFIG": "", "CREDITDESK_PUBLIC_URL": "", "CREDITDESK_SUCCESS_URL": "", "CREDITDESK_CANCEL_URL": ""}
	if mock != nil {
		vars["STRIPE_API_BASE"] = mock.URL
	}
	for k, v := range vars {
		t.Setenv(k, v)
	}
	var out, errb bytes.Buffer
	code = Main(args, &out, &errb)
	return code, out.String(), errb.String()
}

const topupCatalog = `
[packs.topup]
credits = 1000
price_ids = ["price_topup_live"]
`

func TestCheckoutCommandPrintsACheckoutURL(t *testing.T) {
	mock := stripemock.Start(t)
	dir := t.TempDir()

	// No catalog configured, test key: the demo packs at sample prices.
	code, out, errOut := runStripe(t, dir, mock, "sk_test_123", "checkout", "u1", "topup")
	if code != 0 || !strings.HasPrefix(out, "https://checkout.stripe.com/") || strings.Count(out, "\n") != 1 {
		t.Fatalf("checkout: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	if !strings.Contains(errOut, "demo plans and packs") {
		t.Errorf("no note that the demo catalog was sold: %q", errOut)
	}
	s := mock.Find("POST", "/v1/checkout/sessions")[0]
	for k, v := range map[string]string{"mode": "payment", "metadata[type]": "topup", "metadata[user_id]": "u1", "metadata[credits]": "1000",
		"client_reference_id": "u1", "line_items[0][price_data][currency]": "usd", "line_items[0][price_data][unit_amount]": "2000"} {
		if got := s.Form.Get(k); got != v {
			t.Errorf("%s = %q, want %q", k, got, v)
		}
	}
	if s.IdempotencyKey == "" {
		t.Error("checkout without an idempotency key")
	}

	// With a catalog: its price, and the options.
	if err := os.WriteFile(filepath.Join(dir, "creditdesk.toml"), []byte(topupCatalog), 0o600); err != nil {
		t.Fatal(err)
	}
	mock.Reset()
	code, out, errOut = runStripe(t, dir, mock, "sk_test_123", "checkout", "u1", "topup", "--manual-capture", "--promo", "--success-url", "https://app.example.com/ok")
	if code != 0 || !strings.HasPrefix(out, "https://") {
		t.Fatalf("checkout with options: exit %d %q %q", code, out, errOut)
	}
	s = mock.Find("POST", "/v1/checkout/sessions")[0]
	for k, v := range map[string]string{"line_items[0][price]": "price_topup_live", "payment_intent_data[capture_method]": "manual",
		"metadata[capture]": "manual", "allow_promotion_codes": "true", "success_url": "https://app.example.com/ok"} {
		if got := s.Form.Get(k); got != v {
			t.Errorf("%s = %q, want %q", k, got, v)
		}
	}
	if n := len(mock.Find("POST", "/v1/customers")); n != 0 {
		t.Errorf("the second checkout made %d new customers; the first one's is stored", n)
	}
}

func TestLiveKeyNeverSellsTheDemoCatalog(t *testing.T) {
	mock := stripemock.Start(t)
	code, _, errOut := runStripe(t, t.TempDir(), mock, "sk_live_abcdefgh1234", "checkout", "u1", "topup")
	if code == 0 || !strings.Contains(errOut, "catalog defines no plans or packs") || strings.Contains(errOut, "abcdefgh1234") {
		t.Fatalf("live key, no catalog: exit %d %q", code, errOut)
	}
	if rs := mock.Requests(); len(rs) != 0 {
		t.Errorf("called Stripe: %d requests", len(rs))
	}
}

func TestPortalForAUserWithoutCustomerIsOnePlainLine(t *testing.T) {
	mock := stripemock.Start(t)
	code, _, errOut := runStripe(t, t.TempDir(), mock, "sk_test_123", "portal", "u7")
	if code == 0 || !strings.Contains(errOut, "no Stripe customer yet") || strings.Count(strings.TrimSpace(errOut), "\n") != 0 {
		t.Fatalf("portal: exit %d %q", code, errOut)
	}
}

func TestWebhookSetupRefusesLocalhostAndDryRunCreatesNothing(t *testing.T) {
	mock := stripemock.Start(t)
	dir := t.TempDir()
	code, _, errOut := runStripe(t, dir, mock, "sk_test_123", "webhook", "setup", "http://localhost:4242/api/stripe/webhook")
	if code == 0 || !strings.Contains(errOut, "stripe listen --forward-to") || strings.Count(strings.TrimSpace(errOut), "\n") != 0 {
		t.Fatalf("localhost: exit %d %q", code, errOut)
	}
	code, out, _ := runStripe(t, dir, mock, "sk_test_123", "webhook", "setup", "https://billing.example.com/api/stripe/webhook", "--dry-run")
	if code != 0 || !strings.Contains(out, "api_version  2023-10-16") || !strings.Contains(out, "payment_intent.amount_capturable_updated") {
		t.Fatalf("dry run: exit %d %q", code, out)
	}
	if rs := mock.Requests(); len(rs) != 0 {
		t.Errorf("dry run or refusal called Stripe: %d requests", len(rs))
	}
	code, out, errOut = runStripe(t, dir, mock, "sk_test_123", "webhook", "setup", "https://billing.example.com/api/stripe/webhook")
	if code != 0 || !strings.Contains(out, "created webhook endpoint we_") {
		t.Fatalf("setup: exit %d %q %q", code, out, errOut)
	}
}

func TestResyncAppliesMissedEventsOnce(t *testing.T) {
	mock := stripemock.Start(t)
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "creditdesk.toml"), []byte(topupCatalog), 0o600); err != nil {
		t.Fatal(err)
	}
	created := time.Now().Add(-time.Hour).Unix()
	ev, _ := json.Marshal(map[string]any{"id": "evt_missed", "object": "event", "type": "checkout.session.completed", "created": created,
		"api_version": "2023-10-16", "livemode": false, "data": map[string]any{"object": map[string]any{
			"id": "cs_missed", "object": "checkout.session", "mode": "payment", "payment_status": "paid", "status": "complete",
			"client_reference_id": "u1", "customer": "cus_1", "amount_total": 2000, "currency": "usd", "payment_intent": "pi_1",
			"metadata": map[string]any{"type": "topup", "user_id": "u1"}}}})
	mock.Override("GET /v1/events", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, `{"object":"list","has_more":false,"data":[%s]}`, ev)
	})
	code, out, errOut := runStripe(t, dir, mock, "sk_test_123", "resync", "--since", "72h", "--failed-only")
	if code != 0 || !strings.Contains(out, "1 listed, 1 new") {
		t.Fatalf("resync: exit %d %q %q", code, out, errOut)
	}
	if q := mock.Find("GET", "/v1/events")[0].Form; q.Get("delivery_success") != "false" || q.Get("created[gte]") == "" {
		t.Errorf("events query = %v", q)
	}
	code, out, _ = runStripe(t, dir, mock, "sk_test_123", "resync")
	if code != 0 || !strings.Contains(out, "0 new, 1 already stored") {
		t.Fatalf("second resync: exit %d %q", code, out)
	}
	_, out, _ = runStripe(t, dir, mock, "", "users", "--json")
	var users []map[string]any
	if err := json.Unmarshal([]byte(out), &users); err != nil || len(users) != 1 || users[0]["credits"] != float64(1000) {
		t.Fatalf("after two resyncs, users = %s (%v); want u1 with 1000 credits once", out, err)
	}
}

func TestCapturesListsTheQueue(t *testing.T) {
	mock := stripemock.Start(t)
	created := time.Now().Add(-6*24*time.Hour - 12*time.Hour).Unix()
	mock.Override("GET /v1/payment_intents", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, `{"object":"list","has_more":false,"data":[{"id":"pi_wait","object":"payment_intent","status":"requires_capture",
			"amount":2000,"amount_capturable":2000,"currency":"usd","created":%d,"metadata":{"user_id":"u5","type":"topup"}}]}`, created)
	})
	code, out, errOut := runStripe(t, t.TempDir(), mock, "sk_test_123", "captures")
	if code != 0 || !strings.Contains(out, "pi_wait") || !strings.Contains(out, "u5") || !strings.Contains(out, "20.00 USD") || !strings.Contains(out, "h left)") {
		t.Fatalf("captures: exit %d %q %q", code, out, errOut)
	}
}

func TestDoctorExitsNonZeroOnProblems(t *testing.T) {
	mock := stripemock.Start(t)
	dir := t.TempDir()
	code, out, _ := runStripe(t, dir, mock, "sk_test_123", "doctor")
	if code == 0 || !strings.Contains(out, "STRIPE_WEBHOOK_SECRET is not set") || !strings.Contains(out, "the key works") {
		t.Fatalf("doctor: exit %d\n%s", code, out)
	}
	code, out, _ = runStripe(t, dir, mock, "pk_test_abcdefgh1234", "doctor")
	if code == 0 || !strings.Contains(out, "publishable key") || strings.Contains(out, "abcdefgh1234") {
		t.Fatalf("doctor with pk_: exit %d\n%s", code, out)
	}
}

func TestStartWithAKeySyncsTheCatalogAndResyncsFromTheNewestEvent(t *testing.T) {
	mock := stripemock.Start(t)
	dir := t.TempDir()
	cfg := config.Config{DB: filepath.Join(dir, "app.db"), SecretKey: "sk_test_123", APIBase: mock.URL}
	start := func() *app {
		t.Helper()
		a := testApp(t, cfg, appOptions{})
		// The catalog sync and then the resync run in the background; the
		// status line between them is not the end of it.
		select {
		case <-a.stripe.done:
		case <-time.After(20 * time.Second):
			t.Fatalf("background work never finished: %q", a.stripe.Status())
		}
		return a
	}
	a := start()
	if !strings.Contains(a.stripe.Status(), "no stored events to resync from") {
		t.Errorf("first start: status %q", a.stripe.Status())
	}
	for _, p := range []string{"/v1/products", "/v1/prices", "/v1/coupons"} {
		if len(mock.Find("GET", p)) != 1 {
			t.Errorf("catalog sync did not list %s", p)
		}
	}
	if n := len(mock.Find("GET", "/v1/events")); n != 0 {
		t.Errorf("resynced %d times with nothing stored", n)
	}
	created := time.Now().Add(-3 * time.Hour).Unix()
	body := fmt.Sprintf(`{"id":"evt_seen","object":"event","type":"product.created","created":%d,"livemode":false,"data":{"object":{"id":"prod_1","object":"product"}}}`, created)
	if _, _, err := a.svc.Ingest([]byte(body), "webhook"); err != nil {
		t.Fatal(err)
	}
	if err := a.stop(); err != nil {
		t.Fatal(err)
	}

	mock.Reset()
	a = start()
	defer a.stop()
	evs := mock.Find("GET", "/v1/events")
	if len(evs) != 1 {
		t.Fatalf("second start: %d event listings", len(evs))
	}
	if got := evs[0].Form.Get("created[gte]"); got != fmt.Sprint(created-600) {
		t.Errorf("resync from created[gte]=%s, want the newest stored event's time less 10 minutes (%d)", got, created-600)
	}
}

func TestConsoleOperatorOverStripeMock(t *testing.T) {
	mock := stripemock.Start(t)
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "creditdesk.toml"), []byte(topupCatalog), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Chdir(dir)
	cfg := config.Config{DB: filepath.Join(dir, "op.db"), Addr: "127.0.0.1:0", SecretKey: "sk_test_123", APIBase: mock.URL, CatalogPath: "creditdesk.toml"}
	a := testApp(t, cfg, appOptions{})
	defer a.stop()
	op := a.stripe.operator(a.svc, cfg)
	if op == nil || op.Live() {
		t.Fatal("no test-mode operator with a test key")
	}
	t.Run("in process", func(t *testing.T) { checkOperator(t, op) })
	// A console attached to this process gets the same Stripe panes; the
	// calls run here, where the key is.
	c, err := dialRunning(cfg.DB)
	if err != nil {
		t.Fatal(err)
	}
	if c.Operator() == nil {
		t.Fatal("an attached console must get the Stripe panes of a process with a key")
	}
	t.Run("attached", func(t *testing.T) { checkOperator(t, c.Operator()) })
	var nilStripe *appStripe
	if nilStripe.operator(a.svc, cfg) != nil || nilStripe.api() != nil {
		t.Error("no key must give nil interfaces, not typed nils")
	}
}

func checkOperator(t *testing.T, op tui.Operator) {
	if ch := op.Choices(); len(ch) != 1 || ch[0].Type != "topup" || ch[0].Kind != "pack" || ch[0].Price != "price_topup_live" {
		t.Errorf("choices = %+v", ch)
	}
	ctx := t.Context()
	v, err := op.Catalog(ctx, true)
	if err != nil || len(v.Prices) == 0 || v.Types[0].SoldWith != "price_topup_live" {
		t.Errorf("catalog = %+v, %v", v, err)
	}
	hs, err := op.Health(ctx)
	if err != nil || len(hs) == 0 || hs[0].Check != "key" || hs[0].Level != "ok" {
		t.Errorf("health = %+v, %v", hs, err)
	}
	link, err := op.CreateCheckout(ctx, billing.CheckoutRequest{UserID: "u1", Type: "topup"})
	if err != nil || link.URL == "" {
		t.Fatalf("checkout: %+v %v", link, err)
	}
	if s, err := op.Capture(ctx, "pi_123", "k"); err != nil || !strings.HasPrefix(s, "captured pi_") {
		t.Errorf("capture: %q %v", s, err)
	}
}
