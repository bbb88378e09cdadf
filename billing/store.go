package billing

import (
	"io"
	"time"
)

// Store is what billing needs of a database: transactions over the records
// of records.go, the event inbox, and the pages the console lists. The
// storage package implements it on bbolt; internal/cli wires the two. The
// seam is kept narrow enough that another implementation could be written
// against it.
type Store interface {
	// Update runs fn in one read-write transaction; now is the clock the
	// ledger uses for expiry. An error from fn rolls everything back.
	Update(now time.Time, fn func(Tx) error) error
	// View runs fn in a read-only transaction.
	View(now time.Time, fn func(Tx) error) error
	// Shared is Update for concurrent callers that may share one commit;
	// fn may run twice and must report its results afresh on each run.
	Shared(now time.Time, fn func(Tx) error) error

	// Ingest stores a verified event durably; an event id already stored
	// is a duplicate and changes nothing. It keeps none of ev.Payload's
	// bytes once it returns (the receiver reuses its buffers).
	Ingest(ev Event) (rec EventRecord, duplicate bool, err error)
	// IngestsIdle returns a channel closed once no Ingest call waits for
	// its commit (closed already when none does).
	IngestsIdle() <-chan struct{}
	// Pending returns the records of up to limit events still to apply,
	// with sequence above after, for which due (nil: all) is true, in
	// arrival order. It reads no payload. due may be given a record with
	// only Seq, Created, State, ReceivedAt, NextAttempt, WaitsForAPI and Livemode
	// read (a store may read the rest only for the records it returns).
	Pending(after uint64, limit int, due func(EventRecord) bool) ([]EventRecord, error)
	// Payloads returns the bodies stored for the events with these
	// sequences, in the same order (nil for one that has none), in memory
	// of their own.
	Payloads(seqs []uint64) ([][]byte, error)
	// ProbeWrite commits one small write, to find out whether writes work.
	ProbeWrite(now time.Time) error

	// Counts returns store-wide totals without scanning.
	Counts() (Counts, error)
	// EventsPage returns up to limit events newest first below sequence
	// before (0: from the newest) for which match (nil: all) is true.
	EventsPage(before uint64, limit int, match func(EventRecord) bool) ([]EventRecord, error)
	// UsersPage returns up to limit users in id order after the id after,
	// whose id, email, name, customer or tier contains filter.
	UsersPage(after, filter string, limit int) ([]User, error)
	// PurchasesPage returns up to limit purchases newest first below
	// sequence before (0: from the newest).
	PurchasesPage(before uint64, limit int) ([]Purchase, error)

	// OutboxPage returns up to limit outbox messages newest first below
	// sequence before (0: from the newest); failedOnly keeps the failed.
	OutboxPage(before uint64, limit int, failedOnly bool) ([]OutboxMessage, error)

	// Verify checks every invariant of the stored records.
	Verify() (VerifyReport, error)
	// WriteTo writes a consistent copy of the database to w.
	WriteTo(w io.Writer) (int64, error)
}

