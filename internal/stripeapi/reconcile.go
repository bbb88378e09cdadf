package stripeapi

import (
	"context"
	"time"

	"github.com/stripe/stripe-go/v76"

	"creditdesk/billing"
)

// maxReconciled bounds how many objects of each kind one reconciliation
// reads (100 a page): far past what a month of a small business holds.
const maxReconciled = 200_000

// StripePayments lists what Stripe says was paid and given back between
// since and until: completed Checkout Sessions, paid invoices, refunds
// that succeeded and lost disputes, every page (stripe-go's list
// iterators, with the client's retries), as billing.StripeRecords that
// billing.Reconcile compares with the store. margin more before since is
// listed too, so a refund or an invoice near the start finds what it is
// about.
func (c *Client) StripePayments(ctx context.Context, since, until time.Time, margin time.Duration) (billing.StripeListing, error) {
	l := billing.StripeListing{Since: since, Until: until}
	created := func() *stripe.RangeQueryParams {
		return &stripe.RangeQueryParams{GreaterThanOrEqual: since.Add(-margin).Unix(), LesserThanOrEqual: until.Unix()}
	}
	list := stripe.ListParams{Context: ctx, Limit: stripe.Int64(100)}

	// Each kind, listed in turn.
	kinds := []func() ([]billing.StripeRecord, error){
		func() ([]billing.StripeRecord, error) {
			p := &stripe.CheckoutSessionListParams{ListParams: list, CreatedRange: created(), Status: stripe.String(string(stripe.CheckoutSessionStatusComplete))}
			return listed(c.api.CheckoutSessions.List(p).Iter, maxReconciled, "checkout sessions", func(s *stripe.CheckoutSession) (billing.StripeRecord, bool) {
				r := billing.StripeRecord{Kind: billing.StripeCheckout, ID: s.ID, Created: time.Unix(s.Created, 0).UTC(), Amount: s.AmountTotal,
					Currency: string(s.Currency), Mode: string(s.Mode), PaymentStatus: string(s.PaymentStatus)}
				if s.PaymentIntent != nil {
					r.PaymentIntent = s.PaymentIntent.ID
				}
				if s.Subscription != nil {
					r.Subscription = s.Subscription.ID
				}
				return r, true
			})
		},
		func() ([]billing.StripeRecord, error) {
			p := &stripe.InvoiceListParams{ListParams: list, CreatedRange: created(), Status: stripe.String(string(stripe.InvoiceStatusPaid))}
			return listed(c.api.Invoices.List(p).Iter, maxReconciled, "invoices", func(in *stripe.Invoice) (billing.StripeRecord, bool) {
				r := billing.StripeRecord{Kind: billing.StripeInvoice, ID: in.ID, Created: time.Unix(in.Created, 0).UTC(), Amount: in.AmountPaid,
					Currency: string(in.Currency), BillingReason: string(in.BillingReason)}
				r = paidBy(r, in.PaymentIntent, in.Charge)
				if in.Subscription != nil {
					r.Subscription = in.Subscription.ID
				}
				return r, true
			})
		},
		func() ([]billing.StripeRecord, error) {
			p := &stripe.RefundListParams{ListParams: list, CreatedRange: created()}
			return listed(c.api.Refunds.List(p).Iter, maxReconciled, "refunds", func(f *stripe.Refund) (billing.StripeRecord, bool) {
				r := billing.StripeRecord{Kind: billing.StripeRefund, ID: f.ID, Created: time.Unix(f.Created, 0).UTC(), Amount: f.Amount, Currency: string(f.Currency)}
				return paidBy(r, f.PaymentIntent, f.Charge), f.Status == stripe.RefundStatusSucceeded
			})
		},
		func() ([]billing.StripeRecord, error) {
			p := &stripe.DisputeListParams{ListParams: list, CreatedRange: created()}
			return listed(c.api.Disputes.List(p).Iter, maxReconciled, "disputes", func(d *stripe.Dispute) (billing.StripeRecord, bool) {
				r := billing.StripeRecord{Kind: billing.StripeDispute, ID: d.ID, Created: time.Unix(d.Created, 0).UTC(), Amount: d.Amount, Currency: string(d.Currency)}
				return paidBy(r, d.PaymentIntent, d.Charge), d.Status == stripe.DisputeStatusLost
			})
		},
	}
	for _, kind := range kinds {
		rs, err := kind()
		if err != nil {
			return l, err
		}
		l.Records = append(l.Records, rs...)
	}
	return l, nil
}

// paidBy is r naming the payment intent and charge it is about, when
// Stripe gave them.
func paidBy(r billing.StripeRecord, pi *stripe.PaymentIntent, ch *stripe.Charge) billing.StripeRecord {
	if pi != nil {
		r.PaymentIntent = pi.ID
	}
	if ch != nil {
		r.Charge = ch.ID
	}
	return r
}
