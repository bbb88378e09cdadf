package webhook

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	stripewebhook "github.com/stripe/stripe-go/v76/webhook"

	"creditdesk/billing"
	"creditdesk/internal/config"
	"creditdesk/internal/fixtures"
	"creditdesk/internal/testkit"
	"creditdesk/storage"
)

const (
	oldSecret = "whsec_old_secret_1234"
	newSecret = "whsec_new_secret_5678"
)

type rig struct {
	t   *testing.T
	srv *httptest.Server
	svc *billing.Service
	st  *storage.Store
}

func newRig(t *testing.T, secrets ...string) *rig {
	t.Helper()
	svc, st := testkit.SampleService(t)
	s := NewServer(DefaultPath, NewReceiver(svc, secrets), func() error { return nil })
	srv := httptest.NewServer(s.Mux)
	t.Cleanup(srv.Close)
	return &rig{t: t, srv: srv, svc: svc, st: st}
}

func sign(body []byte, secret string, at time.Time) string {
	return fmt.Sprintf("t=%d,v1=%x", at.Unix(), stripewebhook.ComputeSignature(at, body, secret))
}

func (r *rig) post(body []byte, header string) (int, string) {
	r.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, r.srv.URL+DefaultPath, bytes.NewReader(body))
	if header != "" {
		req.Header.Set("Stripe-Signature", header)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		r.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func event(id, version string) []byte {
	b, _ := json.Marshal(map[string]any{"id": id, "object": "event", "type": "checkout.session.completed", "created": 1700000000,
		"api_version": version, "livemode": false, "data": map[string]any{"object": map[string]any{
			"id": "cs_" + id, "object": "checkout.session", "mode": "payment", "payment_status": "paid",
			"metadata": map[string]any{"user_id": "u1", "credits": "100"}}}})
	return b
}

func (r *rig) stored() uint64 {
	c, err := r.st.Counts()
	if err != nil {
		r.t.Fatal(err)
	}
	return c.Events
}

func TestAcceptsSignedEventsOfAnyAPIVersionStoredBeforeAck(t *testing.T) {
	r := newRig(t, oldSecret)
	for i, v := range []string{"2020-08-27", "2023-10-16", "2025-03-31.basil", "2031-01-01.unheard"} {
		body := event(fmt.Sprint("evt_", i), v)
		code, resp := r.post(body, sign(body, oldSecret, time.Now()))
		if code != 200 {
			t.Fatalf("api_version %s: %d %s", v, code, resp)
		}
		// The 200 means it is in the store already.
		if _, err := r.st.EventByID(fmt.Sprint("evt_", i)); err != nil {
			t.Fatalf("acked but not stored: %v", err)
		}
	}
}

func TestSecretRotationAcceptsEitherSecret(t *testing.T) {
	r := newRig(t, config.WebhookSecrets(" "+oldSecret+" , "+newSecret)...)
	for i, s := range []string{oldSecret, newSecret} {
		body := event(fmt.Sprint("evt_r", i), "2023-10-16")
		if code, resp := r.post(body, sign(body, s, time.Now())); code != 200 {
			t.Fatalf("secret %d refused: %d %s", i, code, resp)
		}
	}
}

func TestRejectionsAre400CountedAndStoreNothing(t *testing.T) {
	r := newRig(t, oldSecret)
	body := event("evt_1", "2023-10-16")
	notJSON := []byte(`{"id": "evt_2", "type": `)
	cases := []struct {
		name, header string
		body         []byte
		reason       string
	}{
		{"no header", "", body, RejectNoSignature},
		{"wrong secret", sign(body, "whsec_other", time.Now()), body, RejectBadSignature},
		{"tampered body", sign(body, oldSecret, time.Now()), append(bytes.Clone(body), ' '), RejectBadSignature},
		{"stale", sign(body, oldSecret, time.Now().Add(-301*time.Second)), body, RejectStale},
		{"garbage header", "nonsense", body, RejectBadSignature},
		{"malformed json", sign(notJSON, oldSecret, time.Now()), notJSON, RejectMalformed},
	}
	for _, c := range cases {
		code, resp := r.post(c.body, c.header)
		if code != 400 || !strings.Contains(resp, c.reason) {
			t.Errorf("%s: %d %s, want 400 %q", c.name, code, resp, c.reason)
		}
	}
	if n := r.stored(); n != 0 {
		t.Fatalf("%d rejected events stored", n)
	}
	rej := r.svc.Stats().Rejected
	if rej[RejectBadSignature] != 3 || rej[RejectStale] != 1 || rej[RejectNoSignature] != 1 || rej[RejectMalformed] != 1 {
		t.Fatalf("rejections by reason %v", rej)
	}
}

func TestTooLargeIs413(t *testing.T) {
	r := newRig(t, oldSecret)
	big := bytes.Repeat([]byte("x"), MaxBody+1)
	if code, _ := r.post(big, sign(big, oldSecret, time.Now())); code != http.StatusRequestEntityTooLarge {
		t.Fatalf("got %d", code)
	}
	if r.svc.Stats().Rejected[RejectTooLarge] != 1 {
		t.Fatal("not counted")
	}
}

func TestRedeliveryIs200AndChangesNothing(t *testing.T) {
	r := newRig(t, oldSecret)
	body := event("evt_dup", "2023-10-16")
	for i := 0; i < 3; i++ {
		if code, _ := r.post(body, sign(body, oldSecret, time.Now())); code != 200 {
			t.Fatalf("delivery %d: %d", i, code)
		}
	}
	if n := r.stored(); n != 1 {
		t.Fatalf("%d stored", n)
	}
	if d := r.svc.Stats().Duplicates; d != 2 {
		t.Fatalf("duplicates %d", d)
	}
	r.svc.ProcessPending(context.Background())
	if d, _ := r.svc.UserDetail("u1"); d.Spendable != 100 {
		t.Fatalf("credited %d, want 100 once", d.Spendable)
	}
}

func TestWrongMethodIs405(t *testing.T) {
	r := newRig(t, oldSecret)
	resp, err := http.Get(r.srv.URL + DefaultPath)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 405 {
		t.Fatalf("GET: %d", resp.StatusCode)
	}
}

// Every real payload in the 2020 corpus is accepted, stored and either
// applied, ignored or waiting (for a piece the corpus does not hold: the
// waiting window counts from arrival, so none is set aside at once),
// never failed. The corpus reuses event ids across
// types (its files were copied from one another); Stripe's ids are unique,
// so each file gets its own id here, or the receiver would rightly treat
// them as redeliveries.
func TestFixtureCorpusNeverFails(t *testing.T) {
	dir := fixtures.Dir(t, "stripe-events-2020") // see its README for the source and licence
	files, _ := filepath.Glob(filepath.Join(dir, "*.json"))
	if len(files) == 0 {
		t.Fatalf("no fixtures in %s", dir)
	}
	r := newRig(t, oldSecret)
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var ev map[string]any
		if err := json.Unmarshal(raw, &ev); err != nil {
			t.Fatal(err)
		}
		ev["id"] = "evt_fixture_" + strings.TrimSuffix(filepath.Base(f), ".json")
		body, _ := json.Marshal(ev)
		if code, resp := r.post(body, sign(body, oldSecret, time.Now())); code != 200 {
			t.Errorf("%s: %d %s", filepath.Base(f), code, resp)
		}
	}
	if _, err := r.svc.ProcessPending(context.Background()); err != nil {
		t.Fatal(err)
	}
	evs, _ := r.st.EventsPage(0, 1000, nil)
	if len(evs) != len(files) {
		t.Fatalf("%d stored of %d", len(evs), len(files))
	}
	for _, e := range evs {
		if e.State != billing.StateApplied && e.State != billing.StateIgnored && e.State != billing.StateWaiting {
			t.Errorf("%s (%s): %s %s", e.Type, e.APIVersion, e.State, e.Reason)
		}
	}
	if _, err := r.st.Verify(); err != nil {
		t.Fatal(err)
	}
}
