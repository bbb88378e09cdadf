package billing_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"sort"
	"strings"
	"sync"
	"time"

	. "creditdesk/billing"
)

// memStore is a billing.Store in memory, for the property tests that play
// thousands of event orders: the same records and the same ledger maths as
// storage, without a disk. A transaction works on the live state and puts
// back a copy taken at its start when it fails.
type memStore struct {
	mu sync.Mutex
	st memState
}

type memState struct {
	events    []Event // by sequence - 1
	eventIDs  map[string]uint64
	users     map[string]User
	customers map[string]string
	entries   map[string][]Entry // per user, oldest first
	keys      map[string]Entry
	grants    map[string]map[uint64]Grant
	purchases map[string]Purchase
	order     []string // purchase ids, oldest first
	kv        map[string][]byte
	apiKeys   map[string]APIKey
	apiReqs   map[string]APIRequest
	entrySeq  uint64
	outbox    []OutboxMessage // by sequence - 1
}

func newMemStore() *memStore {
	return &memStore{st: memState{eventIDs: map[string]uint64{}, users: map[string]User{}, customers: map[string]string{},
		entries: map[string][]Entry{}, keys: map[string]Entry{}, grants: map[string]map[uint64]Grant{},
		purchases: map[string]Purchase{}, kv: map[string][]byte{}, apiKeys: map[string]APIKey{}, apiReqs: map[string]APIRequest{}}}
}

func (s memState) clone() memState {
	c := s
	c.events = append([]Event(nil), s.events...)
	c.outbox = append([]OutboxMessage(nil), s.outbox...)
	c.eventIDs, c.users, c.customers = maps.Clone(s.eventIDs), maps.Clone(s.users), maps.Clone(s.customers)
	c.entries, c.keys, c.purchases = maps.Clone(s.entries), maps.Clone(s.keys), maps.Clone(s.purchases)
	c.order = append([]string(nil), s.order...)
	c.kv, c.apiKeys, c.apiReqs = maps.Clone(s.kv), maps.Clone(s.apiKeys), maps.Clone(s.apiReqs)
	c.grants = make(map[string]map[uint64]Grant, len(s.grants))
	for u, gs := range s.grants {
		c.grants[u] = maps.Clone(gs)
	}
	return c
}

func (m *memStore) Update(now time.Time, fn func(Tx) error) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	saved := m.st.clone()
	if err := fn(&memTx{st: &m.st, now: now}); err != nil {
		m.st = saved
		return err
	}
	return nil
}

func (m *memStore) View(now time.Time, fn func(Tx) error) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	return fn(&memTx{st: &m.st, now: now, readOnly: true})
}

func (m *memStore) Shared(now time.Time, fn func(Tx) error) error { return m.Update(now, fn) }

func (m *memStore) Ingest(ev Event) (EventRecord, bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if seq, ok := m.st.eventIDs[ev.ID]; ok {
		return m.st.events[seq-1].EventRecord, true, nil
	}
	ev.Seq = uint64(len(m.st.events) + 1)
	if ev.State == "" {
		ev.State = StateReceived
	}
	m.st.events = append(m.st.events, ev)
	m.st.eventIDs[ev.ID] = ev.Seq
	return ev.EventRecord, false, nil
}

var closed = func() chan struct{} { c := make(chan struct{}); close(c); return c }()

func (m *memStore) IngestsIdle() <-chan struct{} { return closed }

func (m *memStore) Pending(after uint64, limit int, due func(EventRecord) bool) ([]EventRecord, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []EventRecord
	for _, ev := range m.st.events[min(after, uint64(len(m.st.events))):] {
		if len(out) == limit {
			break
		}
		if ev.State.Pending() && (due == nil || due(ev.EventRecord)) {
			out = append(out, ev.EventRecord)
		}
	}
	return out, nil
}

func (m *memStore) Payloads(seqs []uint64) ([][]byte, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([][]byte, len(seqs))
	for i, seq := range seqs {
		if seq >= 1 && seq <= uint64(len(m.st.events)) {
			out[i] = bytes.Clone(m.st.events[seq-1].Payload)
		}
	}
	return out, nil
}

