package storage

import "time"

// EventState is where a stored Stripe event is in its processing.
type EventState string

const (
	// StateReceived: stored, not yet looked at by the processor.
	StateReceived EventState = "received"
	// StateWaiting: needs something not known yet (a missing piece, an API
	// that could not be reached); retried at NextAttempt.
	StateWaiting EventState = "waiting"
	// StateApplied: its effects are in the ledger and state.
	StateApplied EventState = "applied"
	// StateIgnored: stored and shown, but it changes nothing.
	StateIgnored EventState = "ignored"
	// StateFailed: applying it returned an error; Reason says which.
	StateFailed EventState = "failed"
)

// EventRecord is one stored Stripe event without its payload.
type EventRecord struct {
	Seq         uint64     `json:"seq"`
	ID          string     `json:"id"`
	Type        string     `json:"type"`
	Created     int64      `json:"created"`
	APIVersion  string     `json:"api_version"`
	Livemode    bool       `json:"livemode"`
	ReceivedAt  time.Time  `json:"received_at"`
	State       EventState `json:"state"`
	Reason      string     `json:"reason,omitempty"`
	Attempts    int        `json:"attempts,omitempty"`
	NextAttempt time.Time  `json:"next_attempt,omitzero"`
	// WaitsForAPI marks a waiting event held back by an API outage: it is
	// retried at NextAttempt, not whenever something else applies.
	WaitsForAPI bool `json:"waits_for_api,omitempty"`
	// User and Amount are what the processor found: the user the event is
	// about and the credits it moved, for the Live tab.
	User   string `json:"user,omitempty"`
	Amount int64  `json:"amount,omitempty"`
	// Keys are the ledger idempotency keys this event's application wrote.
	Keys []string `json:"keys,omitempty"`
	// Source says how it arrived: webhook (default), resync, simulator.
	Source string `json:"source,omitempty"`
}

// Event is a stored event with the raw body Stripe signed.
type Event struct {
	EventRecord
	Payload []byte `json:"-"`
}

// User is a customer of the founder's app, as creditdesk knows them.
type User struct {
	ID             string `json:"id"`
	Email          string `json:"email,omitempty"`
	Name           string `json:"name,omitempty"`
	Tier           string `json:"tier"`
	CustomerID     string `json:"stripe_customer_id,omitempty"`
	SubscriptionID string `json:"subscription_id,omitempty"`
	Balance        int64  `json:"balance"`
	// NextExpiry is the earliest expiry among grants with credits left; zero
	// when none expires. While it is in the future, Balance is spendable as is.
	NextExpiry time.Time `json:"next_expiry,omitzero"`
	// Unlinked marks a record keyed by a Stripe customer id because no user
	// id was known for the purchase.
	Unlinked  bool      `json:"unlinked,omitempty"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
	Entries   uint64    `json:"entries"`
}

// Entry is one line of a user's append-only credits ledger.
type Entry struct {
	ID           uint64    `json:"id"`
	UserID       string    `json:"user_id"`
	Delta        int64     `json:"delta"`
	BalanceAfter int64     `json:"balance_after"`
	Reason       string    `json:"reason"`
	Source       string    `json:"source"`
	Key          string    `json:"key"`
	At           time.Time `json:"at"`
	Kind         string    `json:"kind,omitempty"`
	// Operator is who made a manual change (local:alice, ssh:laptop,
	// api:app); empty for entries the rules wrote.
	Operator string `json:"operator,omitempty"`
}

// Grant is the lot of credits a positive entry created: what is left of it
// and when it expires. Spending takes from the earliest-expiring grant first.
type Grant struct {
	EntryID    uint64    `json:"entry_id"`
	UserID     string    `json:"user_id"`
	Amount     int64     `json:"amount"`
	Remaining  int64     `json:"remaining"`
	ExpiresAt  time.Time `json:"expires_at,omitzero"`
	Kind       string    `json:"kind"`
	Source     string    `json:"source"`
	PurchaseID string    `json:"purchase_id,omitempty"`
	At         time.Time `json:"at"`
}

// Expires reports whether the grant has an expiry.
func (g Grant) Expires() bool { return !g.ExpiresAt.IsZero() }

// Purchase is one checkout: a pack or a plan bought by a user.
type Purchase struct {
	ID            string `json:"id"`
	Seq           uint64 `json:"seq"`
	UserID        string `json:"user_id,omitempty"`
	CustomerID    string `json:"customer_id,omitempty"`
	Type          string `json:"type,omitempty"`
	Kind          string `json:"kind,omitempty"` // pack or plan
	Mode          string `json:"mode,omitempty"`
	Status        string `json:"status"`
	Credits       int64  `json:"credits"`
	AmountTotal   int64  `json:"amount_total"`
	Currency      string `json:"currency,omitempty"`
	PaymentIntent string `json:"payment_intent,omitempty"`
	Subscription  string `json:"subscription,omitempty"`
	// RefundedCredits is how many of Credits refunds and lost disputes
	// have clawed back so far.
	RefundedCredits int64 `json:"refunded_credits,omitempty"`
	// CaptureBy is when an authorized, not yet captured payment lapses.
	CaptureBy time.Time `json:"capture_by,omitzero"`
	EventID   string    `json:"event_id"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
	Note      string    `json:"note,omitempty"`
}

// Counts are store-wide totals kept in the meta bucket.
type Counts struct {
	Events    uint64
	Users     uint64
	Pending   uint64
	Failed    uint64
	Waiting   uint64
	Purchases uint64
}
