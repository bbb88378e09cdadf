package stripeapi

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/stripe/stripe-go/v76"

	"creditdesk/billing"
)

// CreateCheckout creates a Checkout session for a user and a catalog type
// (or a raw price id). The mode follows the type: a plan is a subscription,
// a pack a one-time payment. The user's Stripe customer is reused, or made
// with metadata.user_id and linked in the store. The session carries
// metadata.type, metadata.user_id and client_reference_id so the billing
// rules find the user and what was bought without another API call.
func (c *Client) CreateCheckout(ctx context.Context, req billing.CheckoutRequest) (billing.CheckoutLink, error) {
	req.UserID = strings.TrimSpace(req.UserID)
	if req.UserID == "" {
		return billing.CheckoutLink{}, fmt.Errorf("%w: a user id is required", billing.ErrInvalid)
	}
	// Check the request before anything is created in Stripe.
	if _, err := c.checkoutParams(req, "cus_check"); err != nil {
		return billing.CheckoutLink{}, err
	}
	cus, err := c.customerFor(ctx, req.UserID)
	if err != nil {
		return billing.CheckoutLink{}, err
	}
	p, err := c.checkoutParams(req, cus)
	if err != nil {
		return billing.CheckoutLink{}, err
	}
	p.Context = ctx
	p.SetIdempotencyKey(idem("checkout", req.IdempotencyKey))
	s, err := c.api.CheckoutSessions.New(p)
	if err != nil {
		return billing.CheckoutLink{}, wrap("creating checkout session", err)
	}
	link := billing.CheckoutLink{URL: s.URL, SessionID: s.ID, Livemode: s.Livemode}
	if s.ExpiresAt > 0 {
		link.ExpiresAt = time.Unix(s.ExpiresAt, 0)
	}
	c.log.Info("checkout session created", "session", s.ID, "user", req.UserID, "type", p.Metadata["type"], "livemode", s.Livemode)
	return link, nil
}

// checkoutParams builds the session parameters for req and customer. It
// fails, creating nothing, for a type the catalog does not know, a pack or
// plan with neither a price id nor an amount, and manual capture of a plan.
func (c *Client) checkoutParams(req billing.CheckoutRequest, customer string) (*stripe.CheckoutSessionParams, error) {
	cat := c.cfg.Catalog
	meta := map[string]string{"user_id": req.UserID}
	var (
		mode string
		line = &stripe.CheckoutSessionLineItemParams{Quantity: stripe.Int64(1)}
	)
	switch {
	case req.Type != "":
		name, ok := cat.Resolve(req.Type)
		if !ok {
			return nil, unknownType(req.Type, cat)
		}
		meta["type"] = name
		o, _ := cat.Offer(name)
		if o.Kind == billing.PurchasePlan {
			mode = "subscription"
		} else {
			mode = "payment"
			meta["credits"] = strconv.FormatInt(o.Credits, 10)
		}
		if err := fillPrice(line, o); err != nil {
			return nil, err
		}
	case req.PriceID != "":
		line.Price = stripe.String(req.PriceID)
		mode = req.Mode
		if mode == "" {
			mode = "payment"
			if pr, ok := c.cachedPrice(req.PriceID); ok && pr.Recurring {
				mode = "subscription"
			}
		}
		if name, ok := cat.ByPrice(req.PriceID); ok {
			meta["type"] = name
			if o, _ := cat.Offer(name); o.Kind == billing.PurchasePack {
				meta["credits"] = strconv.FormatInt(o.Credits, 10)
			}
		}
	default:
		return nil, fmt.Errorf("%w: a purchase type (%s) or a price id is required", billing.ErrInvalid, strings.Join(cat.Names(), ", "))
	}
	if req.Mode != "" && req.Mode != mode {
		return nil, fmt.Errorf("%w: %s is sold in %s mode, not %s", billing.ErrInvalid, meta["type"], mode, req.Mode)
	}
	if req.ManualCapture && mode != "payment" {
		return nil, fmt.Errorf("%w: manual capture is for one-time payments (packs); %s is a subscription", billing.ErrInvalid, meta["type"])
	}
	p := &stripe.CheckoutSessionParams{
		Mode:              stripe.String(mode),
		Customer:          stripe.String(customer),
		ClientReferenceID: stripe.String(req.UserID),
		SuccessURL:        stripe.String(c.successURL(req.SuccessURL)),
		CancelURL:         stripe.String(c.cancelURL(req.CancelURL)),
		LineItems:         []*stripe.CheckoutSessionLineItemParams{line},
		Metadata:          meta,
	}
	if req.AllowPromotionCodes {
		p.AllowPromotionCodes = stripe.Bool(true)
	}
	if req.AutomaticTax {
		p.AutomaticTax = &stripe.CheckoutSessionAutomaticTaxParams{Enabled: stripe.Bool(true)}
		// Tax needs the buyer's address; with an existing customer Stripe
		// requires permission to save the one entered at checkout.
		p.CustomerUpdate = &stripe.CheckoutSessionCustomerUpdateParams{Address: stripe.String("auto"), Name: stripe.String("auto")}
	}
	switch mode {
	case "payment":
		pi := &stripe.CheckoutSessionPaymentIntentDataParams{Metadata: copyMap(meta)}
		if req.ManualCapture {
			pi.CaptureMethod = stripe.String("manual")
			p.Metadata["capture"] = "manual"
			pi.Metadata["capture"] = "manual"
		}
		p.PaymentIntentData = pi
	case "subscription":
		p.SubscriptionData = &stripe.CheckoutSessionSubscriptionDataParams{Metadata: map[string]string{"user_id": req.UserID}}
		if t := meta["type"]; t != "" {
			p.SubscriptionData.Metadata["type"] = t
		}
	}
	return p, nil
}