func (m *memStore) ProbeWrite(time.Time) error { return nil }

func (m *memStore) Counts() (Counts, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	c := Counts{Events: uint64(len(m.st.events)), Users: uint64(len(m.st.users)), Purchases: uint64(len(m.st.purchases))}
	for k := range m.st.kv {
		if strings.HasPrefix(k, "flag:") {
			c.Flags++
		}
	}
	for _, o := range m.st.outbox {
		switch o.State {
		case DeliveryPending:
			c.OutboxPending++
		case DeliveryFailed:
			c.OutboxFailed++
		}
	}
	for _, ev := range m.st.events {
		switch {
		case ev.State == StateFailed:
			c.Failed++
		case ev.State == StateWaiting:
			c.Waiting++
		}
		if ev.State.Pending() {
			c.Pending++
		}
	}
	return c, nil
}

func (m *memStore) EventsPage(before uint64, limit int, match func(EventRecord) bool) ([]EventRecord, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []EventRecord
	for i := len(m.st.events) - 1; i >= 0 && len(out) < limit; i-- {
		rec := m.st.events[i].EventRecord
		if (before == 0 || rec.Seq < before) && (match == nil || match(rec)) {
			out = append(out, rec)
		}
	}
	return out, nil
}

func (m *memStore) UsersPage(after, filter string, limit int) ([]User, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	ids := sortedKeys(m.st.users)
	var out []User
	for _, id := range ids {
		u := m.st.users[id]
		if id > after && len(out) < limit && strings.Contains(strings.ToLower(id+u.Email+u.Name+u.CustomerID+u.Tier), strings.ToLower(filter)) {
			out = append(out, u)
		}
	}
	return out, nil
}

func (m *memStore) PurchasesPage(before uint64, limit int) ([]Purchase, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []Purchase
	for i := len(m.st.order) - 1; i >= 0 && len(out) < limit; i-- {
		if p := m.st.purchases[m.st.order[i]]; before == 0 || p.Seq < before {
			out = append(out, p)
		}
	}
	return out, nil
}

func (m *memStore) WriteTo(io.Writer) (int64, error) { return 0, errors.New("memStore has no file") }

func (m *memStore) EventByID(id string) (Event, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	seq, ok := m.st.eventIDs[id]
	if !ok {
		return Event{}, ErrNotFound
	}
	return m.st.events[seq-1], nil
}

// Verify checks what storage's Verify checks of the records.
func (m *memStore) Verify() (VerifyReport, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var r VerifyReport
	for _, id := range sortedKeys(m.st.users) {
		u := m.st.users[id]
		r.Users++
		var sum int64
		for _, e := range m.st.entries[id] {
			sum += e.Delta
			r.Entries++
			if e.BalanceAfter != sum {
				return r, fmt.Errorf("user %s: entry %d says balance %d after it, the entries before it sum to %d", id, e.ID, e.BalanceAfter, sum)
			}
			if m.st.keys[e.Key].ID != e.ID {
				return r, fmt.Errorf("entry %d: idempotency key %q points elsewhere", e.ID, e.Key)
			}
		}
		if sum != u.Balance || uint64(len(m.st.entries[id])) != u.Entries {
			return r, fmt.Errorf("user %s: balance %d over %d entries, entries sum to %d over %d", id, u.Balance, u.Entries, sum, len(m.st.entries[id]))
		}
		var held int64
		for _, g := range m.st.grants[id] {
			if g.Remaining <= 0 || g.Remaining > g.Amount {
				return r, fmt.Errorf("user %s: grant %d holds %d of %d", id, g.EntryID, g.Remaining, g.Amount)
			}
			held += g.Remaining
		}
		if (u.Balance >= 0 && held != u.Balance) || (u.Balance < 0 && held != 0) {
			return r, fmt.Errorf("user %s: balance %d, grants hold %d", id, u.Balance, held)
		}
	}
	for _, ev := range m.st.events {
		r.Events++
		if ev.State != StateApplied {
			continue
		}
		r.Applied++
		for _, k := range ev.Keys {
			if _, ok := m.st.keys[k]; !ok {
				return r, fmt.Errorf("event %s is applied but its ledger entry %q is missing", ev.ID, k)
			}
		}
	}
	return r, nil
}

