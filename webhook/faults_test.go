package webhook

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"creditdesk/billing"
	"creditdesk/internal/testkit"
	"creditdesk/storage"
)

func TestHealthzIs503WithTheReasonWhileWritesFail(t *testing.T) {
	var full atomic.Bool
	st := testkit.OpenStore(t, filepath.Join(t.TempDir(), "f.db"), storage.Options{CommitFault: func() error {
		if full.Load() {
			return &os.PathError{Op: "write", Path: "f.db", Err: syscall.ENOSPC}
		}
		return nil
	}})
	svc := billing.NewService(st, billing.Options{Rules: billing.Rules{Catalog: billing.SampleCatalog()}, FaultSettle: time.Nanosecond})
	key, err := svc.CreateAPIKey(context.Background(), "app")
	if err != nil {
		t.Fatal(err)
	}
	rc := NewReceiver(svc, []string{oldSecret})
	var logs bytes.Buffer
	rc.Log = slog.New(slog.NewTextHandler(&logs, nil))
	s := NewServer(DefaultPath, rc, func() error { return nil })
	NewAPI(svc, nil, DefaultLimits()).Mount(s.Mux)
	srv := httptest.NewServer(s.Mux)
	defer srv.Close()
	get := func(method, path, body string, header ...string) (int, string) {
		t.Helper()
		req, _ := http.NewRequest(method, srv.URL+path, strings.NewReader(body))
		for i := 0; i+1 < len(header); i += 2 {
			req.Header.Set(header[i], header[i+1])
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, _ := get("GET", "/healthz", ""); code != 200 {
		t.Fatalf("healthz before: %d", code)
	}

	full.Store(true)
	body := event("evt_full", "2023-10-16")
	var resp *http.Response
	for range 5 {
		req, _ := http.NewRequest(http.MethodPost, srv.URL+DefaultPath, bytes.NewReader(body))
		req.Header.Set("Stripe-Signature", sign(body, oldSecret, time.Now()))
		if resp, err = http.DefaultClient.Do(req); err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusServiceUnavailable {
			t.Fatalf("webhook on a full disk: %d, want 503 so Stripe retries", resp.StatusCode)
		}
	}
	// Five deliveries on a full disk are not five error lines.
	if strings.Contains(logs.String(), "store webhook event") {
		t.Fatalf("the receiver logs each delivery on a full disk:\n%s", logs.String())
	}
	code, out := get("GET", "/healthz", "")
	if code != http.StatusServiceUnavailable || !strings.Contains(out, "no space left on device") {
		t.Fatalf("healthz while writes fail: %d %s", code, out)
	}
	code, out = get("POST", "/api/users/u1/grant", `{"amount":5,"reason":"bonus"}`, "Authorization", "Bearer "+key, "Idempotency-Key", "k1")
	if code != http.StatusServiceUnavailable || !strings.Contains(out, "unavailable") {
		t.Fatalf("API grant while writes fail: %d %s, want 503", code, out)
	}

	full.Store(false)
	code, out = get("POST", "/api/users/u1/grant", `{"amount":5,"reason":"bonus"}`, "Authorization", "Bearer "+key, "Idempotency-Key", "k1")
	if code != 200 {
		t.Fatalf("API grant after: %d %s", code, out)
	}
	if _, err := svc.ProcessPending(context.Background()); err != nil {
		t.Fatal(err)
	}
	// Stripe's retry of the delivery is stored now, and a write that works
	// clears the fault.
	req, _ := http.NewRequest(http.MethodPost, srv.URL+DefaultPath, bytes.NewReader(body))
	req.Header.Set("Stripe-Signature", sign(body, oldSecret, time.Now()))
	if resp, err = http.DefaultClient.Do(req); err != nil || resp.StatusCode != 200 {
		t.Fatalf("redelivery after: %v %v", resp, err)
	}
	resp.Body.Close()
	if code, out := get("GET", "/healthz", ""); code != 200 {
		t.Fatalf("healthz after: %d %s", code, out)
	}
}
