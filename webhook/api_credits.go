package webhook

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"creditdesk/billing"
)

// amountRequest is the body of a spend or grant.
type amountRequest struct {
	Amount *int64 `json:"amount"`
	Reason string `json:"reason"`
}

// check refuses an amount outside 1 to MaxAPIAmount and a reason longer
// than MaxReasonLength.
func (req amountRequest) check() *apiError {
	if req.Amount == nil || *req.Amount <= 0 || *req.Amount > billing.MaxAPIAmount {
		return &apiError{http.StatusBadRequest, "invalid_amount", fmt.Sprintf("amount must be a whole number of credits from 1 to %d", int64(billing.MaxAPIAmount))}
	}
	if len(req.Reason) > billing.MaxReasonLength {
		return &apiError{http.StatusBadRequest, "invalid_reason", fmt.Sprintf("reason is longer than %d bytes", billing.MaxReasonLength)}
	}
	return nil
}

// userJSON is GET /api/users/{id}.
type userJSON struct {
	ID           string            `json:"id"`
	Credits      int64             `json:"credits"`
	Tier         string            `json:"tier"`
	Subscription *subscriptionJSON `json:"subscription"`
	Grants       []grantJSON       `json:"grants"`
	// Features are what the tier unlocks ({} when nothing is configured).
	Features map[string]any `json:"features"`
}

type subscriptionJSON struct {
	Status            string     `json:"status"`
	Plan              string     `json:"plan,omitempty"`
	PeriodEnd         *time.Time `json:"period_end"`
	CancelAtPeriodEnd bool       `json:"cancel_at_period_end"`
}

type grantJSON struct {
	Remaining int64      `json:"remaining"`
	ExpiresAt *time.Time `json:"expires_at"`
	Source    string     `json:"source"`
}

func timePtr(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	t = t.UTC()
	return &t
}

func (a *API) getUser(w http.ResponseWriter, r *http.Request, _ string) {
	id := r.PathValue("id")
	b, err := a.svc.UserBalance(id)
	if errors.Is(err, billing.ErrNotFound) {
		writeError(w, &apiError{http.StatusNotFound, "user_not_found", "no user with this id: they have not bought anything nor been granted credits yet"})
		return
	}
	if err != nil {
		a.internal(w, "read user", err)
		return
	}
	out := userJSON{ID: b.User.ID, Credits: b.Spendable, Tier: b.User.Tier, Grants: make([]grantJSON, 0, len(b.Grants)), Features: b.Features}
	if out.Features == nil {
		out.Features = map[string]any{}
	}
	if p := b.Plan; p != nil {
		out.Subscription = &subscriptionJSON{Status: p.Status, Plan: p.Plan, PeriodEnd: timePtr(p.PeriodEnd), CancelAtPeriodEnd: p.CancelAtPeriodEnd}
	}
	for _, g := range b.Grants {
		out.Grants = append(out.Grants, grantJSON{Remaining: g.Remaining, ExpiresAt: timePtr(g.ExpiresAt), Source: g.Source})
	}
	writeJSON(w, http.StatusOK, out)
}

// postingJSON is the answer to a spend or grant.
type postingJSON struct {
	Credits int64  `json:"credits"`
	EntryID uint64 `json:"entry_id"`
}

type postFunc func(ctx context.Context, keyName, user string, amount int64, reason, idemKey string) (billing.APIResult, error)

func (a *API) spend(w http.ResponseWriter, r *http.Request, keyName string) {
	a.post(w, r, keyName, "spend", a.svc.Spend)
}

func (a *API) grant(w http.ResponseWriter, r *http.Request, keyName string) {
	a.post(w, r, keyName, "grant", a.svc.APIGrant)
}

func (a *API) post(w http.ResponseWriter, r *http.Request, keyName, op string, fn postFunc) {
	idem := r.Header.Get("Idempotency-Key")
	if idem == "" {
		writeError(w, &apiError{http.StatusBadRequest, "idempotency_key_required", "send an Idempotency-Key header: a retry with the same key " + op + "s once"})
		return
	}
	if !billing.ValidID(idem) {
		writeError(w, &apiError{http.StatusBadRequest, "invalid_idempotency_key", fmt.Sprintf("Idempotency-Key must be 1 to %d printable characters", billing.MaxIDLength)})
		return
	}
	user := r.PathValue("id")
	if !billing.ValidID(user) {
		writeError(w, invalid(fmt.Sprintf("user id must be 1 to %d printable characters", billing.MaxIDLength)))
		return
	}
	req, ok := readRequest[amountRequest](w, r)
	if !ok {
		return
	}
	res, err := fn(r.Context(), keyName, user, *req.Amount, req.Reason, idem)
	var insufficient *billing.ErrInsufficient
	switch {
	case err == nil:
		if res.Replayed {
			w.Header().Set("Idempotent-Replayed", "true")
		}
		writeJSON(w, http.StatusOK, postingJSON{Credits: res.Credits, EntryID: res.EntryID})
	case errors.As(err, &insufficient):
		bal := insufficient.Balance
		writeJSON(w, http.StatusPaymentRequired, errorJSON{Error: errorDetail{Code: "insufficient_credits",
			Message: fmt.Sprintf("user has %d credits, %d requested; nothing was spent", bal, insufficient.Requested), Credits: &bal}})
	case errors.Is(err, billing.ErrIdempotencyMismatch):
		writeError(w, &apiError{http.StatusUnprocessableEntity, "idempotency_key_reused", "this Idempotency-Key was already used for a different request; use a new key for a new " + op})
	case errors.Is(err, billing.ErrInvalid):
		writeError(w, invalid(strings.TrimPrefix(err.Error(), billing.ErrInvalid.Error()+": ")))
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		writeError(w, &apiError{http.StatusServiceUnavailable, "unavailable", "request cancelled; retry with the same Idempotency-Key"})
	default:
		a.internal(w, op, err)
	}
}