func sortedKeys[V any](m map[string]V) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

// memTx is a transaction of a memStore.
type memTx struct {
	st       *memState
	now      time.Time
	readOnly bool
}

var errReadOnly = errors.New("memStore: write in a read-only transaction")

func (t *memTx) write() error {
	if t.readOnly {
		return errReadOnly
	}
	return nil
}

func (t *memTx) Now() time.Time { return t.now }

func (t *memTx) CustomerUser(customerID string) string { return t.st.customers[customerID] }

func (t *memTx) User(id string) (User, bool, error) {
	u, ok := t.st.users[id]
	return u, ok, nil
}

func (t *memTx) Purchase(id string) (Purchase, bool, error) {
	p, ok := t.st.purchases[id]
	return p, ok, nil
}

func (t *memTx) PutUser(u User) error {
	if err := t.write(); err != nil {
		return err
	}
	if _, ok := t.st.users[u.ID]; !ok && u.CreatedAt.IsZero() {
		u.CreatedAt = t.now
	}
	u.UpdatedAt = t.now
	t.st.users[u.ID] = u
	return nil
}

func (t *memTx) LinkCustomer(customerID, userID string) error {
	if err := t.write(); err != nil {
		return err
	}
	if customerID == "" || userID == "" {
		return nil
	}
	t.st.customers[customerID] = userID
	return nil
}

func (t *memTx) EntryByKey(key string) (Entry, bool, error) {
	e, ok := t.st.keys[key]
	return e, ok, nil
}

func (t *memTx) WriteLedger(ch LedgerChange) ([]Entry, error) {
	if err := t.write(); err != nil {
		return nil, err
	}
	out := make([]Entry, len(ch.Entries))
	for i, e := range ch.Entries {
		t.st.entrySeq++
		e.ID = t.st.entrySeq
		t.st.entries[e.UserID] = append(t.st.entries[e.UserID], e)
		t.st.keys[e.Key] = e
		out[i] = e
	}
	for _, c := range ch.Grants {
		g := c.Grant
		if c.New {
			g.EntryID = out[len(out)-1].ID
		}
		gs := t.st.grants[g.UserID]
		if gs == nil {
			gs = map[uint64]Grant{}
			t.st.grants[g.UserID] = gs
		}
		if c.Removed() {
			delete(gs, g.EntryID)
		} else {
			gs[g.EntryID] = g
		}
	}
	if len(out) == 0 {
		return nil, nil
	}
	return out, t.PutUser(ch.User)
}

func (t *memTx) Grants(userID string) ([]Grant, error) {
	var gs []Grant
	for _, g := range t.st.grants[userID] {
		gs = append(gs, g)
	}
	SortGrants(gs)
	return gs, nil
}

func (t *memTx) Entries(userID string, before uint64, limit int) ([]Entry, error) {
	var out []Entry
	es := t.st.entries[userID]
	for i := len(es) - 1; i >= 0 && len(out) < limit; i-- {
		if before == 0 || es[i].ID < before {
			out = append(out, es[i])
		}
	}
	return out, nil
}

func (t *memTx) UsersWithExpiry() ([]string, error) {
	var ids []string
	for _, id := range sortedKeys(t.st.users) {
		if ExpiryDue(t.st.users[id], t.now) {
			ids = append(ids, id)
		}
	}
	return ids, nil
}

func (t *memTx) Event(id string) (Event, bool, error) {
	seq, ok := t.st.eventIDs[id]
	if !ok {
		return Event{}, false, nil
	}
	return t.st.events[seq-1], true, nil
}

