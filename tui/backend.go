package tui

import (
	"context"
	"time"

	"creditdesk/billing"
)

// Backend is what the console needs from the rest of creditdesk. The real
// one is *billing.Service; tests use a fake. The console never touches the
// store or the network itself.
type Backend interface {
	// Subscribe returns the live feed and a function that ends it. The
	// channel is closed when the feed ends.
	Subscribe() (<-chan billing.Activity, func())
	// Stats returns the receiver's and processor's counters.
	Stats() billing.Stats
	// EventsPage returns up to limit events newest first with sequence below
	// before (0: newest).
	EventsPage(before uint64, limit int) ([]billing.EventRecord, error)
	// PurchasesPage returns up to limit purchases newest first, below before.
	PurchasesPage(before uint64, limit int) ([]billing.Purchase, error)
	// UsersPage returns up to limit users in id order after the id after,
	// matching filter (empty: all).
	UsersPage(after, filter string, limit int) ([]billing.User, error)
	// Insight returns the per-day rollups of the UTC days from since's
	// through until's, the plans now and the top users by spend: what the
	// Overview shows, read from small records kept as events apply.
	Insight(since, until time.Time) (billing.Insight, error)
	// UserDetail returns one user with grants, recent entries and purchases.
	UserDetail(id string) (billing.UserDetail, error)
	// Adjust grants (Delta > 0) or revokes (Delta < 0) credits by hand
	// (billing.Service.Adjust). The reason is required. A revoke beyond the
	// balance fails unless Force; an unknown user fails unless Create. Key
	// makes a retried submission a no-op.
	Adjust(ctx context.Context, a billing.Adjustment) (billing.Entry, error)

	// Attention lists what needs the operator: waiting and failed events,
	// unresolved and unlinked purchases, past-due plans, disputes.
	Attention() ([]billing.AttentionItem, error)
	// Retry queues a waiting, failed or set-aside event again now.
	Retry(ctx context.Context, eventID string) error
	// AssignType gives an unresolved purchase its type; it is applied once.
	AssignType(ctx context.Context, purchaseID, typ string) error
	// LinkUser moves an unlinked record's purchases and credits to a user.
	LinkUser(ctx context.Context, from, to string) error
	// PurchaseTypes lists the catalog's plans and packs.
	PurchaseTypes() []string

	// CreateAPIKey makes a key for the app's API and returns it; it cannot
	// be read again.
	CreateAPIKey(ctx context.Context, name string) (string, error)
	// ListAPIKeys returns every API key, working and revoked, without the keys.
	ListAPIKeys() ([]billing.APIKey, error)
	// RevokeAPIKey stops a key from working at once.
	RevokeAPIKey(ctx context.Context, name string) error

	// Deliveries returns up to limit messages to the app, newest first,
	// below sequence before (0: newest); failedOnly keeps the failed.
	Deliveries(before uint64, limit int, failedOnly bool) ([]billing.Delivery, error)
	// EndpointStates says how each app endpoint is doing.
	EndpointStates() ([]billing.EndpointState, error)
	// ResendDelivery queues one message again now (same webhook-id).
	ResendDelivery(seq uint64) error
	// ResendFailed queues every failed message again; how many.
	ResendFailed() (int, error)
	// EnableEndpoint re-enables an endpoint disabled after failing.
	EnableEndpoint(id string) error
}

// Attached is a Backend that reaches a running creditdesk over its admin
// socket (internal/remote). The header shows Attachment's text: "attached to
// serve (pid N)", or, while that process is stopped, that the console waits
// for it with its last screen kept.
type Attached interface {
	Attachment() (text string, connected bool)
}
