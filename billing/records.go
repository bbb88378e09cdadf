package billing

import (
	"errors"
	"fmt"
	"syscall"
	"time"
)

// The records creditdesk keeps. billing owns them: the store persists them
// as JSON with the tags below (changing a tag changes the file format), the
// console and command line read them.

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

// Pending reports whether an event in state st is still to be applied.
func (st EventState) Pending() bool { return st == StateReceived || st == StateWaiting }

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

// DefaultTier is the tier of a user nobody has given one.
const DefaultTier = "free"

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

// EntryKind classifies a ledger entry by what made it.
type EntryKind string

const (
	KindPack    EntryKind = "pack"    // a credit pack bought
	KindPlan    EntryKind = "plan"    // a plan's credits for a paid period
	KindFree    EntryKind = "free"    // the free tier's allowance
	KindManual  EntryKind = "manual"  // an operator's grant or revoke
	KindLink    EntryKind = "link"    // moved from an unlinked customer
	KindSpend   EntryKind = "spend"   // spent through the app's API
	KindAPI     EntryKind = "api"     // granted through the app's API
	KindExpire  EntryKind = "expire"  // credits past their expiry
	KindRefund  EntryKind = "refund"  // clawed back by a refund
	KindDispute EntryKind = "dispute" // clawed back by a lost dispute
)

// GrantKind is the kind of the entry that created a grant: a grant is the
// lot of credits one positive entry brought.
type GrantKind = EntryKind

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
	Kind         EntryKind `json:"kind,omitempty"`
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
	Kind       GrantKind `json:"kind"`
	Source     string    `json:"source"`
	PurchaseID string    `json:"purchase_id,omitempty"`
	// Subscription is the subscription whose invoice paid for a plan
	// grant: cancelling, pausing or lapsing that subscription affects its
	// grants only.
	Subscription string    `json:"subscription,omitempty"`
	At           time.Time `json:"at"`
}

// Expires reports whether the grant has an expiry.
func (g Grant) Expires() bool { return !g.ExpiresAt.IsZero() }

// PurchaseKind says what a purchase bought.
type PurchaseKind string

const (
	PurchasePack PurchaseKind = "pack"
	PurchasePlan PurchaseKind = "plan"
)

