package stripeapi

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"testing"
	"time"

	"creditdesk/billing"
)

// deliver stores and applies one event, as the webhook would.
func (e *env) deliver(id, typ string, o map[string]any) {
	e.t.Helper()
	body, _ := json.Marshal(map[string]any{"id": id, "object": "event", "type": typ, "created": testNow.Add(-2 * time.Hour).Unix(),
		"api_version": "2023-10-16", "data": map[string]any{"object": o}})
	if _, _, err := e.svc.Ingest(body, "webhook"); err != nil {
		e.t.Fatal(err)
	}
	if _, err := e.svc.ProcessPending(context.Background()); err != nil {
		e.t.Fatal(err)
	}
}

func packSession(id, user string, amount int) map[string]any {
	return map[string]any{"id": id, "object": "checkout.session", "mode": "payment", "payment_status": "paid", "status": "complete",
		"customer": "cus_" + user, "amount_total": amount, "currency": "usd", "payment_intent": "pi_" + id,
		"metadata": map[string]any{"user_id": user, "type": "credits-topup"}}
}

// TestReconcileFindsEachGapWithItsFix: a store built from known events
// with deliberate gaps, against what Stripe lists (through stripe-mock,
// checkout sessions over two pages): a checkout whose event never came, a
// refund never delivered, a refund clawed back again by hand, and a
// purchase Stripe does not list. Each is one difference with its fix; what
// agrees is not listed.
func TestReconcileFindsEachGapWithItsFix(t *testing.T) {
	e := newEnv(t)
	e.deliver("evt_a", "checkout.session.completed", packSession("cs_a", "u1", 2000))
	e.deliver("evt_b", "checkout.session.completed", packSession("cs_b", "u2", 2000))
	e.deliver("evt_rb", "charge.refunded", map[string]any{"id": "ch_b", "object": "charge", "payment_intent": "pi_cs_b",
		"amount": 2000, "amount_refunded": 500, "refunded": false})
	if _, err := e.svc.Adjust(context.Background(), billing.Adjustment{User: "u2", Delta: -250, Reason: "refund re_b1 of cs_b"}); err != nil {
		t.Fatal(err)
	}
	e.deliver("evt_d", "checkout.session.completed", packSession("cs_d", "u4", 900))

	at := testNow.Add(-time.Hour).Unix()
	session := func(id string, amount int) string {
		return fmt.Sprintf(`{"id":%q,"object":"checkout.session","created":%d,"mode":"payment","payment_status":"paid","status":"complete","amount_total":%d,"currency":"usd","payment_intent":"pi_%s"}`,
			id, at, amount, id)
	}
	e.mock.Override("GET /v1/checkout/sessions", func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Query().Get("starting_after") {
		case "":
			fmt.Fprintf(w, `{"object":"list","url":"/v1/checkout/sessions","has_more":true,"data":[%s,%s]}`, session("cs_a", 2000), session("cs_b", 2000))
		case "cs_b":
			fmt.Fprintf(w, `{"object":"list","url":"/v1/checkout/sessions","has_more":false,"data":[%s]}`, session("cs_c", 1500))
		default:
			http.Error(w, "unexpected cursor", http.StatusBadRequest)
		}
	})
	e.mock.Override("GET /v1/refunds", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, `{"object":"list","url":"/v1/refunds","has_more":false,"data":[
			{"id":"re_a1","object":"refund","created":%d,"amount":1000,"currency":"usd","status":"succeeded","payment_intent":"pi_cs_a","charge":"ch_a"},
			{"id":"re_b1","object":"refund","created":%d,"amount":500,"currency":"usd","status":"succeeded","payment_intent":"pi_cs_b","charge":"ch_b"},
			{"id":"re_x","object":"refund","created":%d,"amount":300,"currency":"usd","status":"failed","payment_intent":"pi_cs_a","charge":"ch_a"}]}`, at, at, at)
	})
	// Invoices and disputes come from stripe-mock itself: its fixtures
	// are older than the period, or not lost, and count for nothing.
	since := testNow.AddDate(0, 0, -30)
	l, err := e.c.StripePayments(context.Background(), since, testNow, 7*24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	reqs := e.mock.Find("GET", "/v1/checkout/sessions")
	if len(reqs) != 2 {
		t.Fatalf("%d checkout pages requested, want 2", len(reqs))
	}
	wantForm(t, reqs[0], map[string]string{"status": "complete", "limit": "100", "created[gte]": fmt.Sprint(since.Add(-7 * 24 * time.Hour).Unix()),
		"created[lte]": fmt.Sprint(testNow.Unix())})
	wantForm(t, reqs[1], map[string]string{"starting_after": "cs_b"})
	for _, path := range []string{"/v1/invoices", "/v1/refunds", "/v1/disputes"} {
		if len(e.mock.Find("GET", path)) == 0 {
			t.Errorf("%s was not listed", path)
		}
	}
	wantForm(t, e.mock.Find("GET", "/v1/invoices")[0], map[string]string{"status": "paid"})

	diffs, err := e.svc.Reconcile(l)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]billing.Difference{}
	var lines []string
	for _, d := range diffs {
		got[d.What+" "+d.Stripe+d.Purchase] = d
		lines = append(lines, d.String())
	}
	sort.Strings(lines)
	want := map[string]string{
		"missing cs_c":     "creditdesk resync --since",
		"refund re_a1cs_a": "creditdesk resync --since",
		"twice re_b1cs_b":  "creditdesk grant u2 250",
		"unpaid cs_d":      "creditdesk revoke u4 1000",
	}
	if len(diffs) != len(want) {
		t.Fatalf("%d differences, want %d:\n%s", len(diffs), len(want), strings.Join(lines, "\n"))
	}
	for k, fix := range want {
		if d, ok := got[k]; !ok || !strings.Contains(d.Fix, fix) {
			t.Errorf("%s: %+v, want a fix with %q\n%s", k, d, fix, strings.Join(lines, "\n"))
		}
	}
	if d := got["refund re_a1cs_a"]; !strings.Contains(d.Detail, "10.00 USD") || !strings.Contains(d.Detail, "0.00 USD") {
		t.Errorf("refund detail: %s", d.Detail)
	}
}
