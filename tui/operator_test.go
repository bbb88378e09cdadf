package tui

import (
	"context"
	"encoding/base64"
	"errors"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"creditdesk/billing"
	"creditdesk/internal/testkit"
)

// fakeOperator is an in-memory Operator that records what the console
// asked for.
type fakeOperator struct {
	mu       sync.Mutex
	live     bool
	choices  []CheckoutChoice
	auths    []Authorization
	failNext error

	checkouts    []billing.CheckoutRequest
	deadlines    []bool
	portals      []string
	captures     []captureCall
	capturesRead int
	syncs        int
	resyncs      []time.Duration
	reconciles   []time.Duration
}

type captureCall struct{ verb, pi, key string }

// operatorConsole is the console over the fake backend and op, w columns
// by 30 lines, links copied to clip, on tab.
func operatorConsole(t *testing.T, op *fakeOperator, clip io.Writer, w int, tab string) *driver {
	t.Helper()
	d := newDriver(t, newFake(), Options{Operator: op, Clipboard: clip}, w, 30)
	d.press(tab)
	return d
}

func newFakeOperator() *fakeOperator {
	return &fakeOperator{
		choices: []CheckoutChoice{
			{Type: "pro", Kind: "plan", Credits: 2500, Price: "49.00 USD"},
			{Type: "topup", Kind: "pack", Credits: 1000, Price: "20.00 USD"},
		},
		auths: []Authorization{
			{PaymentIntent: "pi_soon", User: "u_1", Type: "topup", Amount: "20.00 USD", Status: "requires_capture", Deadline: fixedNow.Add(5 * time.Hour)},
			{PaymentIntent: "pi_later", User: "u_2", Type: "bulk", Amount: "7,900 JPY", Status: "requires_capture", Deadline: fixedNow.Add(4 * 24 * time.Hour)},
		},
	}
}

func (f *fakeOperator) Live() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.live
}

func (f *fakeOperator) Status() string { return "resync since 2025-03-14 09:00: 3 listed, 1 new" }

func (f *fakeOperator) Choices() []CheckoutChoice { return f.choices }

func (f *fakeOperator) fail() error {
	err := f.failNext
	f.failNext = nil
	return err
}

func (f *fakeOperator) CreateCheckout(ctx context.Context, req billing.CheckoutRequest) (billing.CheckoutLink, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	_, ok := ctx.Deadline()
	f.checkouts = append(f.checkouts, req)
	f.deadlines = append(f.deadlines, ok)
	if err := f.fail(); err != nil {
		return billing.CheckoutLink{}, err
	}
	return billing.CheckoutLink{URL: "https://checkout.stripe.com/c/pay/cs_test_1", SessionID: "cs_test_1", ExpiresAt: fixedNow.Add(24 * time.Hour)}, nil
}

func (f *fakeOperator) CreatePortal(ctx context.Context, user string) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.portals = append(f.portals, user)
	if user == "nobody" {
		return "", billing.ErrNoCustomer
	}
	return "https://billing.stripe.com/p/session/test_1", nil
}

func (f *fakeOperator) Captures(ctx context.Context) ([]Authorization, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.capturesRead++
	return append([]Authorization(nil), f.auths...), nil
}

func (f *fakeOperator) act(verb, pi, key string) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.captures = append(f.captures, captureCall{verb, pi, key})
	if err := f.fail(); err != nil {
		return "", err
	}
	for i, a := range f.auths {
		if a.PaymentIntent == pi {
			f.auths = append(f.auths[:i], f.auths[i+1:]...)
			break
		}
	}
	if verb == "cancel" {
		return "cancelled " + pi, nil
	}
	return "captured " + pi, nil
}

func (f *fakeOperator) Capture(ctx context.Context, pi, key string) (string, error) {
	return f.act("capture", pi, key)
}

func (f *fakeOperator) Cancel(ctx context.Context, pi, key string) (string, error) {
	return f.act("cancel", pi, key)
}

