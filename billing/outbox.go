package billing

import (
	"encoding/json"
	"slices"
	"strings"
	"time"
)

// The outbox: messages to the founder's app ("credits.granted",
// "plan.canceled", …), written in the same transaction as the ledger or
// state change that causes them, so a crash between the two can neither
// lose nor invent one. A sender (internal/appwebhook) delivers them.

// Message kinds the app can receive.
const (
	MsgCreditsGranted    = "credits.granted"
	MsgCreditsSpent      = "credits.spent"
	MsgCreditsRevoked    = "credits.revoked"
	MsgCreditsExpired    = "credits.expired"
	MsgCreditsClawedBack = "credits.clawed_back"
	MsgCreditsLow        = "credits.low"
	MsgPlanStarted       = "plan.started"
	MsgPlanRenewed       = "plan.renewed"
	MsgPlanChanged       = "plan.changed"
	MsgPlanCanceled      = "plan.canceled"
	MsgPlanPastDue       = "plan.past_due"
	MsgPurchaseCompleted = "purchase.completed"
	MsgPurchaseRefunded  = "purchase.refunded"
	MsgDisputeOpened     = "dispute.opened"
	MsgAttentionAdded    = "attention.added"
)

// MessageKinds lists every kind, in the order the README documents them.
var MessageKinds = []string{
	MsgCreditsGranted, MsgCreditsSpent, MsgCreditsRevoked, MsgCreditsExpired, MsgCreditsClawedBack, MsgCreditsLow,
	MsgPlanStarted, MsgPlanRenewed, MsgPlanChanged, MsgPlanCanceled, MsgPlanPastDue,
	MsgPurchaseCompleted, MsgPurchaseRefunded, MsgDisputeOpened, MsgAttentionAdded,
}

// optInKinds are sent only to an endpoint that names them: there can be
// many.
var optInKinds = []string{MsgCreditsSpent}

// AttnAppWebhook flags an app endpoint disabled after failing for the
// whole retry window; re-enabled from the Deliveries tab.
const AttnAppWebhook FlagKind = "app_webhook"

// GiveUpAfter is how long a message is retried (Stripe's window for its
// own webhooks); an endpoint failing that long is disabled.
const GiveUpAfter = 72 * time.Hour

// AppEndpoint is one configured destination of the app's messages.
type AppEndpoint struct {
	// ID names the endpoint in the outbox (stable for a URL).
	ID  string `json:"id"`
	URL string `json:"url"`
	// Events it receives; empty: every kind except the opt-in ones.
	Events []string `json:"events,omitempty"`
}

// Wants reports whether the endpoint receives messages of kind.
func (e AppEndpoint) Wants(kind string) bool {
	if len(e.Events) == 0 {
		return !slices.Contains(optInKinds, kind)
	}
	return slices.Contains(e.Events, kind)
}

// KnownMessageKind reports whether kind is one creditdesk sends.
func KnownMessageKind(kind string) bool { return slices.Contains(MessageKinds, kind) }

// OutboxConfig says where messages go and what makes credits.low.
type OutboxConfig struct {
	Endpoints []AppEndpoint
	// LowCredits is the balance below which a user's credits are low;
	// LowCreditsByTier overrides it per tier (plan name). Zero: none.
	LowCredits       int64
	LowCreditsByTier map[string]int64
	// Features returns what a tier unlocks, for plan.* messages (nil: none);
	// st is the transaction, for the Stripe catalog cache (nil in tests of
	// MessagesFor). Catalog.TierFeatures is the real one.
	Features func(st ProductState, tier string) map[string]any
	// KeepDelivered is how long a delivered message is kept (zero:
	// the KeepDelivered constant).
	KeepDelivered time.Duration
}

func (c OutboxConfig) lowFor(tier string) int64 {
	if v, ok := c.LowCreditsByTier[tier]; ok {
		return v
	}
	return c.LowCredits
}

// DeliveryState is where a message is in its delivery.
type DeliveryState string

