// Package webhook owns creditdesk's HTTP side: the Stripe webhook receiver
// and the server that carries it.
package webhook

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	stripewebhook "github.com/stripe/stripe-go/v76/webhook"

	"creditdesk/billing"
)

// DefaultPath is where the common starter kits receive Stripe webhooks.
const DefaultPath = "/api/stripe/webhook"

// MaxBody is the largest webhook body accepted; Stripe's events are far
// smaller.
const MaxBody = 1 << 20

// Inbox is where verified events go. Ingest keeps none of payload's bytes
// once it returns: the receiver reads bodies into pooled buffers.
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
	// Ahead is how far in the future a signature's timestamp may be (clock
	// skew between Stripe and this server).
	Ahead time.Duration
	// Failures limits, per client address, the requests that fail the
	// signature check; over it they get 429 and are no longer logged one by
	// one. Signed requests are never limited.
	Failures Limit
	Log      *slog.Logger

	mu    sync.Mutex
	fails *failLimiter
}

// Rejection reasons, as counted and shown in the console.
const (
	RejectNoSignature  = "missing signature"
	RejectBadSignature = "bad signature"
	RejectStale        = "stale timestamp"
	RejectMalformed    = "malformed body"
	RejectTooLarge     = "body too large"
	RejectMethod       = "wrong method"
	RejectFuture       = "timestamp in the future"
	RejectRateLimited  = "too many failed signatures"
)

// MaxAhead is the default Receiver.Ahead: a signature dated more than 5
// minutes ahead of this server's clock is refused.
const MaxAhead = 5 * time.Minute

// DefaultFailures lets one address fail the signature check 30 times at
// once and then once a second.
var DefaultFailures = Limit{Rate: 1, Burst: 30}

// NewReceiver returns a receiver that accepts events signed with any of
// secrets.
func NewReceiver(inbox Inbox, secrets []string) *Receiver {
	return &Receiver{inbox: inbox, secrets: secrets, Tolerance: stripewebhook.DefaultTolerance, Ahead: MaxAhead,
		Failures: DefaultFailures, Log: slog.New(slog.DiscardHandler)}
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
// receivedBody is the 200's body: {"duplicate":false,"id":"evt_…","received":true}.
type receivedBody struct {
	Duplicate bool   `json:"duplicate"`
	ID        string `json:"id"`
	Received  bool   `json:"received"`
}

// bodyPool holds the buffers request bodies are read into. A body is not
// kept past its request: Ingest stores a compressed copy and keeps none of
// the bytes it was given.
var bodyPool = sync.Pool{New: func() any { return new(bytes.Buffer) }}

func putBody(b *bytes.Buffer) {
	if b.Cap() > 64<<10 {
		return // a rare large body: let it go rather than pin it
	}
	b.Reset()
	bodyPool.Put(b)
}

func (rc *Receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		rc.reject(w, http.StatusMethodNotAllowed, RejectMethod, r.Method)
		return
	}
	buf := bodyPool.Get().(*bytes.Buffer)
	defer putBody(buf)
	_, err := buf.ReadFrom(http.MaxBytesReader(w, r.Body, MaxBody))
	body := buf.Bytes()
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
		rc.rejectUnsigned(w, r, RejectNoSignature, "no Stripe-Signature header")
		return
	}
	if reason, detail := rc.verify(body, header); reason != "" {
		rc.rejectUnsigned(w, r, reason, detail)
		return
	}
	if ahead := time.Until(signedAt(header)); ahead > rc.Ahead {
		rc.reject(w, http.StatusBadRequest, RejectFuture, fmt.Sprintf(
			"signed %s ahead of this server's clock: this server's clock may be wrong (check NTP); Stripe retries", ahead.Round(time.Second)))
		return
	}
	rec, dup, err := rc.inbox.Ingest(body, "webhook")
	if err != nil {
		if errors.Is(err, billing.ErrMalformed) {
			rc.reject(w, http.StatusBadRequest, RejectMalformed, err.Error())
			return
		}
		// Not stored: Stripe must retry, so answer 5xx. A full or failing
		// disk is logged once by billing when it starts, not per delivery.
		if !billing.IsStoreFault(err) {
			rc.Log.Error("store webhook event", "err", err)
		}
		writeJSON(w, http.StatusServiceUnavailable, errorBody{Error: "could not store event, retry"})
		return
	}
	writeJSON(w, http.StatusOK, receivedBody{Duplicate: dup, ID: rec.ID, Received: true})
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

// rejectUnsigned refuses a request that failed the signature check: 400 while
// the client address is under Failures, then 429, noted and logged once until
// the address is under the limit again.
func (rc *Receiver) rejectUnsigned(w http.ResponseWriter, r *http.Request, reason, detail string) {
	if rc.Failures.Burst <= 0 || rc.Failures.Rate <= 0 {
		rc.reject(w, http.StatusBadRequest, reason, detail)
		return
	}
	rc.mu.Lock()
	if rc.fails == nil {
		rc.fails = newFailLimiter(rc.Failures)
	}
	f := rc.fails
	rc.mu.Unlock()
	addr := clientAddr(r.RemoteAddr)
	allowed, first := f.fail(addr, time.Now())
	if allowed {
		rc.reject(w, http.StatusBadRequest, reason, detail)
		return
	}
	if first {
		rc.inbox.NoteRejected(RejectRateLimited, addr+": answering 429 to its unsigned requests for a while (last: "+reason+")")
		rc.Log.Warn("webhook rejected", "reason", RejectRateLimited, "addr", addr, "last", reason)
	}
	w.Header().Set("Retry-After", "60")
	writeJSON(w, http.StatusTooManyRequests, errorBody{Error: RejectRateLimited})
}

// signedAt is the t= timestamp of a Stripe-Signature header that has
// already been verified.
func signedAt(header string) time.Time {
	for _, part := range strings.Split(header, ",") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(part), "t="); ok {
			if sec, err := strconv.ParseInt(v, 10, 64); err == nil {
				return time.Unix(sec, 0)
			}
		}
	}
	return time.Time{}
}