func (f *fakeOperator) Catalog(ctx context.Context, sync bool) (CatalogView, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	note := ""
	if sync {
		f.syncs++
		note = "last sync: 2 prices, 1 coupon"
	}
	return CatalogView{
		Note:    note,
		Types:   []CatalogType{{Name: "topup", Kind: "pack", Credits: 1000, SoldWith: "price_topup (20.00 USD)", PaymentLink: "https://buy.stripe.com/test_1"}},
		Prices:  []CatalogPrice{{ID: "price_topup", Product: "Top-up", Amount: "20.00 USD", Billing: "one-time", Active: true, Type: "topup"}, {ID: "price_yen", Product: "Yen pack", Amount: "500 JPY", Billing: "one-time", Active: true}},
		Coupons: []CatalogCoupon{{ID: "SPRING", Name: "Spring", Off: "20% off", Duration: "once", Valid: true}},
	}, nil
}

func (f *fakeOperator) Health(ctx context.Context) ([]HealthCheck, error) {
	return []HealthCheck{
		{Check: "key", Level: "ok", Text: "secret key sk_test_…abcd, test mode"},
		{Check: "webhook secret", Level: "problem", Text: "STRIPE_WEBHOOK_SECRET is not set", Fix: "run `creditdesk webhook setup URL`"},
	}, nil
}

func (f *fakeOperator) Reconcile(ctx context.Context, since time.Duration) ([]billing.Difference, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.reconciles = append(f.reconciles, since)
	return []billing.Difference{
		{What: "missing", Stripe: "cs_test_c", Detail: "checkout completed in Stripe (15.00 USD), no purchase here", Fix: "its event never arrived: creditdesk resync --since 720h"},
		{What: "twice", Stripe: "re_b1", Purchase: "cs_test_b", User: "u_2", Detail: "the refund's credits were clawed back by the rules (250), and again by hand: entry 7, 250 credits", Fix: `creditdesk grant u_2 250 --reason "undo entry 7"`},
	}, nil
}

func (f *fakeOperator) Resync(ctx context.Context, since time.Duration) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.resyncs = append(f.resyncs, since)
	return "resync since 2025-03-11 15:09: 4 listed, 2 new, 2 already stored", nil
}

func (f *fakeOperator) calls() ([]billing.CheckoutRequest, []captureCall) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]billing.CheckoutRequest(nil), f.checkouts...), append([]captureCall(nil), f.captures...)
}

// syncBuffer is a buffer the test and goroutines share.
type syncBuffer = testkit.SyncBuffer

const (
	checkoutTab = "7"
	capturesTab = "8"
	catalogTab  = "9"
	healthTab   = "0"
)

func TestCheckoutFormCreatesLinkCopiesItAndNotesItInLive(t *testing.T) {
	op := newFakeOperator()
	clip := &syncBuffer{}
	d := operatorConsole(t, op, clip, 100, checkoutTab)
	d.expect("enter: new checkout or portal link")
	d.press("enter")
	d.typeText("u_42q") // q types q: the form holds the keyboard
	d.press("backspace")
	if d.quit {
		t.Fatal("typing q in the form quit the console")
	}
	d.press("tab", "right") // sell: pro → topup
	d.expect("‹ topup · pack · 1,000 credits · 20.00 USD ›")
	d.press("tab", " ", "tab", "tab", " ") // promotion codes, skip tax, manual capture
	d.expect("credits when captured")
	d.press("enter")
	d.expect("Create a checkout link for u_42: topup")
	if reqs, _ := op.calls(); len(reqs) != 0 {
		t.Fatal("created before the confirmation")
	}
	d.press("y")
	v := d.expect("https://checkout.stripe.com/c/pay/cs_test_1")
	if !strings.Contains(v, "copied to the clipboard") {
		t.Errorf("no clipboard note:\n%s", v)
	}
	reqs, _ := op.calls()
	want := billing.CheckoutRequest{UserID: "u_42", Type: "topup", AllowPromotionCodes: true, ManualCapture: true}
	if len(reqs) != 1 {
		t.Fatalf("%d checkouts", len(reqs))
	}
	got := reqs[0]
	if got.IdempotencyKey == "" || !op.deadlines[0] {
		t.Errorf("checkout without idempotency key or deadline: %+v", got)
	}
	got.IdempotencyKey = ""
	if got != want {
		t.Errorf("request = %+v, want %+v", got, want)
	}
	osc := "\x1b]52;c;" + base64.StdEncoding.EncodeToString([]byte("https://checkout.stripe.com/c/pay/cs_test_1"))
	if !strings.Contains(clip.String(), osc) {
		t.Errorf("clipboard got %q, want the OSC 52 sequence %q", clip.String(), osc)
	}
	d.press("2")
	d.expect("checkout link cs_test_1 (topup)")
}

