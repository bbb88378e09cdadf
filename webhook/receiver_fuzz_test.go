package webhook

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"creditdesk/internal/testkit"
)

// FuzzReceiver sends arbitrary bodies, signed and unsigned, to the
// receiver: it never panics, answers only with its documented statuses, and
// an event it acknowledges is stored (and stored once).
func FuzzReceiver(f *testing.F) {
	f.Add([]byte(`{"id":"evt_1","object":"event","type":"checkout.session.completed","created":1700000000,"data":{"object":{"id":"cs_1"}}}`), true)
	f.Add([]byte(`{"id":"","type":"x"}`), true)
	f.Add([]byte(`not json`), true)
	f.Add([]byte(`{"id":"evt_2","type":"invoice.paid","data":{"object":null}}`), false)
	f.Add(bytes.Repeat([]byte("a"), 300), true)
	if files, _ := filepath.Glob(filepath.Join("..", "..", "shared", "fixtures", "stripe-events-2020", "*.json")); len(files) > 0 {
		for _, p := range files[:min(len(files), 8)] {
			if b, err := os.ReadFile(p); err == nil {
				f.Add(b, true)
			}
		}
	}
	svc, _ := testkit.SampleService(f)
	const secret = "whsec_fuzz"
	srv := NewServer(DefaultPath, NewReceiver(svc, []string{secret}), func() error { return nil })
	allowed := map[int]bool{200: true, 400: true, 413: true, 429: true, 503: true}
	f.Fuzz(func(t *testing.T, body []byte, signed bool) {
		req := httptest.NewRequest(http.MethodPost, DefaultPath, bytes.NewReader(body))
		if signed {
			req.Header.Set("Stripe-Signature", sign(body, secret, time.Now()))
		}
		w := httptest.NewRecorder()
		srv.Mux.ServeHTTP(w, req)
		if !allowed[w.Code] {
			t.Fatalf("status %d for %q: %s", w.Code, body, w.Body.String())
		}
		if w.Code == 200 && !signed {
			t.Fatalf("an unsigned body was acknowledged: %q", body)
		}
		before := svc.Stats().Events
		if w.Code == 200 {
			// A redelivery is acknowledged and stores nothing new.
			w2 := httptest.NewRecorder()
			req2 := httptest.NewRequest(http.MethodPost, DefaultPath, bytes.NewReader(body))
			req2.Header.Set("Stripe-Signature", sign(body, secret, time.Now()))
			srv.Mux.ServeHTTP(w2, req2)
			if w2.Code != 200 || svc.Stats().Events != before {
				t.Fatalf("redelivery: %d, events %d → %d", w2.Code, before, svc.Stats().Events)
			}
		}
	})
}
