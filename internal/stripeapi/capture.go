package stripeapi

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/stripe/stripe-go/v76"

	"creditdesk/billing"
)

// AuthorizationWindow is how long Stripe holds an uncaptured card payment:
// an authorization not captured within 7 days of its creation lapses and
// the money is released.
const AuthorizationWindow = 7 * 24 * time.Hour

// Authorization is a one-time payment authorized but not yet captured.
// Credits for it are granted by the billing rules when Stripe reports the
// capture (payment_intent.succeeded), never at authorization.
type Authorization struct {
	PaymentIntent string
	PurchaseID    string
	UserID        string
	Type          string
	Credits       int64
	// Amount is what can be captured, in Currency's smallest unit.
	Amount   int64
	Currency string
	Created  time.Time
	// Deadline is when the authorization lapses.
	Deadline time.Time
	// Status is Stripe's status (requires_capture) or, for a payment the
	// API did not list, the store's purchase status.
	Status   string
	Livemode bool
	// InStripe is true when the Payment Intents API listed it as awaiting
	// capture; InStore when the store has its purchase.
	InStripe bool
	InStore  bool
}

// Captures lists payments awaiting capture, soonest deadline first: the
// store's purchases authorized (or pending with a payment intent) and the
// Payment Intents API's requires_capture payments of the last 7 days.
func (c *Client) Captures(ctx context.Context) ([]Authorization, error) {
	svc, err := c.records()
	if err != nil {
		return nil, err
	}
	now := c.now()
	byPI := map[string]*Authorization{}
	var before uint64
	for scanned := 0; scanned < 20000; {
		page, err := svc.PurchasesPage(before, 500)
		if err != nil {
			return nil, err
		}
		if len(page) == 0 {
			break
		}
		scanned += len(page)
		for _, p := range page {
			if p.PaymentIntent == "" || (p.Status != "authorized" && p.Status != "pending") {
				continue
			}
			deadline := p.CaptureBy
			if deadline.IsZero() {
				deadline = p.CreatedAt.Add(AuthorizationWindow)
			}
			byPI[p.PaymentIntent] = &Authorization{
				PaymentIntent: p.PaymentIntent, PurchaseID: p.ID, UserID: p.UserID, Type: p.Type, Credits: p.Credits,
				Amount: p.AmountTotal, Currency: p.Currency, Created: p.CreatedAt, Deadline: deadline,
				Status: p.Status, InStore: true,
			}
		}
		before = page[len(page)-1].Seq
	}

	lp := &stripe.PaymentIntentListParams{CreatedRange: &stripe.RangeQueryParams{
		GreaterThanOrEqual: now.Add(-AuthorizationWindow - time.Hour).Unix()}}
	lp.Context = ctx
	lp.Limit = stripe.Int64(100)
	it := c.api.PaymentIntents.List(lp)
	for n := 0; n < 5000 && it.Next(); n++ {
		pi := it.PaymentIntent()
		if pi.Status != stripe.PaymentIntentStatusRequiresCapture {
			continue
		}
		a, ok := byPI[pi.ID]
		if !ok {
			a = &Authorization{PaymentIntent: pi.ID}
			byPI[pi.ID] = a
		}
		a.InStripe = true
		a.Status = string(pi.Status)
		a.Livemode = pi.Livemode
		a.Amount = pi.AmountCapturable
		if a.Amount == 0 {
			a.Amount = pi.Amount
		}
		a.Currency = string(pi.Currency)
		a.Created = time.Unix(pi.Created, 0)
		a.Deadline = a.Created.Add(AuthorizationWindow)
		if a.UserID == "" {
			a.UserID = pi.Metadata["user_id"]
		}
		if a.Type == "" {
			a.Type = pi.Metadata["type"]
		}
		if a.UserID == "" && pi.Customer != nil {
			a.UserID = svc.CustomerUser(pi.Customer.ID)
		}
	}
	if err := it.Err(); err != nil {
		return nil, wrap("listing payment intents", err)
	}
	out := make([]Authorization, 0, len(byPI))
	for _, a := range byPI {
		out = append(out, *a)
	}
	sort.Slice(out, func(i, j int) bool {
		if !out[i].Deadline.Equal(out[j].Deadline) {
			return out[i].Deadline.Before(out[j].Deadline)
		}
		return out[i].PaymentIntent < out[j].PaymentIntent
	})
	return out, nil
}

// CaptureResult is what Stripe said after a capture or cancel.
type CaptureResult struct {
	PaymentIntent string
	Status        string
	Amount        int64
	Currency      string
	Livemode      bool
}

func (r CaptureResult) String() string {
	return fmt.Sprintf("%s %s (%s)", r.PaymentIntent, strings.ReplaceAll(r.Status, "_", " "), billing.FormatAmount(r.Amount, r.Currency))
}

// Capture charges an authorized payment in full. key makes a retried
// capture (a timeout, a second press) one capture; empty picks a fresh one,
// which stripe-go's own retries share. Credits follow when Stripe's
// payment_intent.succeeded event arrives.
func (c *Client) Capture(ctx context.Context, paymentIntent, key string) (CaptureResult, error) {
	return c.actOnPaymentIntent(ctx, "capture", "capturing", "payment captured", paymentIntent, key, func(p stripe.Params) (*stripe.PaymentIntent, error) {
		return c.api.PaymentIntents.Capture(paymentIntent, &stripe.PaymentIntentCaptureParams{Params: p})
	})
}

// Cancel releases an authorized payment: nothing is charged and no credits
// are granted.
func (c *Client) Cancel(ctx context.Context, paymentIntent, key string) (CaptureResult, error) {
	return c.actOnPaymentIntent(ctx, "cancel", "cancelling", "authorization cancelled", paymentIntent, key, func(p stripe.Params) (*stripe.PaymentIntent, error) {
		return c.api.PaymentIntents.Cancel(paymentIntent, &stripe.PaymentIntentCancelParams{Params: p})
	})
}

// actOnPaymentIntent checks the id, calls Stripe with ctx and an
// idempotency key made from verb, the id and key, logs done and says where
// the payment stands; doing names the call in an error. The amount is what
// was received (a capture), else what was authorized (a cancel).
func (c *Client) actOnPaymentIntent(ctx context.Context, verb, doing, done, paymentIntent, key string,
	call func(stripe.Params) (*stripe.PaymentIntent, error)) (CaptureResult, error) {
	if !strings.HasPrefix(paymentIntent, "pi_") {
		return CaptureResult{}, fmt.Errorf("%w: %q is not a payment intent id (pi_…)", billing.ErrInvalid, paymentIntent)
	}
	p := stripe.Params{Context: ctx}
	p.SetIdempotencyKey(idem(verb+"-"+paymentIntent, key))
	pi, err := call(p)
	if err != nil {
		return CaptureResult{}, wrap(doing+" "+paymentIntent, err)
	}
	c.log.Info(done, "payment_intent", pi.ID, "status", pi.Status)
	return CaptureResult{PaymentIntent: pi.ID, Status: string(pi.Status), Amount: max(pi.AmountReceived, pi.Amount),
		Currency: string(pi.Currency), Livemode: pi.Livemode}, nil
}