func TestCheckoutFormLiveAsksTwiceAndRetriesWithTheSameKey(t *testing.T) {
	op := newFakeOperator()
	op.live = true
	op.failNext = errors.New("creating checkout session: Stripe API unreachable")
	d := operatorConsole(t, op, &syncBuffer{}, 100, checkoutTab)
	d.expect("LIVE mode")
	d.press("enter")
	d.typeText("u_7")
	d.press("tab", "tab", "tab", "tab", " ") // manual capture on a plan
	d.expect("n/a for plans")
	d.press("enter")
	d.expect("Create a checkout link for u_7: pro")
	d.press("y")
	d.expect("LIVE MODE: this link takes real money")
	if reqs, _ := op.calls(); len(reqs) != 0 {
		t.Fatal("live mode created the link after one confirmation")
	}
	d.press("y")
	d.expect("failed: creating checkout session: Stripe API unreachable")
	d.press("y")
	d.expect("https://checkout.stripe.com/c/pay/cs_test_1")
	reqs, _ := op.calls()
	if len(reqs) != 2 || reqs[0].IdempotencyKey == "" || reqs[0].IdempotencyKey != reqs[1].IdempotencyKey {
		t.Fatalf("retry: %+v, want two calls with one key", reqs)
	}
	if reqs[0].ManualCapture || reqs[0].Type != "pro" {
		t.Errorf("plan request = %+v", reqs[0])
	}
	// A new link is a new request with a key of its own.
	d.press("enter", "enter", "y", "y")
	d.expectThat("a third call", func(string) bool { r, _ := op.calls(); return len(r) == 3 })
	if reqs, _ = op.calls(); reqs[2].IdempotencyKey == reqs[0].IdempotencyKey {
		t.Error("a second link reused the first one's idempotency key")
	}
}

func TestCheckoutFormRefusesBadInputAndOffersThePortal(t *testing.T) {
	op := newFakeOperator()
	d := operatorConsole(t, op, &syncBuffer{}, 100, checkoutTab)
	d.press("enter", "enter")
	d.expect("enter the user id the link is for")
	d.typeText("nobody")
	d.press("tab", "left") // the customer portal is last
	d.expect("customer portal")
	d.press("enter")
	d.expect("Create a customer portal link for nobody? y/n")
	d.press("y")
	d.expect("failed: " + billing.ErrNoCustomer.Error())
	d.press("n", "esc")
	d.expect("enter: new checkout or portal link")
	if reqs, _ := op.calls(); len(reqs) != 0 {
		t.Errorf("portal choice made checkouts: %+v", reqs)
	}
}

