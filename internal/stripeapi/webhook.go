package stripeapi

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"strings"

	"github.com/stripe/stripe-go/v76"

	"creditdesk/billing"
)

// WebhookPlan is the endpoint `creditdesk webhook setup` creates.
type WebhookPlan struct {
	URL        string
	APIVersion string
	Events     []string
}

// WebhookEndpoint is a created endpoint. Secret is the signing secret,
// which Stripe shows only in the create response.
type WebhookEndpoint struct {
	ID         string
	URL        string
	APIVersion string
	Events     []string
	Secret     string
	Livemode   bool
}

// PlanWebhook checks url and returns the endpoint creditdesk would create
// for it: every event type the billing rules handle, with the API version
// pinned to stripe-go v76's.
func PlanWebhook(rawURL string) (WebhookPlan, error) {
	if err := CheckWebhookURL(rawURL); err != nil {
		return WebhookPlan{}, err
	}
	return WebhookPlan{URL: rawURL, APIVersion: stripe.APIVersion, Events: append([]string(nil), billing.HandledEvents...)}, nil
}

// CheckWebhookURL refuses a URL Stripe cannot call: not http(s), or a
// loopback, unspecified or .localhost host.
func CheckWebhookURL(rawURL string) error {
	u, err := url.Parse(rawURL)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return fmt.Errorf("%w: %q is not a URL: pass the public https URL of this receiver, e.g. https://billing.example.com/api/stripe/webhook", billing.ErrInvalid, rawURL)
	}
	if IsLocalURL(u) {
		return fmt.Errorf("%w: Stripe cannot reach %s from the internet; for local testing run `stripe listen --forward-to %s` instead", billing.ErrInvalid, u.Host, u.Host+u.Path)
	}
	return nil
}

// IsLocalURL reports whether u points at this machine or nowhere.
func IsLocalURL(u *url.URL) bool {
	h := strings.ToLower(u.Hostname())
	if h == "localhost" || strings.HasSuffix(h, ".localhost") || h == "" {
		return true
	}
	if ip := net.ParseIP(h); ip != nil {
		return ip.IsLoopback() || ip.IsUnspecified()
	}
	return false
}

// SetupWebhook creates the endpoint of plan and returns it with its
// signing secret. It refuses when an endpoint for the same URL exists: its
// secret cannot be read again, so a second one would only add a second
// secret to rotate.
func (c *Client) SetupWebhook(ctx context.Context, plan WebhookPlan) (WebhookEndpoint, error) {
	existing, err := c.WebhookEndpoints(ctx)
	if err != nil {
		return WebhookEndpoint{}, err
	}
	for _, e := range existing {
		if strings.TrimRight(e.URL, "/") == strings.TrimRight(plan.URL, "/") {
			return WebhookEndpoint{}, fmt.Errorf("%w: endpoint %s already sends to %s; its signing secret is under Dashboard → Developers → Webhooks (delete it there to make a new one)", billing.ErrInvalid, e.ID, e.URL)
		}
	}
	p := &stripe.WebhookEndpointParams{
		URL:         stripe.String(plan.URL),
		APIVersion:  stripe.String(plan.APIVersion),
		Description: stripe.String("creditdesk"),
		Metadata:    map[string]string{"created_by": "creditdesk"},
	}
	for _, e := range plan.Events {
		p.EnabledEvents = append(p.EnabledEvents, stripe.String(e))
	}
	p.Context = ctx
	p.SetIdempotencyKey(idem("webhook", ""))
	we, err := c.api.WebhookEndpoints.New(p)
	if err != nil {
		return WebhookEndpoint{}, wrap("creating webhook endpoint", err)
	}
	c.log.Info("webhook endpoint created", "endpoint", we.ID, "url", we.URL)
	return WebhookEndpoint{ID: we.ID, URL: we.URL, APIVersion: we.APIVersion, Events: we.EnabledEvents, Secret: we.Secret, Livemode: we.Livemode}, nil
}

// RegisteredEndpoint is a webhook endpoint registered in Stripe.
type RegisteredEndpoint struct {
	ID         string
	URL        string
	APIVersion string
	Events     []string
	Status     string
	Livemode   bool
}

// WebhookEndpoints lists the endpoints registered in the account.
func (c *Client) WebhookEndpoints(ctx context.Context) ([]RegisteredEndpoint, error) {
	lp := &stripe.WebhookEndpointListParams{}
	lp.Context, lp.Limit = ctx, stripe.Int64(100)
	it := c.api.WebhookEndpoints.List(lp)
	var out []RegisteredEndpoint
	for n := 0; n < 100 && it.Next(); n++ {
		e := it.WebhookEndpoint()
		out = append(out, RegisteredEndpoint{ID: e.ID, URL: e.URL, APIVersion: e.APIVersion, Events: e.EnabledEvents, Status: e.Status, Livemode: e.Livemode})
	}
	if err := it.Err(); err != nil {
		return nil, wrap("listing webhook endpoints", err)
	}
	return out, nil
}

// MissingEvents returns the handled event types an endpoint does not
// enable ("*" enables all).
func MissingEvents(enabled []string) []string {
	have := map[string]bool{}
	for _, e := range enabled {
		if e == "*" {
			return nil
		}
		have[e] = true
	}
	var out []string
	for _, e := range billing.HandledEvents {
		if !have[e] {
			out = append(out, e)
		}
	}
	return out
}
