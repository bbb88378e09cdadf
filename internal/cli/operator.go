package cli

import (
	"context"
	"strings"
	"time"

	"creditdesk/billing"
	"creditdesk/internal/config"
	"creditdesk/internal/stripeapi"
	"creditdesk/tui"
)

// operator adapts the Stripe client to the console's tui.Operator, turning
// stripeapi's records into the console's plain rows.
type operator struct {
	s   *appStripe
	svc *billing.Service
	cfg config.Config
}

// operator is the console's Operator; a nil interface without a key.
func (s *appStripe) operator(svc *billing.Service, cfg config.Config) tui.Operator {
	if s == nil {
		return nil
	}
	return &operator{s: s, svc: svc, cfg: cfg}
}

func (o *operator) Live() bool { return o.s.client.Live() }

func (o *operator) Status() string { return o.s.Status() }

func (o *operator) Choices() []tui.CheckoutChoice {
	cat := o.s.client.Catalog()
	var out []tui.CheckoutChoice
	for _, n := range cat.Names() {
		o, _ := cat.Offer(n)
		c := tui.CheckoutChoice{Type: n, Kind: string(o.Kind), Credits: o.Credits}
		switch {
		case o.Amount > 0:
			c.Price = billing.FormatAmount(o.Amount, o.Currency)
		case len(o.PriceIDs) > 0:
			c.Price = o.PriceIDs[0]
		}
		out = append(out, c)
	}
	return out
}

func (o *operator) CreateCheckout(ctx context.Context, req billing.CheckoutRequest) (billing.CheckoutLink, error) {
	return o.s.client.CreateCheckout(ctx, req)
}

func (o *operator) CreatePortal(ctx context.Context, userID string) (string, error) {
	return o.s.client.CreatePortal(ctx, userID, "")
}

func (o *operator) Captures(ctx context.Context) ([]tui.Authorization, error) {
	auths, err := o.s.client.Captures(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]tui.Authorization, 0, len(auths))
	for _, a := range auths {
		out = append(out, tui.Authorization{PaymentIntent: a.PaymentIntent, User: a.UserID, Type: a.Type,
			Amount: billing.FormatAmount(a.Amount, a.Currency), Status: a.Status, Deadline: a.Deadline})
	}
	return out, nil
}

func (o *operator) Capture(ctx context.Context, pi, key string) (string, error) {
	res, err := o.s.client.Capture(ctx, pi, key)
	if err != nil {
		return "", err
	}
	return "captured " + res.String(), nil
}

func (o *operator) Cancel(ctx context.Context, pi, key string) (string, error) {
	res, err := o.s.client.Cancel(ctx, pi, key)
	if err != nil {
		return "", err
	}
	return "cancelled " + res.String(), nil
}

func (o *operator) Catalog(ctx context.Context, sync bool) (tui.CatalogView, error) {
	var v tui.CatalogView
	if sync {
		res, err := o.s.client.SyncCatalog(ctx)
		if err != nil {
			return v, err
		}
		v.Note = res.String()
	}
	cv, err := o.s.client.CatalogView()
	if err != nil {
		return v, err
	}
	v.SyncedAt = cv.SyncedAt
	for _, t := range cv.Types {
		with := strings.Join(t.PriceIDs, ", ")
		switch {
		case with != "" && t.Amount != "":
			with += " (" + t.Amount + ")"
		case with == "" && t.Amount != "":
			with = t.Amount + " ad-hoc price"
		case with == "":
			with = "no price: add price_ids or amount and currency"
		}
		v.Types = append(v.Types, tui.CatalogType{Name: t.Name, Kind: t.Kind, Credits: t.Credits, SoldWith: with, PaymentLink: t.PaymentLink})
	}
	for _, p := range cv.Prices {
		b := "one-time"
		if p.Recurring {
			b = "recurring"
		}
		v.Prices = append(v.Prices, tui.CatalogPrice{ID: p.PriceID, Product: p.Product, Amount: p.Amount, Billing: b, Active: p.Active, Type: p.Type})
	}
	for _, c := range cv.Coupons {
		v.Coupons = append(v.Coupons, tui.CatalogCoupon{ID: c.ID, Name: c.Name, Off: c.Off(), Duration: c.Duration, Valid: c.Valid})
	}
	return v, nil
}

func (o *operator) Health(ctx context.Context) ([]tui.HealthCheck, error) {
	fs := stripeapi.Doctor(ctx, stripeapi.DoctorInput{Config: o.cfg, Client: o.s.client, Service: o.svc, Now: time.Now()})
	out := make([]tui.HealthCheck, 0, len(fs))
	for _, f := range fs {
		out = append(out, tui.HealthCheck{Check: f.Check, Level: f.Level.String(), Text: f.Text, Fix: f.Fix})
	}
	return out, nil
}

// Reconcile lists Stripe's payments of the last since (from midnight UTC)
// and has billing compare them with the store.
func (o *operator) Reconcile(ctx context.Context, since time.Duration) ([]billing.Difference, error) {
	now := time.Now().UTC()
	from := now.Add(-since).Truncate(24 * time.Hour)
	l, err := o.s.client.StripePayments(ctx, from, now, reconcileMargin)
	if err != nil {
		return nil, err
	}
	return o.svc.Reconcile(l)
}

func (o *operator) Resync(ctx context.Context, since time.Duration) (string, error) {
	res, err := o.s.client.Resync(ctx, stripeapi.ResyncOptions{Since: time.Now().Add(-since),
		Progress: func(p stripeapi.ResyncProgress) { o.s.setStatus(p.String()) }})
	if err != nil {
		return "", err
	}
	o.s.setStatus(res.String())
	return res.String(), nil
}
