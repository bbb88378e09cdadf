package tui

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"creditdesk/billing"
)

// fakeBackend is an in-memory Backend. It records what the console asked
// for so tests can check paging cursors and idempotency keys.
type fakeBackend struct {
	mu        sync.Mutex
	feed      chan billing.Activity
	stopped   bool
	stats     billing.Stats
	events    []billing.EventRecord // oldest first
	purchases []billing.Purchase    // oldest first
	users     map[string]*billing.User
	details   map[string]billing.UserDetail
	applied   map[string]billing.Entry // idempotency key → entry
	nextEntry uint64
	apiKeys   []billing.APIKey
	// insight is what Insight returns, its From and Until set from the call.
	insight      billing.Insight
	insightCalls []insightCall
	out          fakeDeliveries

	// failNext, when set, makes the next Adjust apply its change and then
	// report this error, as a call that timed out after the store wrote.
	failNext error

	usersCalls     []usersCall
	purchasesCalls []purchasesCall
	eventsCalls    []uint64
	adjustCalls    []adjustCall
}

type insightCall struct{ since, until time.Time }

type usersCall struct {
	after, filter string
	limit         int
}

type purchasesCall struct {
	before uint64
	limit  int
}

type adjustCall struct {
	user   string
	delta  int64
	reason string
	force  bool
	key    string
}

func newFake() *fakeBackend {
	return &fakeBackend{
		feed:      make(chan billing.Activity, 16),
		users:     map[string]*billing.User{},
		details:   map[string]billing.UserDetail{},
		applied:   map[string]billing.Entry{},
		nextEntry: 100,
	}
}

func (f *fakeBackend) Insight(since, until time.Time) (billing.Insight, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.insightCalls = append(f.insightCalls, insightCall{since, until})
	in := f.insight
	in.From, in.Until = billing.DayOf(since), billing.DayOf(until)
	if len(in.Days) == 0 {
		for _, d := range billing.DaysBetween(since, until) {
			in.Days = append(in.Days, billing.DayRollup{Day: d})
		}
	}
	return in, nil
}

func (f *fakeBackend) addUser(u billing.User) {
	f.mu.Lock()
	defer f.mu.Unlock()
	uu := u
	f.users[u.ID] = &uu
}

func (f *fakeBackend) Subscribe() (<-chan billing.Activity, func()) {
	return f.feed, func() {
		f.mu.Lock()
		defer f.mu.Unlock()
		f.stopped = true
	}
}

func (f *fakeBackend) Stats() billing.Stats {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.stats
}

func (f *fakeBackend) EventsPage(before uint64, limit int) ([]billing.EventRecord, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.eventsCalls = append(f.eventsCalls, before)
	var out []billing.EventRecord
	for i := len(f.events) - 1; i >= 0 && len(out) < limit; i-- {
		if before == 0 || f.events[i].Seq < before {
			out = append(out, f.events[i])
		}
	}
	return out, nil
}

func (f *fakeBackend) PurchasesPage(before uint64, limit int) ([]billing.Purchase, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.purchasesCalls = append(f.purchasesCalls, purchasesCall{before, limit})
	var out []billing.Purchase
	for i := len(f.purchases) - 1; i >= 0 && len(out) < limit; i-- {
		if before == 0 || f.purchases[i].Seq < before {
			out = append(out, f.purchases[i])
		}
	}
	return out, nil
}

func (f *fakeBackend) UsersPage(after, filter string, limit int) ([]billing.User, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.usersCalls = append(f.usersCalls, usersCall{after, filter, limit})
	ids := make([]string, 0, len(f.users))
	for id := range f.users {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	var out []billing.User
	for _, id := range ids {
		u := f.users[id]
		if id <= after && after != "" {
			continue
		}
		if filter != "" && !strings.Contains(id+" "+u.Email+" "+u.CustomerID, filter) {
			continue
		}
		out = append(out, *u)
		if len(out) == limit {
			break
		}
	}
	return out, nil
}

func (f *fakeBackend) UserDetail(id string) (billing.UserDetail, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	u, ok := f.users[id]
	if !ok {
		return billing.UserDetail{}, fmt.Errorf("user %s: not found", id)
	}
	d := f.details[id]
	d.User = *u
	d.Spendable = u.Balance
	return d, nil
}

func (f *fakeBackend) Adjust(ctx context.Context, a billing.Adjustment) (billing.Entry, error) {
	user, delta, reason, force, key := a.User, a.Delta, a.Reason, a.Force, a.Key
	f.mu.Lock()
	defer f.mu.Unlock()
	f.adjustCalls = append(f.adjustCalls, adjustCall{user, delta, reason, force, key})
	if _, ok := ctx.Deadline(); !ok {
		return billing.Entry{}, fmt.Errorf("adjust called without a deadline")
	}
	if reason == "" {
		return billing.Entry{}, fmt.Errorf("a reason is required")
	}
	if e, ok := f.applied[key]; ok {
		return e, nil // a retried submission changes nothing
	}
	u, ok := f.users[user]
	if !ok {
		return billing.Entry{}, &billing.ErrUnknownUser{UserID: user}
	}
	if delta < 0 && !force && u.Balance+delta < 0 {
		return billing.Entry{}, fmt.Errorf("revoke: %w", &billing.ErrInsufficient{UserID: user, Balance: u.Balance, Requested: -delta})
	}
	u.Balance += delta
	u.Entries++
	f.nextEntry++
	e := billing.Entry{ID: f.nextEntry, UserID: user, Delta: delta, BalanceAfter: u.Balance, Reason: reason,
		Source: "manual: console", Key: key, At: fixedNow, Kind: "manual"}
	f.applied[key] = e
	d := f.details[user]
	d.Entries = append([]billing.Entry{e}, d.Entries...)
	f.details[user] = d
	if err := f.failNext; err != nil {
		f.failNext = nil
		return billing.Entry{}, err
	}
	return e, nil
}

func (f *fakeBackend) calls() (users []usersCall, purchases []purchasesCall, adjust []adjustCall) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]usersCall(nil), f.usersCalls...),
		append([]purchasesCall(nil), f.purchasesCalls...),
		append([]adjustCall(nil), f.adjustCalls...)
}

