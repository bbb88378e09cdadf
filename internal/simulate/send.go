package simulate

import (
	"bytes"
	"context"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/stripe/stripe-go/v76/webhook"
)

// Sign returns a Stripe-Signature header value for body, timestamped now.
func Sign(body []byte, secret string) string { return SignAt(body, secret, time.Now()) }

// SignAt returns the Stripe-Signature header value Stripe would send for body
// at time t: "t=<unix>,v1=<hex HMAC-SHA256 of "<unix>.<body>">". Tests use
// an old t (or a wrong secret) to build requests a receiver must reject.
func SignAt(body []byte, secret string, t time.Time) string {
	return fmt.Sprintf("t=%d,v1=%s", t.Unix(), hex.EncodeToString(webhook.ComputeSignature(t, body, secret)))
}

// NewRequest builds the POST Stripe would make to deliver ev to url, signed
// now with secret.
func NewRequest(ctx context.Context, url, secret string, ev Event) (*http.Request, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(ev.Body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json; charset=utf-8")
	req.Header.Set("User-Agent", "Stripe/1.0 (+https://stripe.com/docs/webhooks)")
	req.Header.Set("Stripe-Signature", Sign(ev.Body, secret))
	return req, nil
}

// Send delivers ev to url and returns the response status. The error is
// non-nil only when no response arrived; the response body is drained so
// the connection can be reused.
func Send(ctx context.Context, client *http.Client, url, secret string, ev Event) (int, error) {
	status, _, err := post(ctx, client, url, secret, ev)
	return status, err
}

// post is Send that also returns when the response status arrived.
func post(ctx context.Context, client *http.Client, url, secret string, ev Event) (int, time.Time, error) {
	req, err := NewRequest(ctx, url, secret, ev)
	if err != nil {
		return 0, time.Time{}, err
	}
	resp, err := client.Do(req)
	acked := time.Now()
	if err != nil {
		return 0, acked, err
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
	resp.Body.Close()
	return resp.StatusCode, acked, nil
}

// NewClient returns an HTTP client that keeps up to conns idle connections
// per host, so conns concurrent senders reuse their connections.
func NewClient(conns int) *http.Client {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConns = max(conns, 100)
	t.MaxIdleConnsPerHost = max(conns, 2)
	return &http.Client{Transport: t, Timeout: 30 * time.Second}
}