const (
	// DeliveryPending: not delivered yet; tried at NextAttempt.
	DeliveryPending DeliveryState = "pending"
	// DeliveryDelivered: the endpoint answered 2xx.
	DeliveryDelivered DeliveryState = "delivered"
	// DeliveryFailed: retried for GiveUpAfter without success; resend by hand.
	DeliveryFailed DeliveryState = "failed"
)

// OutboxMessage is one message to one endpoint: what it says, written
// once when the change that makes it commits and never rewritten, and its
// DeliveryStatus, which each attempt replaces. Its ID (the webhook-id
// header) stays the same across retries and resends, so the app can drop
// duplicates.
type OutboxMessage struct {
	Seq       uint64          `json:"seq"`
	ID        string          `json:"id"`
	Endpoint  string          `json:"endpoint"`
	User      string          `json:"user,omitempty"`
	Type      string          `json:"type"`
	Body      json.RawMessage `json:"body"`
	CreatedAt time.Time       `json:"created_at"`
	DeliveryStatus
}

// DeliveryStatus is where a message's delivery stands: the small record
// an attempt, a resend or the sender's pruning writes, kept apart from the
// message's body so recording an attempt does not rewrite the body.
type DeliveryStatus struct {
	State DeliveryState `json:"state"`
	// Since is when the current retry window started: creation, or the
	// last resend.
	Since        time.Time `json:"since"`
	Attempts     int       `json:"attempts,omitempty"`
	NextAttempt  time.Time `json:"next_attempt,omitzero"`
	LastAttempt  time.Time `json:"last_attempt,omitzero"`
	LastStatus   int       `json:"last_status,omitempty"`
	LastResponse string    `json:"last_response,omitempty"`
	LastError    string    `json:"last_error,omitempty"`
	DeliveredAt  time.Time `json:"delivered_at,omitzero"`
}

// KeepDelivered is how long a delivered message stays in the outbox
// (listed in the Deliveries tab and by creditdesk deliveries) before the
// sender prunes it, unless OutboxConfig.KeepDelivered says otherwise.
const KeepDelivered = 7 * 24 * time.Hour

// PendingRef is what the sender needs to choose a pending message: which
// endpoint and user it is for, and when it may be tried.
type PendingRef struct {
	Seq         uint64
	Endpoint    string
	User        string
	NextAttempt time.Time
}

// EndpointState is what the outbox keeps of an endpoint between deliveries.
type EndpointState struct {
	ID  string `json:"id"`
	URL string `json:"url"`
	// FailingSince is the first failure after the last success (zero: not
	// failing).
	FailingSince time.Time `json:"failing_since,omitzero"`
	LastSuccess  time.Time `json:"last_success,omitzero"`
	Disabled     bool      `json:"disabled,omitempty"`
	DisabledAt   time.Time `json:"disabled_at,omitzero"`
}

// MessageBody is the JSON the app receives (Standard Webhooks' type,
// timestamp, data).
type MessageBody struct {
	Type      string      `json:"type"`
	Timestamp time.Time   `json:"timestamp"`
	Data      MessageData `json:"data"`
}

// MessageData is what every message says: who, their balance and tier
// after the change, what changed, and the Stripe event that caused it.
type MessageData struct {
	UserID      string `json:"user_id"`
	Balance     int64  `json:"balance"`
	Tier        string `json:"tier"`
	StripeEvent string `json:"stripe_event,omitempty"`
	// Threshold is the low-credits threshold crossed (credits.low).
	Threshold    int64          `json:"threshold,omitempty"`
	Entry        *Entry         `json:"entry,omitempty"`
	Purchase     *Purchase      `json:"purchase,omitempty"`
	Subscription *Subscription  `json:"subscription,omitempty"`
	Plan         string         `json:"plan,omitempty"`
	PreviousPlan string         `json:"previous_plan,omitempty"`
	Features     map[string]any `json:"features,omitempty"`
	Attention    *Flag          `json:"attention,omitempty"`
}

// Message is one message before it is addressed to endpoints.
type Message struct {
	Type string
	Data MessageData
}

