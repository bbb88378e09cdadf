package webhook

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"time"

	"creditdesk/billing"
)

// stripeTimeout bounds one checkout or portal call to Stripe.
const stripeTimeout = 20 * time.Second

// checkoutRequest is the body of POST /api/stripe/checkout, as the common
// starter kits send it.
type checkoutRequest struct {
	PriceID    string `json:"priceId"`
	Type       string `json:"type"`
	Mode       string `json:"mode"`
	UserID     string `json:"userId"`
	SuccessURL string `json:"successUrl"`
	CancelURL  string `json:"cancelUrl"`
}

// check says what is wrong with a checkout body: the user, the price or
// type, the mode or the return URLs.
func (req checkoutRequest) check() *apiError {
	switch {
	case !billing.ValidID(req.UserID):
		return noUserID()
	case req.PriceID == "" && req.Type == "":
		return invalid("one of priceId or type is required")
	case len(req.PriceID) > billing.MaxIDLength || len(req.Type) > billing.MaxIDLength:
		return invalid("priceId or type is too long")
	case req.Mode != "" && req.Mode != "payment" && req.Mode != "subscription":
		return invalid(`mode must be "payment" or "subscription"`)
	case !validReturnURL(req.SuccessURL):
		return badReturnURL("successUrl")
	case !validReturnURL(req.CancelURL):
		return badReturnURL("cancelUrl")
	}
	return nil
}

// portalRequest is the body of POST /api/stripe/portal.
type portalRequest struct {
	UserID    string `json:"userId"`
	ReturnURL string `json:"returnUrl"`
}

// check says what is wrong with a portal body: the user or the return URL.
func (req portalRequest) check() *apiError {
	switch {
	case !billing.ValidID(req.UserID):
		return noUserID()
	case !validReturnURL(req.ReturnURL):
		return badReturnURL("returnUrl")
	}
	return nil
}

// noUserID and badReturnURL are what the checkout and portal bodies say
// alike about their userId and their return URLs.
func noUserID() *apiError { return invalid("userId is required: the id of the user in your app") }

func badReturnURL(field string) *apiError {
	return invalid(field + " must be an absolute http(s) URL")
}

// validReturnURL accepts "" (the default) or an absolute http(s) URL.
func validReturnURL(s string) bool {
	if s == "" {
		return true
	}
	if len(s) > 2048 {
		return false
	}
	u, err := url.Parse(s)
	return err == nil && (u.Scheme == "https" || u.Scheme == "http") && u.Host != ""
}

// checkoutJSON is the answer to a checkout request.
type checkoutJSON struct {
	URL       string `json:"url"`
	SessionID string `json:"sessionId"`
}

// needsStripe answers 503 stripe_not_configured in place of h while the API
// has no Stripe client.
func (a *API) needsStripe(h keyedHandler) keyedHandler {
	return func(w http.ResponseWriter, r *http.Request, keyName string) {
		if a.stripe == nil {
			writeError(w, errNoStripe)
			return
		}
		h(w, r, keyName)
	}
}

func (a *API) checkout(w http.ResponseWriter, r *http.Request, keyName string) {
	req, ok := readRequest[checkoutRequest](w, r)
	if !ok {
		return
	}
	idem := r.Header.Get("Idempotency-Key")
	if idem != "" && !billing.ValidID(idem) {
		writeError(w, &apiError{http.StatusBadRequest, "invalid_idempotency_key", "Idempotency-Key must be printable characters"})
		return
	}
	if idem != "" {
		idem = "api:" + keyName + ":" + idem
	}
	ctx, cancel := context.WithTimeout(r.Context(), stripeTimeout)
	defer cancel()
	link, err := a.stripe.CreateCheckout(ctx, billing.CheckoutRequest{UserID: req.UserID, Type: req.Type, PriceID: req.PriceID,
		Mode: req.Mode, SuccessURL: req.SuccessURL, CancelURL: req.CancelURL, IdempotencyKey: idem})
	if err != nil {
		a.stripeError(w, "create checkout", err)
		return
	}
	writeJSON(w, http.StatusOK, checkoutJSON{URL: link.URL, SessionID: link.SessionID})
}

func (a *API) portal(w http.ResponseWriter, r *http.Request, _ string) {
	req, ok := readRequest[portalRequest](w, r)
	if !ok {
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), stripeTimeout)
	defer cancel()
	u, err := a.stripe.CreatePortal(ctx, req.UserID, req.ReturnURL)
	if err != nil {
		a.stripeError(w, "create portal session", err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"url": u})
}

var errNoStripe = &apiError{http.StatusServiceUnavailable, "stripe_not_configured", "creditdesk has no STRIPE_SECRET_KEY: set it to create checkout and portal links"}

// stripeError answers a failed Stripe call. The Stripe client masks keys in
// its errors; the message is passed on so the app's developer sees, say, an
// unknown price.
func (a *API) stripeError(w http.ResponseWriter, what string, err error) {
	var transient *billing.TransientError
	switch {
	case errors.Is(err, billing.ErrNoCustomer):
		writeError(w, &apiError{http.StatusConflict, "no_customer", "this user has no Stripe customer yet: they need to buy something first"})
	case errors.Is(err, billing.ErrNoStripe):
		writeError(w, errNoStripe)
	case errors.Is(err, billing.ErrInvalid):
		writeError(w, invalid(err.Error()))
	case errors.As(err, &transient), errors.Is(err, context.DeadlineExceeded):
		a.logger().Warn("api "+what, "err", err)
		w.Header().Set("Retry-After", "5")
		writeError(w, &apiError{http.StatusServiceUnavailable, "stripe_unavailable", "Stripe did not answer; retry shortly"})
	default:
		a.logger().Error("api "+what, "err", err)
		writeError(w, &apiError{http.StatusBadGateway, "stripe_error", err.Error()})
	}
}
