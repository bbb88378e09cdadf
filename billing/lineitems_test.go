package billing_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	. "creditdesk/billing"
	"creditdesk/internal/testkit"
)

// flakyFetcher answers line items after failing as if the network were down.
type flakyFetcher struct {
	mu       sync.Mutex
	failures int
	calls    int
	items    LineItems
}

func (f *flakyFetcher) SessionLineItems(ctx context.Context, id string) (LineItems, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	if f.calls <= f.failures {
		return LineItems{}, &TransientError{Err: errors.New("dial tcp: connection refused")}
	}
	return f.items, nil
}

func TestLineItemsFromTheAPIResolveThePurchaseAndOutagesWait(t *testing.T) {
	f := &flakyFetcher{failures: 1, items: LineItems{Items: []LineItem{{PriceID: "price_x", ProductID: "prod_x", ProductType: "credits-topup", Quantity: 1}}}}
	st := testkit.TempStore(t)
	now := t0
	svc := NewService(st, Options{Rules: Rules{Catalog: testCatalog()}, Fetcher: f, Clock: func() time.Time { return now }})
	// The event carries no type: only the line items say what was bought.
	svc.Ingest(payload("evt_li", "checkout.session.completed", t0, "2023-10-16", session("cs_li", "u5", M{"user_id": "u5"}, nil)), "test")
	svc.ProcessPending(context.Background())
	ev, _ := st.EventByID("evt_li")
	if ev.State != StateWaiting || f.calls != 1 {
		t.Fatalf("with the API down: %s (%s), %d calls", ev.State, ev.Reason, f.calls)
	}
	// Not due yet: nothing is retried before the backoff.
	svc.ProcessDueOnce(context.Background())
	if f.calls != 1 {
		t.Fatalf("retried before the backoff: %d calls", f.calls)
	}
	now = now.Add(time.Minute)
	svc.ProcessPending(context.Background())
	ev, _ = st.EventByID("evt_li")
	if ev.State != StateApplied {
		t.Fatalf("after the API came back: %s %s", ev.State, ev.Reason)
	}
	d, _ := svc.UserDetail("u5")
	if d.Spendable != 1000 || d.Purchases[0].Type != "topup" {
		t.Fatalf("resolved to %+v, %d credits", d.Purchases, d.Spendable)
	}
}
