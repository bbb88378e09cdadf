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

	sp := &stripe.CheckoutSessionListParams{ListParams: list, CreatedRange: created(), Status: stripe.String(string(stripe.CheckoutSessionStatusComplete))}
	it := c.api.CheckoutSessions.List(sp)
	for n := 0; n < maxReconciled && it.Next(); n++ {
		s := it.CheckoutSession()
		r := billing.StripeRecord{Kind: billing.StripeCheckout, ID: s.ID, Created: time.Unix(s.Created, 0).UTC(), Amount: s.AmountTotal,
			Currency: string(s.Currency), Mode: string(s.Mode), PaymentStatus: string(s.PaymentStatus)}
		if s.PaymentIntent != nil {
			r.PaymentIntent = s.PaymentIntent.ID
		}
		if s.Subscription != nil {
			r.Subscription = s.Subscription.ID
		}
		l.Records = append(l.Records, r)
	}
	if err := it.Err(); err != nil {
		return l, wrap("listing checkout sessions", err)
	}

	ip := &stripe.InvoiceListParams{ListParams: list, CreatedRange: created(), Status: stripe.String(string(stripe.InvoiceStatusPaid))}
	ii := c.api.Invoices.List(ip)
	for n := 0; n < maxReconciled && ii.Next(); n++ {
		in := ii.Invoice()
		r := billing.StripeRecord{Kind: billing.StripeInvoice, ID: in.ID, Created: time.Unix(in.Created, 0).UTC(), Amount: in.AmountPaid,
			Currency: string(in.Currency), BillingReason: string(in.BillingReason)}
		if in.PaymentIntent != nil {
			r.PaymentIntent = in.PaymentIntent.ID
		}
		if in.Charge != nil {
			r.Charge = in.Charge.ID
		}
		if in.Subscription != nil {
			r.Subscription = in.Subscription.ID
		}
		l.Records = append(l.Records, r)
	}
	if err := ii.Err(); err != nil {
		return l, wrap("listing invoices", err)
	}

	rp := &stripe.RefundListParams{ListParams: list, CreatedRange: created()}
	ri := c.api.Refunds.List(rp)
	for n := 0; n < maxReconciled && ri.Next(); n++ {
		f := ri.Refund()
		if f.Status != stripe.RefundStatusSucceeded {
			continue
		}
		r := billing.StripeRecord{Kind: billing.StripeRefund, ID: f.ID, Created: time.Unix(f.Created, 0).UTC(), Amount: f.Amount, Currency: string(f.Currency)}
		if f.PaymentIntent != nil {
			r.PaymentIntent = f.PaymentIntent.ID
		}
		if f.Charge != nil {
			r.Charge = f.Charge.ID
		}
		l.Records = append(l.Records, r)
	}
	if err := ri.Err(); err != nil {
		return l, wrap("listing refunds", err)
	}

	dp := &stripe.DisputeListParams{ListParams: list, CreatedRange: created()}
	di := c.api.Disputes.List(dp)
	for n := 0; n < maxReconciled && di.Next(); n++ {
		d := di.Dispute()
		if d.Status != stripe.DisputeStatusLost {
			continue
		}
		r := billing.StripeRecord{Kind: billing.StripeDispute, ID: d.ID, Created: time.Unix(d.Created, 0).UTC(), Amount: d.Amount, Currency: string(d.Currency)}
		if d.PaymentIntent != nil {
			r.PaymentIntent = d.PaymentIntent.ID
		}
		if d.Charge != nil {
			r.Charge = d.Charge.ID
		}
		l.Records = append(l.Records, r)
	}
	if err := di.Err(); err != nil {
		return l, wrap("listing disputes", err)
	}
	return l, nil
}
