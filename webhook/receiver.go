// Package webhook owns creditdesk's HTTP side: the Stripe webhook receiver
// and the server that carries it.
package webhook

import (
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"time"

	stripewebhook "github.com/stripe/stripe-go/v76/webhook"

	"creditdesk/billing"
)

// DefaultPath is where the common starter kits receive Stripe webhooks.
const DefaultPath = "/api/stripe/webhook"

// MaxBody is the largest webhook body accepted; Stripe's events are far
// smaller.
const MaxBody = 1 << 20

// Inbox is where verified events go.
type Inbox interface {
	Ingest(payload []byte, source string) (billing.EventRecord, bool, error)
	NoteRejected(reason, detail string)
}

// Receiver verifies and stores Stripe webhook deliveries.
type Receiver struct {
	inbox   Inbox
	secrets []string
	// Tolerance is the largest age of a signature's timestamp.
	Tolerance time.Duration
	Log       *slog.Logger
}

// Rejection reasons, as counted and shown in the console.
const (
	RejectNoSignature  = "missing signature"
	RejectBadSignature = "bad signature"
	RejectStale        = "stale timestamp"
	RejectMalformed    = "malformed body"
	RejectTooLarge     = "body too large"
	RejectMethod       = "wrong method"
)

// ParseSecrets splits STRIPE_WEBHOOK_SECRET: several secrets separated by
// commas, so a secret can be rotated with no downtime.
func ParseSecrets(v string) []string {
	var out []string
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}

// NewReceiver returns a receiver that accepts events signed with any of
// secrets.
func NewReceiver(inbox Inbox, secrets []string) *Receiver {
	return &Receiver{inbox: inbox, secrets: secrets, Tolerance: stripewebhook.DefaultTolerance, Log: slog.New(slog.DiscardHandler)}
}

type errorBody struct {
	Error string `json:"error"`
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func (rc *Receiver) reject(w http.ResponseWriter, status int, reason, detail string) {
	rc.inbox.NoteRejected(reason, detail)
	rc.Log.Warn("webhook rejected", "reason", reason, "detail", detail)
	writeJSON(w, status, errorBody{Error: reason})
}

// ServeHTTP verifies the signature on the raw body, stores the event and
// only then answers 200. It accepts events of any API version.
func (rc *Receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		rc.reject(w, http.StatusMethodNotAllowed, RejectMethod, r.Method)
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBody))
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			rc.reject(w, http.StatusRequestEntityTooLarge, RejectTooLarge, "limit is 1 MiB")
			return
		}
		rc.reject(w, http.StatusBadRequest, RejectMalformed, "could not read body")
		return
	}
	header := r.Header.Get("Stripe-Signature")
	if header == "" {
		rc.reject(w, http.StatusBadRequest, RejectNoSignature, "no Stripe-Signature header")
		return
	}
	if reason, detail := rc.verify(body, header); reason != "" {
		rc.reject(w, http.StatusBadRequest, reason, detail)
		return
	}
	rec, dup, err := rc.inbox.Ingest(body, "webhook")
	if err != nil {
		if errors.Is(err, billing.ErrMalformed) {
			rc.reject(w, http.StatusBadRequest, RejectMalformed, err.Error())
			return
		}
		// Not stored: Stripe must retry, so answer 5xx.
		rc.Log.Error("store webhook event", "err", err)
		writeJSON(w, http.StatusServiceUnavailable, errorBody{Error: "could not store event, retry"})
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"received": true, "id": rec.ID, "duplicate": dup})
}

// verify checks the signature against every configured secret; it returns
// the rejection reason, or "" when one secret verifies.
func (rc *Receiver) verify(body []byte, header string) (reason, detail string) {
	if len(rc.secrets) == 0 {
		return RejectBadSignature, "no webhook secret configured"
	}
	var last error
	for _, secret := range rc.secrets {
		err := stripewebhook.ValidatePayloadWithTolerance(body, header, secret, rc.Tolerance)
		if err == nil {
			return "", ""
		}
		last = err
		if errors.Is(err, stripewebhook.ErrTooOld) || errors.Is(err, stripewebhook.ErrInvalidHeader) || errors.Is(err, stripewebhook.ErrNotSigned) {
			break
		}
	}
	switch {
	case errors.Is(last, stripewebhook.ErrTooOld):
		return RejectStale, "timestamp older than " + rc.Tolerance.String()
	case errors.Is(last, stripewebhook.ErrNotSigned):
		return RejectNoSignature, "no v1 signature in header"
	case errors.Is(last, stripewebhook.ErrInvalidHeader):
		return RejectBadSignature, "unreadable Stripe-Signature header"
	default:
		return RejectBadSignature, "no configured secret matches (check STRIPE_WEBHOOK_SECRET)"
	}
}
