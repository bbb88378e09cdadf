// Package appwebhook delivers the outbox's messages to the founder's app,
// signed as the Standard Webhooks specification says (webhook-id,
// webhook-timestamp, webhook-signature "v1,<base64 HMAC-SHA256 of
// id.timestamp.body>"), so the app verifies them with an existing library.
//
// The sender is woken by the outbox when a commit adds messages and by a
// timer for the next retry; it never polls. A user's messages go out one
// at a time, in order (billing.Service.DueMessages hands out only the
// oldest pending one of each user); different users' go out in parallel.
package appwebhook

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"creditdesk/billing"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
)

// Outbox is what the sender needs of billing.Service.
type Outbox interface {
	OutboxWake() <-chan struct{}
	DueMessages(limit, chain int) ([]billing.OutboxMessage, time.Time, error)
	RecordDeliveries(results []billing.DeliveryResult) error
	// KeepDelivered is how long a delivered message is kept;
	// PruneDelivered removes up to limit of those kept longer, in one
	// transaction, and says when the next will be due (zero: none is
	// delivered).
	KeepDelivered() time.Duration
	PruneDelivered(limit int) (int, time.Time, error)
}

// Endpoint is one destination, as configured.
type Endpoint struct {
	ID  string
	URL string
	// AllowPrivate lets requests reach loopback and private addresses.
	AllowPrivate bool
}

// EndpointID is the outbox's name for the endpoint at url: stable for a
// URL, so reordering the configuration keeps each endpoint's messages.
func EndpointID(url string) string {
	h := sha256.Sum256([]byte(url))
	return "ep_" + hex.EncodeToString(h[:4])
}

// Options configure a Sender.
type Options struct {
	Outbox    Outbox
	Endpoints []Endpoint
	// Secrets returns the signing secrets in force ("whsec_…"), newest
	// first; every one signs each request (rotation).
	Secrets func() ([]string, error)
	// Clock and After, as billing's: a test moves time instead of waiting.
	Clock func() time.Time
	After func(time.Duration) <-chan time.Time
	// Timeout bounds one attempt (default 10s).
	Timeout time.Duration
	// Jitter returns a number in [0, 1) (default math/rand).
	Jitter func() float64
	// Workers bounds requests in flight (default 16).
	Workers int
	Log     *slog.Logger
	// Recorded, when set, is called after each batch of attempts is
	// stored (tests wait on it).
	Recorded func([]billing.DeliveryResult)
}

// Sender delivers the outbox.
type Sender struct {
	opt     Options
	clients map[string]*http.Client
	urls    map[string]string
}

// New returns a sender; Run starts it.
func New(opt Options) *Sender {
	if opt.Clock == nil {
		opt.Clock = time.Now
	}
	if opt.After == nil {
		opt.After = time.After
	}
	if opt.Timeout <= 0 {
		opt.Timeout = 10 * time.Second
	}
	if opt.Jitter == nil {
		opt.Jitter = rand.Float64
	}
	if opt.Workers <= 0 {
		opt.Workers = 16
	}
	if opt.Log == nil {
		opt.Log = slog.New(slog.DiscardHandler)
	}
	s := &Sender{opt: opt, clients: map[string]*http.Client{}, urls: map[string]string{}}
	for _, ep := range opt.Endpoints {
		s.clients[ep.ID] = newClient(ep.AllowPrivate, opt.Timeout)
		s.urls[ep.ID] = ep.URL
	}
	return s
}

// Backoff is how long after failed attempt n (1, 2, …) the next one is
// made: 5 s doubling to at most 6 h, each stretched or shrunk by up to a
// quarter at random (jitter in [0, 1)), so endpoints that failed together
// are not retried together. Over GiveUpAfter (3 days) that is about 20
// attempts.
func Backoff(n int, jitter float64) time.Duration {
	d := 5 * time.Second
	for i := 1; i < n && d < 6*time.Hour; i++ {
		d *= 2
	}
	d = min(d, 6*time.Hour)
	return time.Duration(float64(d) * (0.75 + jitter/2))
}

// batchSize is how many messages one round takes, their results stored in
// one transaction; chainSize how many of one user's (sent one after the
// other, in order) at most.
const (
	batchSize = 512
	chainSize = 32
	// pruneSize is how many delivered messages one pruning transaction
	// removes at most: small, so the ledger's writers wait little for it.
	pruneSize = 256
)

