package main

import (
	"bytes"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	stripewebhook "github.com/stripe/stripe-go/v76/webhook"
)

const secret = "whsec_benchsink_test"

func post(t *testing.T, url string, body []byte, header string) int {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if header != "" {
		req.Header.Set("Stripe-Signature", header)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

func signed(body []byte) string {
	return stripewebhook.GenerateTestSignedPayload(&stripewebhook.UnsignedPayload{Payload: body, Secret: secret}).Header
}

// The ceiling answers 200 to anything, signed or not.
func TestTrivialAnswersEverything(t *testing.T) {
	h, closeLog, err := newHandler("", "")
	if err != nil {
		t.Fatal(err)
	}
	defer closeLog()
	srv := httptest.NewServer(h)
	defer srv.Close()
	if code := post(t, srv.URL+"/api/stripe/webhook", []byte(`{"id":"evt_1"}`), ""); code != http.StatusOK {
		t.Fatalf("unsigned body: %d, want 200", code)
	}
}

// The floor answers 200 only once a verified body is in the file: every one
// of 64 concurrent bodies is there when its answer arrives, and a body with
// a wrong signature is refused and not written.
func TestDurableWritesVerifiedBodiesBeforeAnswering(t *testing.T) {
	path := filepath.Join(t.TempDir(), "bodies.log")
	h, closeLog, err := newHandler(path, secret)
	if err != nil {
		t.Fatal(err)
	}
	defer closeLog()
	srv := httptest.NewServer(h)
	defer srv.Close()

	var wg sync.WaitGroup
	for i := range 64 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			body := []byte(fmt.Sprintf(`{"id":"evt_%03d"}`, i))
			if code := post(t, srv.URL, body, signed(body)); code != http.StatusOK {
				t.Errorf("signed body %d: %d, want 200", i, code)
				return
			}
			if got, _ := os.ReadFile(path); !bytes.Contains(got, body) {
				t.Errorf("body %d answered 200 before it was in the file", i)
			}
		}()
	}
	wg.Wait()

	forged := []byte(`{"id":"evt_forged"}`)
	header := stripewebhook.GenerateTestSignedPayload(&stripewebhook.UnsignedPayload{Payload: forged, Secret: "whsec_other"}).Header
	if code := post(t, srv.URL, forged, header); code != http.StatusBadRequest {
		t.Fatalf("wrongly signed body: %d, want 400", code)
	}
	if code := post(t, srv.URL, forged, ""); code != http.StatusBadRequest {
		t.Fatalf("unsigned body: %d, want 400", code)
	}
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(string(got), `{"id":"evt_`); n != 64 || bytes.Contains(got, forged) {
		t.Fatalf("file holds %d bodies (want 64), forged one: %v", n, bytes.Contains(got, forged))
	}
}

func TestDurableNeedsTheSecret(t *testing.T) {
	if _, _, err := newHandler(filepath.Join(t.TempDir(), "x.log"), ""); err == nil || !strings.Contains(err.Error(), "STRIPE_WEBHOOK_SECRET") {
		t.Fatalf("no secret: %v, want an error naming STRIPE_WEBHOOK_SECRET", err)
	}
}