func TestCaptureQueueConfirmsEachActionAndReloads(t *testing.T) {
	op := newFakeOperator()
	d := operatorConsole(t, op, nil, 100, capturesTab)
	v := d.expect("pi_later")
	for _, want := range []string{"pi_soon", "20.00 USD", "5h left", "7,900 JPY", "4d left"} {
		if !strings.Contains(v, want) {
			t.Errorf("queue lacks %q:\n%s", want, v)
		}
	}
	d.press("c")
	d.expect("Capture 20.00 USD from u_1 (pi_soon)? y/n")
	d.press("n")
	d.expect("pi_later")
	if _, caps := op.calls(); len(caps) != 0 {
		t.Fatal("n still captured")
	}
	d.press("down", "x")
	d.expect("Cancel 7,900 JPY from u_2 (pi_later)? y/n")
	d.press("y")
	d.expect("cancelled pi_later")
	d.expectThat("the queue reloaded without pi_later", func(v string) bool { return !strings.Contains(v, "u_2") && strings.Contains(v, "pi_soon") })
	_, caps := op.calls()
	if len(caps) != 1 || caps[0].verb != "cancel" || caps[0].pi != "pi_later" || caps[0].key == "" {
		t.Errorf("calls = %+v", caps)
	}
}

func TestCaptureQueueInLiveModeAsksTwice(t *testing.T) {
	op := newFakeOperator()
	op.live = true
	op.failNext = errors.New("capturing pi_soon: Stripe API unreachable")
	d := operatorConsole(t, op, nil, 100, capturesTab)
	d.expect("pi_soon")
	d.press("c", "y")
	d.expect("LIVE MODE: this moves real money")
	if _, caps := op.calls(); len(caps) != 0 {
		t.Fatal("captured after one confirmation in live mode")
	}
	d.press("q") // held by the confirmation: does not quit
	if d.quit {
		t.Fatal("q quit during a confirmation")
	}
	d.press("y")
	d.expect("failed: capturing pi_soon")
	d.press("y")
	d.expect("captured pi_soon")
	_, caps := op.calls()
	if len(caps) != 2 || caps[0].key != caps[1].key || caps[0].verb != "capture" {
		t.Errorf("retry = %+v, want two captures with one key", caps)
	}
}

func TestCatalogAndHealthTabs(t *testing.T) {
	op := newFakeOperator()
	d := operatorConsole(t, op, nil, 120, catalogTab)
	v := d.expect("price_topup")
	for _, want := range []string{"20.00 USD", "→ topup", "500 JPY", "— not in the catalog", "payment link https://buy.stripe.com/test_1", "SPRING", "20% off"} {
		if !strings.Contains(v, want) {
			t.Errorf("catalog lacks %q:\n%s", want, v)
		}
	}
	d.press("s")
	d.expect("catalog synced")
	d.expect("last sync: 2 prices, 1 coupon") // the sync's summary stays in the tab
	d.press(healthTab)
	v = d.expect("1 problem(s)")
	if !strings.Contains(v, "✗ webhook secret") || !strings.Contains(v, "→ run `creditdesk webhook setup URL`") {
		t.Errorf("health:\n%s", v)
	}
	d.send(tickMsg(fixedNow))
	d.expect("background: resync since")
	d.press("s")
	d.expect("4 listed, 2 new, 2 already stored")
	// c reconciles the last 30 days with Stripe: each difference with its fix.
	d.press("c")
	v = d.expect("reconciled 30 days with Stripe: 2 differences")
	for _, want := range []string{"missing    cs_test_c: checkout completed in Stripe", "→ its event never arrived: creditdesk resync",
		"twice      re_b1:", `→ creditdesk grant u_2 250 --reason "undo entry 7"`} {
		if !strings.Contains(v, want) {
			t.Errorf("health after reconcile lacks %q:\n%s", want, v)
		}
	}
	op.mu.Lock()
	defer op.mu.Unlock()
	if len(op.resyncs) != 1 || op.resyncs[0] != 72*time.Hour {
		t.Errorf("resyncs = %v", op.resyncs)
	}
	if len(op.reconciles) != 1 || op.reconciles[0] != 30*24*time.Hour {
		t.Errorf("reconciles = %v", op.reconciles)
	}
}

func TestStripePanesWithoutAKeySaySo(t *testing.T) {
	d := newDriver(t, newFake(), Options{}, 140, 30)
	for _, tab := range []string{checkoutTab, capturesTab, catalogTab, healthTab} {
		d.press(tab)
		d.expect("set STRIPE_SECRET_KEY to use this")
		d.press("enter", "c", "s")
	}
}