// Run delivers until ctx ends, and prunes the messages delivered longer
// ago than the outbox keeps them: at start, then when the oldest comes due,
// a small transaction at a time between rounds of deliveries.
func (s *Sender) Run(ctx context.Context) error {
	wake := s.opt.Outbox.OutboxWake()
	keep := s.opt.Outbox.KeepDelivered()
	pruneAt := s.opt.Clock()   // zero: nothing delivered to prune
	var timer <-chan time.Time // armed for timerAt (zero: none)
	var timerAt time.Time
	for {
		if !pruneAt.IsZero() && !s.opt.Clock().Before(pruneAt) {
			pruneAt = s.prune()
		}
		due, next, err := s.opt.Outbox.DueMessages(batchSize, chainSize)
		if err != nil {
			s.opt.Log.Error("app webhooks: read outbox", "err", err)
			next = s.opt.Clock().Add(time.Second)
		}
		if len(due) > 0 {
			results := s.deliverAll(ctx, due)
			if err := s.opt.Outbox.RecordDeliveries(results); err != nil {
				s.opt.Log.Error("app webhooks: record deliveries", "err", err)
				select {
				case <-ctx.Done():
					return nil
				case <-s.opt.After(time.Second):
				}
			} else {
				for _, r := range results {
					if r.OK && pruneAt.IsZero() {
						pruneAt = r.At.Add(keep)
					}
				}
				if s.opt.Recorded != nil {
					s.opt.Recorded(results)
				}
			}
			if ctx.Err() != nil {
				return nil
			}
			continue
		}
		if next.IsZero() || !pruneAt.IsZero() && pruneAt.Before(next) {
			next = pruneAt
		}
		// A wake for messages that were already delivered (or that wait
		// behind a failing one) leaves the wait as it was: the timer armed
		// for the same time is kept, not armed again later by however long
		// this round took.
		if !next.Equal(timerAt) {
			timer, timerAt = nil, next
			if !next.IsZero() {
				timer = s.opt.After(max(next.Sub(s.opt.Clock()), 0))
			}
		}
		select {
		case <-ctx.Done():
			return nil
		case <-wake:
		case <-timer:
			timer, timerAt = nil, time.Time{}
		}
	}
}

// prune removes one batch of the messages kept past their time and says
// when to prune next: now if a full batch went (the rest follow after the
// next round of deliveries), else when the oldest one left comes due
// (zero: none is delivered).
func (s *Sender) prune() time.Time {
	n, next, err := s.opt.Outbox.PruneDelivered(pruneSize)
	if err != nil {
		s.opt.Log.Error("app webhooks: prune delivered messages", "err", err)
		return s.opt.Clock().Add(time.Minute)
	}
	if n > 0 {
		s.opt.Log.Debug("app webhooks: pruned delivered messages", "n", n)
	}
	if n == pruneSize {
		return s.opt.Clock()
	}
	return next
}

// deliverAll sends a round: each user's chain in order, stopping at its
// first failure (the rest stay as they were, behind it), different users'
// chains in parallel.
func (s *Sender) deliverAll(ctx context.Context, due []billing.OutboxMessage) []billing.DeliveryResult {
	type key struct{ ep, user string }
	var order []key
	chains := map[key][]billing.OutboxMessage{}
	for _, m := range due {
		if _, ok := s.clients[m.Endpoint]; !ok {
			continue
		}
		k := key{m.Endpoint, m.User}
		if _, ok := chains[k]; !ok {
			order = append(order, k)
		}
		chains[k] = append(chains[k], m)
	}
	results := make([]billing.DeliveryResult, 0, len(due))
	signers, serr := s.signers() // once a round, not once a message
	var mu sync.Mutex
	var wg sync.WaitGroup
	sem := make(chan struct{}, s.opt.Workers)
	for _, k := range order {
		chain := chains[k]
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			for _, m := range chain {
				r := s.deliver(ctx, m, signers, serr)
				if r.Status == 0 && ctx.Err() != nil {
					return // cut short by shutdown: not a failure, tried again at start
				}
				mu.Lock()
				results = append(results, r)
				mu.Unlock()
				if !r.OK {
					return // the user's later messages wait behind this one
				}
			}
		}()
	}
	wg.Wait()
	return results
}