func unknownType(t string, cat billing.Catalog) error {
	names := cat.Names()
	if len(names) == 0 {
		return fmt.Errorf("%w: unknown purchase type %q: the catalog defines no plans or packs; add [packs.%s] with credits and price_ids (or amount and currency) to creditdesk.toml", billing.ErrInvalid, t, strings.ToLower(t))
	}
	return fmt.Errorf("%w: unknown purchase type %q: the catalog has %s", billing.ErrInvalid, t, strings.Join(names, ", "))
}

func copyMap(m map[string]string) map[string]string {
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

func (c *Client) returnBase() string {
	b := strings.TrimRight(c.cfg.ReturnBase, "/")
	if b == "" {
		b = "http://localhost:4242"
	}
	return b
}

// fillPrice sets line's price for o: its first Stripe price, else an
// inline price of its amount for a product carrying its type and credits (a
// plan's recurs every month). An offer with neither is invalid.
func fillPrice(line *stripe.CheckoutSessionLineItemParams, o billing.Offer) error {
	switch {
	case len(o.PriceIDs) > 0:
		line.Price = stripe.String(o.PriceIDs[0])
	case o.Amount > 0 && o.Currency != "":
		product := fmt.Sprintf("%s — %d credits", o.Name, o.Credits)
		if o.Kind == billing.PurchasePlan {
			product = fmt.Sprintf("%s plan — %d credits a month", o.Name, o.Credits)
		}
		line.PriceData = &stripe.CheckoutSessionLineItemPriceDataParams{
			Currency:   stripe.String(strings.ToLower(o.Currency)),
			UnitAmount: stripe.Int64(o.Amount),
			ProductData: &stripe.CheckoutSessionLineItemPriceDataProductDataParams{
				Name:     stripe.String(product),
				Metadata: map[string]string{"type": o.Name, "credits": strconv.FormatInt(o.Credits, 10)},
			},
		}
		if o.Kind == billing.PurchasePlan {
			line.PriceData.Recurring = &stripe.CheckoutSessionLineItemPriceDataRecurringParams{Interval: stripe.String("month")}
		}
	default:
		return fmt.Errorf("%w: %s %q has no price_ids and no amount and currency in the catalog: add one of them", billing.ErrInvalid, o.Kind, o.Name)
	}
	return nil
}

func (c *Client) successURL(u string) string {
	return cmp.Or(u, c.cfg.SuccessURL, c.returnBase()+"/checkout/success?session_id={CHECKOUT_SESSION_ID}")
}

func (c *Client) cancelURL(u string) string {
	return cmp.Or(u, c.cfg.CancelURL, c.returnBase()+"/checkout/cancel")
}

// CustomerID returns the user's Stripe customer as the store knows it, or "".
func (c *Client) CustomerID(userID string) (string, error) {
	rec, err := c.records()
	if err != nil {
		return "", err
	}
	u, _, err := rec.User(userID)
	return u.CustomerID, err
}

// customerFor returns the user's Stripe customer, creating one (metadata
// user_id, the user's email and name) when the user has none, and has
// billing record it. The create's idempotency key is derived from the user
// id, so two checkouts racing for a new user make one customer.
func (c *Client) customerFor(ctx context.Context, userID string) (string, error) {
	rec, err := c.records()
	if err != nil {
		return "", err
	}
	u, _, err := rec.User(userID)
	if err != nil {
		return "", err
	}
	if u.CustomerID != "" {
		return u.CustomerID, nil
	}
	p := &stripe.CustomerParams{Metadata: map[string]string{"user_id": userID}}
	if u.Email != "" {
		p.Email = stripe.String(u.Email)
	}
	if u.Name != "" {
		p.Name = stripe.String(u.Name)
	}
	p.Context = ctx
	p.SetIdempotencyKey(idem("customer", userID))
	cus, err := c.api.Customers.New(p)
	var se *stripe.Error
	if errors.As(err, &se) && se.Type == stripe.ErrorTypeIdempotency {
		// The same key was used with other details (an email set since):
		// this is a new request.
		p.SetIdempotencyKey(idem("customer", userID+"-"+billing.NewKey()))
		cus, err = c.api.Customers.New(p)
	}
	if err != nil {
		return "", wrap("creating Stripe customer for "+userID, err)
	}
	if err := rec.CustomerCreated(userID, cus.ID); err != nil {
		return "", err
	}
	c.log.Info("stripe customer created", "customer", cus.ID, "user", userID)
	return cus.ID, nil
}

func (c *Client) cachedPrice(id string) (billing.CachedPrice, bool) {
	if c.rec == nil {
		return billing.CachedPrice{}, false
	}
	pr, ok, err := c.rec.CachedPrice(id)
	return pr, ok && err == nil
}

// CreatePortal creates a billing portal session for the user's customer.
// A user without one is billing.ErrNoCustomer, a plain message.
func (c *Client) CreatePortal(ctx context.Context, userID, returnURL string) (string, error) {
	userID = strings.TrimSpace(userID)
	if userID == "" {
		return "", fmt.Errorf("%w: a user id is required", billing.ErrInvalid)
	}
	cus, err := c.CustomerID(userID)
	if err != nil {
		return "", err
	}
	if cus == "" {
		return "", fmt.Errorf("%s: %w", userID, billing.ErrNoCustomer)
	}
	if returnURL == "" {
		returnURL = c.returnBase() + "/"
	}
	p := &stripe.BillingPortalSessionParams{Customer: stripe.String(cus), ReturnURL: stripe.String(returnURL)}
	p.Context = ctx
	p.SetIdempotencyKey(idem("portal", ""))
	s, err := c.api.BillingPortalSessions.New(p)
	if err != nil {
		return "", wrap("creating portal session", err)
	}
	return s.URL, nil
}

// SessionLineItems reads what a checkout session sold: the session with its
// line items and their prices' products expanded.
func (c *Client) SessionLineItems(ctx context.Context, sessionID string) (billing.LineItems, error) {
	p := &stripe.CheckoutSessionParams{}
	p.Context = ctx
	p.AddExpand("line_items")
	p.AddExpand("line_items.data.price.product")
	s, err := c.api.CheckoutSessions.Get(sessionID, p)
	if err != nil {
		return billing.LineItems{}, wrap("reading line items of "+sessionID, err)
	}
	out := billing.LineItems{Items: []billing.LineItem{}}
	if s.LineItems == nil {
		return out, nil
	}
	for _, li := range s.LineItems.Data {
		it := billing.LineItem{Quantity: li.Quantity}
		if pr := li.Price; pr != nil {
			it.PriceID = pr.ID
			if prod := pr.Product; prod != nil {
				it.ProductID = prod.ID
				it.ProductType = prod.Metadata["type"]
				it.ProductCredits, _ = strconv.ParseInt(strings.TrimSpace(prod.Metadata["credits"]), 10, 64)
			}
		}
		out.Items = append(out.Items, it)
	}
	return out, nil
}