// Purchase is one checkout: a pack or a plan bought by a user.
type Purchase struct {
	ID            string       `json:"id"`
	Seq           uint64       `json:"seq"`
	UserID        string       `json:"user_id,omitempty"`
	CustomerID    string       `json:"customer_id,omitempty"`
	Type          string       `json:"type,omitempty"`
	Kind          PurchaseKind `json:"kind,omitempty"`
	Mode          string       `json:"mode,omitempty"`
	Status        string       `json:"status"`
	Credits       int64        `json:"credits"`
	AmountTotal   int64        `json:"amount_total"`
	Currency      string       `json:"currency,omitempty"`
	PaymentIntent string       `json:"payment_intent,omitempty"`
	Subscription  string       `json:"subscription,omitempty"`
	// RefundedCredits is how many of Credits refunds and lost disputes
	// have clawed back so far.
	RefundedCredits int64 `json:"refunded_credits,omitempty"`
	// ClawedOwn and ClawedSpent split what the clawbacks took: from this
	// purchase's own credits, and from other paid credits (or debt) for
	// the part of them the user had spent. RefundedCredits less both is
	// what had expired and was not taken.
	ClawedOwn   int64 `json:"clawed_own,omitempty"`
	ClawedSpent int64 `json:"clawed_spent,omitempty"`
	// AmountRefunded and AmountDisputed are the money, in AmountTotal's
	// minor units, that refunds gave back and lost disputes took (the
	// rollups' refunded and disputed).
	AmountRefunded int64 `json:"amount_refunded,omitempty"`
	AmountDisputed int64 `json:"amount_disputed,omitempty"`
	// CaptureBy is when an authorized, not yet captured payment lapses.
	CaptureBy time.Time `json:"capture_by,omitzero"`
	EventID   string    `json:"event_id"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
	Note      string    `json:"note,omitempty"`
}

// Counts are store-wide totals the store keeps as counters.
type Counts struct {
	Events    uint64
	Users     uint64
	Pending   uint64
	Failed    uint64
	Waiting   uint64
	Purchases uint64
	// Flags is how many attention flags are open.
	Flags uint64
	// OutboxPending and OutboxFailed count the app's messages not yet
	// delivered and given up on.
	OutboxPending uint64
	OutboxFailed  uint64
}

// APIKey is a bearer key the founder's app uses to call creditdesk's API.
// Only the SHA-256 of the key is stored; the key itself is shown once, when
// it is created, and cannot be read back.
type APIKey struct {
	// Name identifies the key in the console and in the ledger (source
	// "api:NAME"). A name is never reused, even after its key is revoked,
	// so a ledger source always names one key.
	Name string `json:"name"`
	// Hash is the SHA-256 of the key.
	Hash []byte `json:"hash"`
	// Hint is the key's prefix and last characters ("cdk_…3f9a"), enough to
	// tell keys apart, far too little to use.
	Hint      string    `json:"hint"`
	CreatedAt time.Time `json:"created_at"`
	// RevokedAt is when the key stopped working; zero while it works.
	RevokedAt time.Time `json:"revoked_at,omitzero"`
}

// Revoked reports whether the key has been revoked.
func (k APIKey) Revoked() bool { return !k.RevokedAt.IsZero() }

// APIRequest is the remembered answer to one spend or grant through the
// app's API, keyed by its ledger idempotency key. A retry with the same key
// and the same request gets this answer again; a different request with the
// same key is refused by comparing Fingerprint.
type APIRequest struct {
	// Fingerprint identifies the request: operation, user, amount, reason.
	Fingerprint string    `json:"fp"`
	User        string    `json:"user"`
	Credits     int64     `json:"credits"`
	EntryID     uint64    `json:"entry_id"`
	At          time.Time `json:"at"`
}

// VerifyReport is what a check of every invariant of the store looked at.
type VerifyReport struct {
	Users   int
	Entries int
	Events  int
	Applied int
}

// BackupReport says what a backup that verified holds.
type BackupReport struct {
	Path    string        `json:"path"`
	Bytes   int64         `json:"bytes"`
	Users   int           `json:"users"`
	Events  int           `json:"events"`
	Entries int           `json:"entries"`
	Took    time.Duration `json:"took"`
}

// ErrNotFound is returned for a user, event, purchase or key that is not
// stored.
var ErrNotFound = errors.New("not found")

// ErrKeyExists is returned when an API key name is already taken.
var ErrKeyExists = errors.New("an API key with this name exists (names of revoked keys stay taken so the ledger stays unambiguous)")

// ErrDamaged marks a database file that cannot be read safely: the store's
// consistency checks failed, or it gave up on a page.
var ErrDamaged = errors.New("database is damaged")

// IsWriteFault reports whether err is the disk refusing a write: full
// (ENOSPC, EDQUOT), failing (EIO) or mounted read-only (EROFS). Nothing of
// the transaction was written, and the same write can succeed later,
// unchanged: it is a reason to wait, never to give up on an event.
func IsWriteFault(err error) bool {
	return errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT) ||
		errors.Is(err, syscall.EIO) || errors.Is(err, syscall.EROFS)
}

// ErrInsufficient is returned when a debit would take a balance below zero
// and the caller did not allow it.
type ErrInsufficient struct {
	UserID    string
	Balance   int64
	Requested int64
}

func (e *ErrInsufficient) Error() string {
	return fmt.Sprintf("user %s has %s credits, %s requested", e.UserID, Credits(e.Balance), Credits(e.Requested))
}

// ErrUnknownUser refuses a manual change to a user id that is not stored,
// so a mistyped id does not become a new user holding the credits. It
// matches ErrNotFound.
type ErrUnknownUser struct {
	UserID string
}

func (e *ErrUnknownUser) Error() string {
	return fmt.Sprintf("no user %s: nobody by that id has bought anything or been granted credits", e.UserID)
}

// Is makes errors.Is(err, ErrNotFound) true.
func (e *ErrUnknownUser) Is(target error) bool { return target == ErrNotFound }

// Posting is one change to a user's credits.
type Posting struct {
	UserID string
	// Delta is positive for a grant, negative for a debit.
	Delta int64
	// Key is the idempotency key: a second Post with the same key changes
	// nothing and returns the first entry.
	Key    string
	Reason string
	// Source is the event id, "manual: NOTE", or "api:KEY".
	Source string
	// Kind classifies the entry.
	Kind EntryKind
	At   time.Time
	// ExpiresAt, for a grant, is when what is left of it expires (zero: never).
	ExpiresAt  time.Time
	PurchaseID string
	// Subscription, for a plan grant, is the subscription it belongs to.
	Subscription string
	// OnlyFromPurchase, for a debit, takes only what the grants of
	// FromPurchase still hold (at most Delta), nothing else: no entry when
	// they hold nothing.
	OnlyFromPurchase bool
	// PaidOnly, for a debit, never takes the free allowance: it takes paid
	// grants (earliest expiry first), then, with AllowNegative and no free
	// credits left, debt; otherwise at most what paid grants hold.
	PaidOnly bool
	// AllowNegative lets a debit take the balance below zero (forced revoke,
	// configured debt). Without it a debit larger than the balance fails with
	// *ErrInsufficient and changes nothing.
	AllowNegative bool
	// FromPurchase, for a debit, takes first from the grants of that purchase
	// (a refund claws back that purchase's credits).
	FromPurchase string
	// Operator is who made a manual change; empty for the rules' postings.
	Operator string
	// Clamp, for a debit, takes at most what the balance holds instead of
	// failing (clawbacks that must not create debt).
	Clamp bool
}