// Deliver makes one attempt at m and says what came of it.
func (s *Sender) Deliver(ctx context.Context, m billing.OutboxMessage) billing.DeliveryResult {
	signers, err := s.signers()
	return s.deliver(ctx, m, signers, err)
}

// deliver is Deliver with the signing secrets already read (serr: why they
// could not be).
func (s *Sender) deliver(ctx context.Context, m billing.OutboxMessage, signers []*standardwebhooks.Webhook, serr error) billing.DeliveryResult {
	now := s.opt.Clock()
	r := billing.DeliveryResult{Seq: m.Seq, Endpoint: m.Endpoint, At: now}
	r.Retry = now.Add(Backoff(m.Attempts+1, s.opt.Jitter()))
	if serr != nil {
		r.Err = serr.Error()
		return r
	}
	req, err := s.request(ctx, m, now, signers)
	if err != nil {
		r.Err = err.Error()
		return r
	}
	resp, err := s.clients[m.Endpoint].Do(req)
	if err != nil {
		r.Err = describe(err, s.opt.Timeout)
		return r
	}
	defer resp.Body.Close()
	head, _ := io.ReadAll(io.LimitReader(resp.Body, 256))
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10)) // let the connection be reused
	r.Status, r.Response = resp.StatusCode, printable(head, 120)
	r.OK = resp.StatusCode >= 200 && resp.StatusCode < 300
	return r
}

// signers reads the signing secrets (the file may have been rotated since
// the last round) and decodes them.
func (s *Sender) signers() ([]*standardwebhooks.Webhook, error) {
	if s.opt.Secrets == nil {
		return nil, errors.New("no signing secret: run creditdesk appwebhook secret")
	}
	secrets, err := s.opt.Secrets()
	if err != nil {
		return nil, err
	}
	if len(secrets) == 0 {
		return nil, errors.New("no signing secret: run creditdesk appwebhook secret")
	}
	whs := make([]*standardwebhooks.Webhook, 0, len(secrets))
	for _, secret := range secrets {
		wh, err := standardwebhooks.NewWebhook(secret)
		if err != nil {
			return nil, errors.New("a signing secret does not decode (not whsec_ and base64): run creditdesk appwebhook secret")
		}
		whs = append(whs, wh)
	}
	return whs, nil
}

// request builds the signed POST for m, signed at now with every secret.
func (s *Sender) request(ctx context.Context, m billing.OutboxMessage, now time.Time, signers []*standardwebhooks.Webhook) (*http.Request, error) {
	var sigs []string
	for _, wh := range signers {
		sig, err := wh.Sign(m.ID, now, m.Body)
		if err != nil {
			return nil, err
		}
		sigs = append(sigs, sig)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.urls[m.Endpoint], bytes.NewReader(m.Body))
	if err != nil {
		return nil, fmt.Errorf("endpoint URL: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "creditdesk-webhooks")
	req.Header.Set(standardwebhooks.HeaderWebhookID, m.ID)
	req.Header.Set(standardwebhooks.HeaderWebhookTimestamp, strconv.FormatInt(now.Unix(), 10))
	req.Header.Set(standardwebhooks.HeaderWebhookSignature, strings.Join(sigs, " "))
	return req, nil
}

// describe says in one line why a request got no answer.
func describe(err error, timeout time.Duration) string {
	var refused *RefusedError
	switch {
	case errors.As(err, &refused):
		return refused.Error()
	case errors.Is(err, context.DeadlineExceeded) || strings.Contains(err.Error(), "Client.Timeout"):
		return fmt.Sprintf("no answer within %s", timeout)
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err.Error() // without "Post URL:": the URL may carry a token
	}
	return err.Error()
}

// printable keeps the first n runes of b that a terminal shows as text.
func printable(b []byte, n int) string {
	var sb strings.Builder
	for len(b) > 0 && n > 0 {
		r, size := utf8.DecodeRune(b)
		b = b[size:]
		switch {
		case r == utf8.RuneError:
			continue
		case r == '\n' || r == '\r' || r == '\t':
			r = ' '
		case r < 0x20 || r == 0x7f || r >= 0x80 && r < 0xa0:
			continue
		}
		sb.WriteRune(r)
		n--
	}
	return sb.String()
}