func (t *memTx) SetEvent(rec EventRecord) error {
	if err := t.write(); err != nil {
		return err
	}
	if rec.Seq == 0 || rec.Seq > uint64(len(t.st.events)) {
		return ErrNotFound
	}
	t.st.events[rec.Seq-1].EventRecord = rec
	return nil
}

func (t *memTx) PutPurchase(p Purchase) error {
	if err := t.write(); err != nil {
		return err
	}
	if prev, ok := t.st.purchases[p.ID]; ok {
		p.Seq, p.CreatedAt = prev.Seq, prev.CreatedAt
	} else {
		t.st.order = append(t.st.order, p.ID)
		p.Seq = uint64(len(t.st.order))
		if p.CreatedAt.IsZero() {
			p.CreatedAt = t.now
		}
	}
	p.UpdatedAt = t.now
	t.st.purchases[p.ID] = p
	return nil
}

func (t *memTx) ScanPurchases(fn func(Purchase) bool) error {
	for _, id := range sortedKeys(t.st.purchases) {
		if !fn(t.st.purchases[id]) {
			break
		}
	}
	return nil
}

func (t *memTx) UserPurchases(userID string, limit int) ([]Purchase, error) {
	var out []Purchase
	for i := len(t.st.order) - 1; i >= 0 && len(out) < limit; i-- {
		if p := t.st.purchases[t.st.order[i]]; p.UserID == userID {
			out = append(out, p)
		}
	}
	return out, nil
}

// The records the store keeps by id, each kind under a prefix of the
// memory map (what storage keeps in a bucket per kind).

func (t *memTx) get(key string, v any) (bool, error) {
	raw, ok := t.st.kv[key]
	if !ok {
		return false, nil
	}
	return true, json.Unmarshal(raw, v)
}

func (t *memTx) put(key string, v any) error {
	if err := t.write(); err != nil {
		return err
	}
	raw, err := json.Marshal(v)
	t.st.kv[key] = raw
	return err
}

func (t *memTx) del(key string) error {
	if err := t.write(); err != nil {
		return err
	}
	delete(t.st.kv, key)
	return nil
}

func scan[T any](t *memTx, prefix string) ([]T, error) {
	var out []T
	for _, k := range sortedKeys(t.st.kv) {
		if strings.HasPrefix(k, prefix) {
			var v T
			if err := json.Unmarshal(t.st.kv[k], &v); err != nil {
				return nil, err
			}
			out = append(out, v)
		}
	}
	return out, nil
}

func (t *memTx) Subscription(id string) (s Subscription, ok bool, err error) {
	ok, err = t.get("sub:"+id, &s)
	return s, ok, err
}

func (t *memTx) PutSubscription(s Subscription) error { return t.put("sub:"+s.ID, s) }

func (t *memTx) UserSubscriptions(userID string) ([]Subscription, error) {
	all, err := scan[Subscription](t, "sub:")
	var out []Subscription
	for _, s := range all {
		if s.UserID == userID {
			out = append(out, s)
		}
	}
	return out, err
}

func (t *memTx) Flag(kind FlagKind, id string) (f Flag, ok bool, err error) {
	ok, err = t.get("flag:"+string(kind)+"\x00"+id, &f)
	return f, ok, err
}

func (t *memTx) PutFlag(f Flag) error { return t.put("flag:"+string(f.Kind)+"\x00"+f.ID, f) }

func (t *memTx) DeleteFlag(kind FlagKind, id string) error {
	return t.del("flag:" + string(kind) + "\x00" + id)
}

func (t *memTx) Flags() ([]Flag, error) { return scan[Flag](t, "flag:") }

func (t *memTx) Assignment(purchaseID string) (a string, ok bool, err error) {
	ok, err = t.get("assign:"+purchaseID, &a)
	return a, ok, err
}

func (t *memTx) PutAssignment(purchaseID, purchaseType string) error {
	return t.put("assign:"+purchaseID, purchaseType)
}

func (t *memTx) PaymentIntentPurchase(pi string) (id string, err error) {
	_, err = t.get("pi:"+pi, &id)
	return id, err
}

