package billing_test

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	. "creditdesk/billing"
	"creditdesk/internal/testkit"
	"creditdesk/storage"
)

var t0 = time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)

type M = map[string]any

// payload builds a Stripe event body of the given API version.
func payload(id, typ string, created time.Time, version string, object M) []byte {
	b, _ := json.Marshal(M{"id": id, "object": "event", "type": typ, "created": created.Unix(),
		"api_version": version, "livemode": false, "data": M{"object": object}})
	return b
}

// testStore is a Store the tests also read events from: storage's bbolt
// store or memStore.
type testStore interface {
	Store
	EventByID(id string) (Event, error)
}

type harness struct {
	t   *testing.T
	svc *Service
	st  testStore
	db  *storage.Store // st when it is storage's; nil for memStore
	now time.Time
}

// newHarness runs a Service over a bbolt store in a temporary directory.
func newHarness(t *testing.T, cat Catalog) *harness {
	t.Helper()
	st := testkit.TempStore(t)
	h := newHarnessOn(st, t, cat)
	h.db = st
	return h
}

// newMemHarness runs a Service over a memStore: the same rules and ledger
// maths, no disk, fast enough for thousands of runs.
func newMemHarness(t *testing.T, cat Catalog) *harness { return newHarnessOn(newMemStore(), t, cat) }

func newHarnessOn(st testStore, t *testing.T, cat Catalog) *harness {
	h := &harness{t: t, st: st, now: t0}
	h.svc = NewService(st, Options{Rules: Rules{Catalog: cat}, Clock: func() time.Time { return h.now }})
	return h
}

// send ingests a body and applies everything that is due.
func (h *harness) send(body []byte) {
	h.t.Helper()
	if _, _, err := h.svc.Ingest(body, "test"); err != nil {
		h.t.Fatal(err)
	}
	if _, err := h.svc.ProcessPending(context.Background()); err != nil {
		h.t.Fatal(err)
	}
}

func (h *harness) event(id string) EventRecord {
	h.t.Helper()
	ev, err := h.st.EventByID(id)
	if err != nil {
		h.t.Fatal(err)
	}
	return ev.EventRecord
}

func (h *harness) user(id string) UserDetail {
	h.t.Helper()
	d, err := h.svc.UserDetail(id)
	if err != nil {
		h.t.Fatalf("user %s: %v", id, err)
	}
	return d
}

// playStory delivers the events of lc in order with the clock at the end
// of the story (events wait as long as the story lasts instead of being set
// aside), expires and processes what is due, verifies the store and
// returns user's detail.
func (h *harness) playStory(lc lifecycle, order []int, user string) UserDetail {
	h.t.Helper()
	h.svc.SetWaitLimit(365 * day)
	h.now = lc.now
	for _, i := range order {
		h.send(lc.events[i])
	}
	h.svc.ExpireDue()
	if _, err := h.svc.ProcessPending(context.Background()); err != nil {
		h.t.Fatal(err)
	}
	h.verify()
	return h.user(user)
}

// outcomeOf is a user's spendable balance, tier and what each kind of
// ledger entry adds up to ("expire-2500 plan+12500"), with or without the
// kinds that add up to zero.
func outcomeOf(d UserDetail, withZero bool) outcome {
	sums := map[EntryKind]int64{}
	for _, e := range d.Entries {
		sums[e.Kind] += e.Delta
	}
	var lines []string
	for k, v := range sums {
		if v != 0 || withZero {
			lines = append(lines, fmt.Sprintf("%s%+d", k, v))
		}
	}
	sort.Strings(lines)
	return outcome{balance: d.Spendable, tier: d.User.Tier, ledger: strings.Join(lines, " ")}
}

func (h *harness) verify() {
	h.t.Helper()
	if _, err := h.st.Verify(); err != nil {
		h.t.Fatalf("verify: %v", err)
	}
}

func testCatalog() Catalog {
	return Catalog{
		FreeCredits: 100,
		Plans:       map[string]*Plan{"pro": {Name: "pro", MonthlyCredits: 2500, Sale: Sale{PriceIDs: []string{"price_pro_monthly"}}}},
		Packs:       map[string]*Pack{"topup": {Name: "topup", Credits: 1000, Sale: Sale{PriceIDs: []string{"price_topup"}}}},
		ProductMap:  map[string]string{},
	}
}

func session(id, user string, md M, extra M) M {
	o := M{"id": id, "object": "checkout.session", "mode": "payment", "payment_status": "paid", "status": "complete",
		"customer": "cus_" + user, "amount_total": 2000, "currency": "usd", "payment_intent": "pi_" + id, "metadata": md,
		"customer_details": M{"email": user + "@example.com", "name": "User " + user}}
	for k, v := range extra {
		o[k] = v
	}
	return o
}
