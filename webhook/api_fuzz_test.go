package webhook

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"creditdesk/billing"
)

// stubService answers the API without a store, so the fuzzer can drive the
// handlers fast. Its one key is "cdk_fuzz".
type stubService struct{}

func (stubService) AuthenticateAPIKey(plain string) (string, bool) {
	return "fuzz", plain == "cdk_fuzz"
}
func (stubService) UserBalance(id string) (billing.Balance, error) {
	return billing.Balance{User: billing.User{ID: id, Tier: "free"}, Spendable: 3}, nil
}
func (stubService) Spend(_ context.Context, _, user string, amount int64, _, _ string) (billing.APIResult, error) {
	if amount > 3 {
		return billing.APIResult{}, &billing.ErrInsufficient{UserID: user, Balance: 3, Requested: amount}
	}
	return billing.APIResult{Credits: 3 - amount, EntryID: 1}, nil
}
func (stubService) APIGrant(_ context.Context, _, _ string, amount int64, _, _ string) (billing.APIResult, error) {
	return billing.APIResult{Credits: 3 + amount, EntryID: 2}, nil
}

// FuzzDecodeRequests feeds arbitrary bodies to the request decoders and to
// every POST handler. Nothing panics; a decoder either refuses with a 400 or
// 413 and a code, or returns a request that passed every check; every
// answer is JSON, an error answer has error.code and error.message.
func FuzzDecodeRequests(f *testing.F) {
	for _, seed := range []string{
		`{"amount":5,"reason":"image"}`,
		`{"amount":0}`, `{"amount":-1}`, `{"amount":1e3}`, `{"amount":9223372036854775807}`,
		`{"amount":1,"extra":true}`, `{"amount":null}`, `{"reason":"\u0000"}`, `{"amount":1}{}`,
		`{"priceId":"price_1","mode":"subscription","userId":"u1","successUrl":"https://a.example/ok","cancelUrl":"https://a.example/no"}`,
		`{"type":"pro","userId":"u1"}`, `{"type":"pro","userId":"u\u0000"}`, `{"type":"pro","userId":"u1","successUrl":"http://[::1"}`,
		`{"userId":"u1","returnUrl":"https://a.example"}`, `{"userId":""}`,
		``, `null`, `[]`, `"x"`, `{`, `{"amount":`, "\xff\xfe", strings.Repeat("[", 2000),
	} {
		f.Add([]byte(seed))
	}
	api := NewAPI(stubService{}, &fakeStripe{}, Limits{Stripe: Limit{Rate: 1e9, Burst: 1 << 30}, Credits: Limit{Rate: 1e9, Burst: 1 << 30}})
	f.Fuzz(func(t *testing.T, body []byte) {
		checkErr := func(what string, e *apiError) {
			if e != nil && (e.Status != 400 && e.Status != 413 || e.Code == "" || e.Message == "") {
				t.Fatalf("%s: refusal %+v", what, e)
			}
		}
		if req, e := decodeRequest[amountRequest](bytes.NewReader(body)); e == nil {
			if req.Amount == nil || *req.Amount <= 0 || *req.Amount > billing.MaxAPIAmount || len(req.Reason) > billing.MaxReasonLength {
				t.Fatalf("amount request accepted: %+v", req)
			}
		} else {
			checkErr("amount", e)
		}
		if req, e := decodeRequest[checkoutRequest](bytes.NewReader(body)); e == nil {
			if !billing.ValidID(req.UserID) || req.PriceID == "" && req.Type == "" || !validReturnURL(req.SuccessURL) || !validReturnURL(req.CancelURL) {
				t.Fatalf("checkout request accepted: %+v", req)
			}
		} else {
			checkErr("checkout", e)
		}
		if req, e := decodeRequest[portalRequest](bytes.NewReader(body)); e == nil {
			if !billing.ValidID(req.UserID) {
				t.Fatalf("portal request accepted: %+v", req)
			}
		} else {
			checkErr("portal", e)
		}
		for _, path := range []string{"/api/users/u1/spend", "/api/users/u1/grant", "/api/stripe/checkout", "/api/stripe/portal"} {
			req := httptest.NewRequest(http.MethodPost, path, bytes.NewReader(body))
			req.Header.Set("Authorization", "Bearer cdk_fuzz")
			req.Header.Set("Idempotency-Key", "k1")
			w := httptest.NewRecorder()
			api.ServeHTTP(w, req)
			var out map[string]any
			if err := json.Unmarshal(w.Body.Bytes(), &out); err != nil {
				t.Fatalf("%s answered %d with non-JSON %q", path, w.Code, w.Body.String())
			}
			if w.Code >= 400 {
				e, _ := out["error"].(map[string]any)
				if c, _ := e["code"].(string); c == "" {
					t.Fatalf("%s answered %d without error.code: %s", path, w.Code, w.Body.String())
				}
				if m, _ := e["message"].(string); m == "" {
					t.Fatalf("%s answered %d without error.message: %s", path, w.Code, w.Body.String())
				}
			}
		}
	})
}