func (t *memTx) ChargePurchase(charge string) (id string, err error) {
	_, err = t.get("charge:"+charge, &id)
	return id, err
}

func (t *memTx) PutPaymentIntent(pi, purchaseID string) error { return t.put("pi:"+pi, purchaseID) }

func (t *memTx) PutCharge(charge, purchaseID string) error {
	return t.put("charge:"+charge, purchaseID)
}

func (t *memTx) LineItems(sessionID string) (li LineItems, ok bool, err error) {
	ok, err = t.get("lineitems:"+sessionID, &li)
	return li, ok, err
}

func (t *memTx) PutLineItems(sessionID string, items LineItems) error {
	return t.put("lineitems:"+sessionID, items)
}

func (t *memTx) Product(id string) (p CachedProduct, ok bool, err error) {
	ok, err = t.get("product:"+id, &p)
	return p, ok, err
}

func (t *memTx) PutProduct(p CachedProduct) error    { return t.put("product:"+p.ID, p) }
func (t *memTx) DeleteProduct(id string) error       { return t.del("product:" + id) }
func (t *memTx) Products() ([]CachedProduct, error)  { return scan[CachedProduct](t, "product:") }
func (t *memTx) PutPrice(p CachedPrice) error        { return t.put("price:"+p.ID, p) }
func (t *memTx) DeletePrice(id string) error         { return t.del("price:" + id) }
func (t *memTx) Prices() ([]CachedPrice, error)      { return scan[CachedPrice](t, "price:") }
func (t *memTx) PutCoupon(c CachedCoupon) error      { return t.put("coupon:"+c.ID, c) }
func (t *memTx) Coupons() ([]CachedCoupon, error)    { return scan[CachedCoupon](t, "coupon:") }
func (t *memTx) SetCatalogSynced(at time.Time) error { return t.put("catalog_synced_at", at) }

func (t *memTx) Price(id string) (p CachedPrice, ok bool, err error) {
	ok, err = t.get("price:"+id, &p)
	return p, ok, err
}

func (t *memTx) Coupon(id string) (c CachedCoupon, ok bool, err error) {
	ok, err = t.get("coupon:"+id, &c)
	return c, ok, err
}

func (t *memTx) CatalogSynced() (at time.Time, err error) {
	_, err = t.get("catalog_synced_at", &at)
	return at, err
}

func (t *memTx) APIKey(name string) (APIKey, bool, error) {
	k, ok := t.st.apiKeys[name]
	return k, ok, nil
}

func (t *memTx) APIKeyNameByHash(hash []byte) (string, bool) {
	for _, k := range t.st.apiKeys {
		if !k.Revoked() && string(k.Hash) == string(hash) {
			return k.Name, true
		}
	}
	return "", false
}

func (t *memTx) CreateAPIKey(k APIKey) error {
	if err := t.write(); err != nil {
		return err
	}
	if _, ok := t.st.apiKeys[k.Name]; ok {
		return ErrKeyExists
	}
	t.st.apiKeys[k.Name] = k
	return nil
}

func (t *memTx) RevokeAPIKey(name string) (APIKey, error) {
	if err := t.write(); err != nil {
		return APIKey{}, err
	}
	k, ok := t.st.apiKeys[name]
	if !ok {
		return APIKey{}, ErrNotFound
	}
	if !k.Revoked() {
		k.RevokedAt = t.now
		t.st.apiKeys[name] = k
	}
	return k, nil
}

func (t *memTx) APIKeys() ([]APIKey, error) {
	var out []APIKey
	for _, name := range sortedKeys(t.st.apiKeys) {
		out = append(out, t.st.apiKeys[name])
	}
	return out, nil
}

func (t *memTx) APIRequest(key string) (APIRequest, bool, error) {
	r, ok := t.st.apiReqs[key]
	return r, ok, nil
}

func (t *memTx) PutAPIRequest(key string, r APIRequest) error {
	if err := t.write(); err != nil {
		return err
	}
	t.st.apiReqs[key] = r
	return nil
}

var _ Store = (*memStore)(nil)
