package billing

import (
	"context"
	"errors"
	"time"
)

// ErrNoStripe is returned by actions that need the Stripe API when no
// STRIPE_SECRET_KEY is configured.
var ErrNoStripe = errors.New("no STRIPE_SECRET_KEY configured: set it to create checkout and portal links")

// ErrNoCustomer is returned for a portal link for a user who has never
// been a Stripe customer.
var ErrNoCustomer = errors.New("this user has no Stripe customer yet: they need to buy something first")

// Stripe is what creditdesk asks of the Stripe API on the operator's or
// the app's behalf. internal/stripeapi implements it with stripe-go's
// client; the console and the app's HTTP API depend only on this.
type Stripe interface {
	// CreateCheckout creates a Checkout session for a user and a purchase
	// type from the catalog (or a raw price id).
	CreateCheckout(ctx context.Context, req CheckoutRequest) (CheckoutLink, error)
	// CreatePortal creates a billing portal session for the user's customer;
	// ErrNoCustomer when the user has none.
	CreatePortal(ctx context.Context, userID, returnURL string) (string, error)
}

// CheckoutRequest is one checkout link to create.
type CheckoutRequest struct {
	UserID string
	// Type is a catalog purchase type (pro, topup); PriceID a raw Stripe
	// price id. One of them is required; Type wins when both are set.
	Type    string
	PriceID string
	// Mode is payment or subscription; empty follows the type.
	Mode                string
	SuccessURL          string
	CancelURL           string
	AllowPromotionCodes bool
	AutomaticTax        bool
	// ManualCapture authorizes a one-time payment without charging it;
	// credits are granted when it is captured.
	ManualCapture bool
	// IdempotencyKey makes a retried create return the same session.
	IdempotencyKey string
}

// CheckoutLink is a created Checkout session.
type CheckoutLink struct {
	URL       string
	SessionID string
	Livemode  bool
	ExpiresAt time.Time
}