// Change is one write of a transaction that may concern the app: a
// ledger entry, a subscription, a purchase or a new attention flag, with
// what was stored before (nil: nothing).
type Change struct {
	// Event is the Stripe event being applied, if any.
	Event       string
	Entry       *Entry
	OldSub      *Subscription
	NewSub      *Subscription
	OldPurchase *Purchase
	NewPurchase *Purchase
	NewFlag     *Flag
}

// MessagesFor says which messages one change produces; user is the user
// the change is about as it stands after the transaction (tier, balance);
// st is read for the features of plan.* messages only. The same change
// and state always make the same messages.
func (c OutboxConfig) MessagesFor(ch Change, user User, st ProductState) []Message {
	data := MessageData{UserID: user.ID, Balance: user.Balance, Tier: user.Tier, StripeEvent: ch.Event}
	var out []Message
	add := func(kind string, d MessageData) { out = append(out, Message{Type: kind, Data: d}) }
	switch {
	case ch.Entry != nil:
		e := *ch.Entry
		d := data
		d.Entry, d.Balance = &e, e.BalanceAfter
		if d.StripeEvent == "" && strings.HasPrefix(e.Source, "evt_") {
			d.StripeEvent = e.Source
		}
		add(entryKind(e), d)
	case ch.NewSub != nil:
		n := *ch.NewSub
		d := data
		d.Subscription, d.Plan = &n, n.Plan
		if c.Features != nil {
			d.Features = c.Features(st, user.Tier)
		}
		o := ch.OldSub
		was := o != nil && inForce(*o)
		switch {
		case !inForce(n) && (o == nil || !o.Deleted && o.Status != "canceled") && (n.Deleted || n.Status == "canceled"):
			if o != nil {
				d.PreviousPlan = o.Plan
			}
			add(MsgPlanCanceled, d)
		case inForce(n) && !was:
			add(MsgPlanStarted, d)
		case was && inForce(n) && n.Plan != o.Plan:
			d.PreviousPlan = o.Plan
			add(MsgPlanChanged, d)
		case was && inForce(n) && !o.PeriodEnd.IsZero() && n.PeriodEnd.After(o.PeriodEnd):
			add(MsgPlanRenewed, d)
		}
		if n.Status == "past_due" && (o == nil || o.Status != "past_due") {
			add(MsgPlanPastDue, d)
		}
	case ch.NewPurchase != nil:
		n := *ch.NewPurchase
		d := data
		d.Purchase = &n
		if d.StripeEvent == "" {
			d.StripeEvent = n.EventID
		}
		o := ch.OldPurchase
		if n.Status == "paid" && (o == nil || o.Status != "paid" && o.Status != "refunded" && o.Status != "part_refunded") {
			add(MsgPurchaseCompleted, d)
		}
		if o != nil && n.RefundedCredits > o.RefundedCredits ||
			(n.Status == "refunded" || n.Status == "part_refunded") && (o == nil || o.Status != n.Status) {
			add(MsgPurchaseRefunded, d)
		}
	case ch.NewFlag != nil:
		f := *ch.NewFlag
		d := data
		d.Attention = &f
		if f.Kind == AttnDisputed {
			add(MsgDisputeOpened, d)
		}
		if f.Kind != AttnAppWebhook { // not about the app's own endpoint
			add(MsgAttentionAdded, d)
		}
	}
	return out
}

// LowCrossing reports whether a user's balance going from before to after
// (one transaction's worth of entries) crosses below the low-credits
// threshold of tier, and which threshold: credits.low is sent once per
// crossing, not for a balance that dips inside a renewal and comes back.
func (c OutboxConfig) LowCrossing(before, after int64, tier string) (int64, bool) {
	low := c.lowFor(tier)
	return low, low > 0 && before >= low && after < low
}

// entryKind is the message a ledger entry makes.
func entryKind(e Entry) string {
	switch e.Kind {
	case KindSpend:
		return MsgCreditsSpent
	case KindExpire:
		return MsgCreditsExpired
	case KindRefund, KindDispute:
		return MsgCreditsClawedBack
	}
	if e.Delta < 0 {
		return MsgCreditsRevoked
	}
	return MsgCreditsGranted
}
