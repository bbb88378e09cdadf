package tui

import (
	"context"
	"strings"
	"sync"
	"testing"

	"creditdesk/billing"
)

// attnBackend is the fake with attention items and a record of the fixes
// asked for.
type attnBackend struct {
	*fakeBackend
	mu       sync.Mutex
	items    []billing.AttentionItem
	retried  []string
	assigned [][2]string
	linked   [][2]string
}

func (a *attnBackend) Attention() ([]billing.AttentionItem, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]billing.AttentionItem(nil), a.items...), nil
}

// fix notes a fix asked for item id and takes the item off the list, as
// the real backend's fix resolves it.
func (a *attnBackend) fix(id string, note func()) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	note()
	for i, it := range a.items {
		if it.ID == id {
			a.items = append(a.items[:i], a.items[i+1:]...)
			break
		}
	}
	return nil
}

func (a *attnBackend) Retry(ctx context.Context, id string) error {
	return a.fix(id, func() { a.retried = append(a.retried, id) })
}

func (a *attnBackend) AssignType(ctx context.Context, id, t string) error {
	return a.fix(id, func() { a.assigned = append(a.assigned, [2]string{id, t}) })
}

func (a *attnBackend) LinkUser(ctx context.Context, from, to string) error {
	return a.fix(from, func() { a.linked = append(a.linked, [2]string{from, to}) })
}

func newAttnBackend() *attnBackend {
	return &attnBackend{fakeBackend: newFake(), items: []billing.AttentionItem{
		{Kind: billing.AttnWaiting, ID: "evt_wait", Detail: "invoice.paid: waiting for the checkout", Action: "retry", At: fixedNow},
		{Kind: billing.AttnUnresolved, ID: "cs_unres", User: "u1", Detail: "purchase type unknown", Action: "assign", At: fixedNow},
		{Kind: billing.AttnUnlinked, ID: "cus_anon", User: "cus_anon", Detail: "purchase has no user id", Action: "link", At: fixedNow},
		{Kind: billing.AttnDisputed, ID: "dp_1", User: "u2", Detail: "charge disputed", At: fixedNow},
	}}
}

func TestAttentionListsEachItemWithItsFix(t *testing.T) {
	b := newAttnBackend()
	d := newDriver(t, b, Options{}, 100, 30)
	d.press("5")
	v := d.expect("Needs attention: 4")
	for _, want := range []string{"evt_wait", "r retry", "cs_unres", "a assign", "cus_anon", "l link", "dp_1", "in Stripe"} {
		if !strings.Contains(v, want) {
			t.Errorf("attention screen lacks %q:\n%s", want, v)
		}
	}
}

func TestAttentionFixes(t *testing.T) {
	b := newAttnBackend()
	d := newDriver(t, b, Options{}, 100, 30)
	d.press("5")
	d.expect("Needs attention: 4")

	// A key that does not fit the row does nothing.
	d.press("a")
	if strings.Contains(d.view(), "assign evt_wait") {
		t.Fatal("assign offered for a waiting event")
	}
	d.press("r")
	d.expect("Needs attention: 3")
	if len(b.retried) != 1 || b.retried[0] != "evt_wait" {
		t.Fatalf("retried %v", b.retried)
	}

	// Assign: the prompt holds the keyboard, so q types a q... and esc
	// leaves it without doing anything.
	d.press("a")
	d.expect("assign cs_unres as")
	d.press("enter") // nothing typed: refused, the prompt stays
	d.expect("type a value, or esc to cancel")
	d.expect("assign cs_unres as")
	d.typeText("q")
	if d.quit {
		t.Fatal("q in the prompt quit the console")
	}
	d.press("esc")
	if len(b.assigned) != 0 {
		t.Fatal("esc assigned")
	}
	d.press("a")
	d.typeText("topup")
	d.press("enter")
	d.expect("Needs attention: 2")
	if len(b.assigned) != 1 || b.assigned[0] != [2]string{"cs_unres", "topup"} {
		t.Fatalf("assigned %v", b.assigned)
	}

	d.press("l")
	d.expect("link cus_anon to")
	d.typeText("user_42")
	d.press("enter")
	d.expect("Linked cus_anon to user_42")
	if len(b.linked) != 1 || b.linked[0] != [2]string{"cus_anon", "user_42"} {
		t.Fatalf("linked %v", b.linked)
	}
}

// TestAttentionKeyARowDoesNotTakeSaysWhereItsFixIs: r on a dispute does
// nothing in the console; it says the fix is in Stripe instead of nothing.
func TestAttentionKeyARowDoesNotTakeSaysWhereItsFixIs(t *testing.T) {
	b := newAttnBackend()
	d := newDriver(t, b, Options{}, 100, 30)
	d.press("5")
	v := d.expect("dp_1")
	for !strings.Contains(lineWith(v, "›"), "dp_1") {
		d.press("down")
		v = d.view()
	}
	d.press("r")
	d.expect("the fix is in the Stripe Dashboard")
}

// A disabled app endpoint in Attention says its fix is in the Deliveries
// tab, not in Stripe.
func TestAttentionDisabledEndpointPointsToDeliveries(t *testing.T) {
	b := newAttnBackend()
	b.items = []billing.AttentionItem{{Kind: billing.AttnAppWebhook, ID: "ep_1", Detail: "app webhook https://app.example/hooks disabled", At: fixedNow}}
	d := newDriver(t, b, Options{}, 100, 30)
	d.press("5")
	d.expect("ep_1")
	d.press("r")
	d.expect("the Deliveries tab")
}