func (f *fakeBackend) balance(id string) int64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.users[id].Balance
}

// The fake has no attention items; attention tests wrap it (attnBackend).
func (f *fakeBackend) Attention() ([]billing.AttentionItem, error)        { return nil, nil }
func (f *fakeBackend) Retry(ctx context.Context, eventID string) error    { return nil }
func (f *fakeBackend) AssignType(ctx context.Context, id, t string) error { return nil }
func (f *fakeBackend) LinkUser(ctx context.Context, from, to string) error {
	return nil
}
func (f *fakeBackend) PurchaseTypes() []string { return []string{"pro", "topup"} }

// API keys: kept in memory; the key handed out is its name made long.
func (f *fakeBackend) CreateAPIKey(_ context.Context, name string) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, k := range f.apiKeys {
		if k.Name == name {
			return "", billing.ErrKeyExists
		}
	}
	plain := "cdk_" + strings.Repeat(name, 64/len(name)+1)[:64]
	f.apiKeys = append(f.apiKeys, billing.APIKey{Name: name, Hint: "cdk_…" + plain[len(plain)-4:], CreatedAt: fixedNow})
	return plain, nil
}

func (f *fakeBackend) ListAPIKeys() ([]billing.APIKey, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]billing.APIKey(nil), f.apiKeys...), nil
}

func (f *fakeBackend) RevokeAPIKey(_ context.Context, name string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	for i := range f.apiKeys {
		if f.apiKeys[i].Name == name {
			f.apiKeys[i].RevokedAt = fixedNow
			return nil
		}
	}
	return fmt.Errorf("no API key named %q", name)
}

// The outbox of the fake: deliveries newest last, endpoint states, and
// what the console asked to resend or re-enable.
type fakeDeliveries struct {
	deliveries []billing.Delivery
	endpoints  []billing.EndpointState
	resent     []uint64
	enabled    []string
}

func (f *fakeBackend) Deliveries(before uint64, limit int, failedOnly bool) ([]billing.Delivery, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []billing.Delivery
	for i := len(f.out.deliveries) - 1; i >= 0 && len(out) < limit; i-- {
		d := f.out.deliveries[i]
		if before != 0 && d.Seq >= before || failedOnly && d.State != billing.DeliveryFailed {
			continue
		}
		out = append(out, d)
	}
	return out, nil
}

func (f *fakeBackend) EndpointStates() ([]billing.EndpointState, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]billing.EndpointState(nil), f.out.endpoints...), nil
}

func (f *fakeBackend) ResendDelivery(seq uint64) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	for i, d := range f.out.deliveries {
		if d.Seq == seq {
			f.out.deliveries[i].State = billing.DeliveryPending
			f.out.resent = append(f.out.resent, seq)
			return nil
		}
	}
	return fmt.Errorf("no delivery %d", seq)
}

func (f *fakeBackend) ResendFailed() (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for i, d := range f.out.deliveries {
		if d.State == billing.DeliveryFailed {
			f.out.deliveries[i].State = billing.DeliveryPending
			f.out.resent = append(f.out.resent, d.Seq)
			n++
		}
	}
	return n, nil
}

func (f *fakeBackend) EnableEndpoint(id string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	for i, ep := range f.out.endpoints {
		if ep.ID == id {
			f.out.endpoints[i].Disabled = false
			f.out.enabled = append(f.out.enabled, id)
			return nil
		}
	}
	return fmt.Errorf("no endpoint %s", id)
}
