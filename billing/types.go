package billing

import "time"

// ActivityKind says what an Activity is about.
type ActivityKind string

const (
	// ActivityEvent: a Stripe event was stored or changed state.
	ActivityEvent ActivityKind = "event"
	// ActivityDuplicate: a redelivery of a stored event, acknowledged, no change.
	ActivityDuplicate ActivityKind = "duplicate"
	// ActivityRejected: a webhook request that was refused (bad signature...).
	ActivityRejected ActivityKind = "rejected"
	// ActivityManual: an operator grant or revoke.
	ActivityManual ActivityKind = "manual"
	// ActivityAPI: a spend or grant through the app's API.
	ActivityAPI ActivityKind = "api"
	// ActivityExpiry: credits expired.
	ActivityExpiry ActivityKind = "expiry"
	// ActivitySystem: background work worth seeing (catalog sync, resync).
	ActivitySystem ActivityKind = "system"
)

// Activity is one line of the live feed.
type Activity struct {
	At      time.Time
	Kind    ActivityKind
	Seq     uint64
	EventID string
	Type    string
	User    string
	Amount  int64
	State   EventState
	Reason  string
	// Operator is who made a manual change (see OperatorOf); empty for
	// Stripe events.
	Operator string `json:",omitempty"`
	// Missed is how many activities this subscriber lost because it was
	// slow; the console shows "N more" instead of stalling the receiver.
	Missed int
}

// Stats are the receiver's and processor's counters since start, plus
// store totals.
type Stats struct {
	Received   uint64
	Duplicates uint64
	Rejected   map[string]uint64
	Applied    uint64
	Ignored    uint64
	Failed     uint64
	Waiting    uint64
	// Attention is how many items the Attention tab lists: waiting events
	// and open flags (failed, unresolved, unlinked, past due, disputed).
	Attention uint64
	// Store totals.
	Events    uint64
	Users     uint64
	Pending   uint64
	Purchases uint64
	Started   time.Time
	// LastBackup is when the last backup that verified was taken; zero
	// when none was (scheduled backups are off, or none succeeded yet).
	LastBackup time.Time
	// BackupFailing says the last scheduled backup failed (Attention says
	// why).
	BackupFailing bool `json:",omitempty"`
	// StoreFault is why writes to the database fail (disk full, I/O
	// error), "" while they work: events wait, nothing is lost.
	StoreFault string `json:",omitempty"`
}

// UserDetail is everything the console shows for one user.
type UserDetail struct {
	User      User
	Spendable int64
	Grants    []Grant
	Entries   []Entry
	Purchases []Purchase
	Plan      *Subscription
}

// Subscription is a user's plan state as the billing rules keep it.
type Subscription struct {
	ID                string    `json:"id"`
	CustomerID        string    `json:"customer_id"`
	UserID            string    `json:"user_id"`
	Plan              string    `json:"plan"`
	PriceID           string    `json:"price_id,omitempty"`
	Status            string    `json:"status"`
	PeriodEnd         time.Time `json:"period_end,omitzero"`
	CancelAtPeriodEnd bool      `json:"cancel_at_period_end,omitempty"`
	UpdatedAt         time.Time `json:"updated_at"`
	// EventCreated is the created time of the Stripe event that last set
	// the fields above; an older event does not overwrite a newer one.
	EventCreated int64     `json:"event_created"`
	Deleted      bool      `json:"deleted,omitempty"`
	DeletedAt    time.Time `json:"deleted_at,omitzero"`
}