// Tx is one transaction of a Store: the records billing reads and writes.
// Everything one business operation does goes in one Tx.
type Tx interface {
	State
	// Now is the transaction's clock.
	Now() time.Time

	// PutUser stores u: a new user is counted and given CreatedAt; every
	// write sets UpdatedAt and keeps the expiry index in step with
	// NextExpiry.
	PutUser(u User) error
	LinkCustomer(customerID, userID string) error

	// WriteLedger persists what the ledger maths computed (ApplyPosting,
	// ApplyExpiry): it numbers and appends ch.Entries in order, indexing
	// their keys; stores each grant of ch.Grants, or removes it when
	// nothing is left (a New grant takes the id of the last entry); and,
	// when it appended entries, stores ch.User. It returns the entries as
	// numbered.
	WriteLedger(ch LedgerChange) ([]Entry, error)
	// Entries returns up to limit of the user's entries, newest first, with
	// ids below before (0: from the newest).
	Entries(userID string, before uint64, limit int) ([]Entry, error)
	// UsersWithExpiry returns the users whose NextExpiry is at or before
	// the transaction's clock.
	UsersWithExpiry() ([]string, error)

	Event(id string) (Event, bool, error)
	// SetEvent stores the processing result of an event already stored.
	SetEvent(rec EventRecord) error

	PutPurchase(p Purchase) error
	ScanPurchases(fn func(Purchase) bool) error
	// UserPurchases returns up to limit of the user's purchases, newest first.
	UserPurchases(userID string, limit int) ([]Purchase, error)

	// PutSubscription stores a subscription's state.
	PutSubscription(s Subscription) error

	// Flag, PutFlag, DeleteFlag and Flags keep the attention flags; the
	// store counts them (Counts.Flags) as it writes them.
	Flag(kind FlagKind, id string) (Flag, bool, error)
	PutFlag(f Flag) error
	DeleteFlag(kind FlagKind, id string) error
	Flags() ([]Flag, error)

	// PutAssignment keeps the purchase type an operator assigned.
	PutAssignment(purchaseID, purchaseType string) error
	// PutPaymentIntent and PutCharge index a purchase by what paid it.
	PutPaymentIntent(pi, purchaseID string) error
	PutCharge(charge, purchaseID string) error
	// PutLineItems caches a checkout session's line items.
	PutLineItems(sessionID string, items LineItems) error

	// The Stripe catalog cache.
	Product(id string) (CachedProduct, bool, error)
	PutProduct(p CachedProduct) error
	DeleteProduct(id string) error
	Products() ([]CachedProduct, error)
	Price(id string) (CachedPrice, bool, error)
	PutPrice(p CachedPrice) error
	DeletePrice(id string) error
	Prices() ([]CachedPrice, error)
	Coupon(id string) (CachedCoupon, bool, error)
	PutCoupon(c CachedCoupon) error
	Coupons() ([]CachedCoupon, error)
	// CatalogSynced is when the catalog was last listed (zero: never).
	CatalogSynced() (time.Time, error)
	SetCatalogSynced(at time.Time) error

	// AddOutbox numbers m (Seq, ID) and stores it: its body, written once,
	// and its DeliveryStatus. PutDelivery replaces only the status of
	// message seq. The store keeps the pending, failed and delivered
	// indexes and their counters (Counts.OutboxPending, OutboxFailed) in
	// step with State.
	AddOutbox(m OutboxMessage) (OutboxMessage, error)
	PutDelivery(seq uint64, st DeliveryStatus) error
	// OutboxMessage returns message seq with its status; DeliveryStatus its
	// status alone (without reading the body).
	OutboxMessage(seq uint64) (OutboxMessage, bool, error)
	DeliveryStatus(seq uint64) (DeliveryStatus, bool, error)
	// PendingOutbox calls fn with a reference to every pending message in
	// sequence order until fn returns false (without decoding the
	// messages: the sender walks it often); FailedOutbox calls fn with
	// every failed message the same way.
	PendingOutbox(fn func(PendingRef) bool) error
	FailedOutbox(fn func(OutboxMessage) bool) error
	// PruneDelivered removes up to limit messages (body and status)
	// delivered at cutoff or before, oldest delivery first, and returns how many,
	// and when the oldest delivered message left was delivered (zero:
	// none is left).
	PruneDelivered(cutoff time.Time, limit int) (int, time.Time, error)
	// AppEndpoint and PutAppEndpoint keep each endpoint's delivery state.
	AppEndpoint(id string) (EndpointState, bool, error)
	PutAppEndpoint(e EndpointState) error

	APIKey(name string) (APIKey, bool, error)
	APIKeyNameByHash(hash []byte) (string, bool)
	CreateAPIKey(k APIKey) error
	RevokeAPIKey(name string) (APIKey, error)
	APIKeys() ([]APIKey, error)
	APIRequest(key string) (APIRequest, bool, error)
	PutAPIRequest(key string, r APIRequest) error
}
