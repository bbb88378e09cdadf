package billing_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	. "creditdesk/billing"
	"creditdesk/internal/testkit"
	"creditdesk/storage"
)

func TestPackCreditsFromEveryPlaceStarterKitsPutThem(t *testing.T) {
	h := newHarness(t, Catalog{FreeCredits: 100})
	h.send(payload("evt_1", "checkout.session.completed", t0, "2023-10-16", session("cs_1", "u1", M{"user_id": "u1", "credits": "500"}, nil)))
	h.send(payload("evt_2", "checkout.session.completed", t0, "2023-10-16", session("cs_2", "u2", M{"userId": "u2", "tokens": "50"}, nil)))
	h.send(payload("evt_3", "checkout.session.completed", t0, "2020-08-27", session("cs_3", "u3", M{"credits": 200}, M{"client_reference_id": "u3"})))
	for user, want := range map[string]int64{"u1": 500, "u2": 50, "u3": 200} {
		d := h.user(user)
		if d.Spendable != want {
			t.Errorf("%s has %d credits, want %d", user, d.Spendable, want)
		}
		if d.User.CustomerID != "cus_"+user || d.User.Email != user+"@example.com" {
			t.Errorf("%s: customer/email not kept: %+v", user, d.User)
		}
	}
	if rec := h.event("evt_1"); rec.State != StateApplied || rec.User != "u1" || rec.Amount != 500 {
		t.Fatalf("event record %+v", rec)
	}
	h.verify()
}

func TestRedeliveryAndReplayGrantOnce(t *testing.T) {
	h := newHarness(t, Catalog{})
	body := payload("evt_1", "checkout.session.completed", t0, "2023-10-16", session("cs_1", "u1", M{"user_id": "u1", "credits": "500"}, nil))
	h.send(body)
	h.send(body)
	// A different event for the same session (Stripe sends
	// async_payment_succeeded after completed) does not grant again.
	h.send(payload("evt_2", "checkout.session.async_payment_succeeded", t0, "2023-10-16", session("cs_1", "u1", M{"user_id": "u1", "credits": "500"}, nil)))
	if d := h.user("u1"); d.Spendable != 500 || len(d.Entries) != 1 {
		t.Fatalf("balance %d with %d entries, want 500 once", d.Spendable, len(d.Entries))
	}
	st := h.svc.Stats()
	if st.Duplicates != 1 || st.Received != 2 {
		t.Fatalf("stats %+v", st)
	}
	h.verify()
}

func TestUnpaidCheckoutWaitsForAsyncPayment(t *testing.T) {
	h := newHarness(t, Catalog{})
	s := session("cs_1", "u1", M{"user_id": "u1", "credits": "300"}, M{"payment_status": "unpaid"})
	h.send(payload("evt_1", "checkout.session.completed", t0, "2023-10-16", s))
	if d := h.user("u1"); d.Spendable != 0 || d.Purchases[0].Status != "pending" {
		t.Fatalf("unpaid checkout granted: %+v", d)
	}
	s["payment_status"] = "paid"
	h.send(payload("evt_2", "checkout.session.async_payment_succeeded", t0, "2023-10-16", s))
	if d := h.user("u1"); d.Spendable != 300 || d.Purchases[0].Status != "paid" {
		t.Fatalf("async success: %+v", d)
	}
	h.verify()
}

func TestOtherEventsAreStoredAndIgnoredNotFailed(t *testing.T) {
	h := newHarness(t, Catalog{})
	h.send(payload("evt_x", "setup_intent.created", t0, "2019-02-19", M{"id": "seti_1"}))
	if rec := h.event("evt_x"); rec.State != StateIgnored {
		t.Fatalf("state %s", rec.State)
	}
}

func TestOneBadEventDoesNotStopTheOthers(t *testing.T) {
	h := newHarness(t, Catalog{})
	bad := []byte(`{"id":"evt_bad","object":"event","type":"checkout.session.completed","created":1,"data":{"object":{"mode":"payment"}}}`)
	if _, _, err := h.svc.Ingest(bad, "test"); err != nil {
		t.Fatal(err)
	}
	h.send(payload("evt_ok", "checkout.session.completed", t0, "2023-10-16", session("cs_1", "u1", M{"user_id": "u1", "credits": "10"}, nil)))
	if rec := h.event("evt_bad"); rec.State != StateFailed || rec.Reason == "" {
		t.Fatalf("bad event: %+v", rec)
	}
	if rec := h.event("evt_ok"); rec.State != StateApplied {
		t.Fatalf("good event after a bad one: %+v", rec)
	}
	if h.svc.Stats().Failed != 1 {
		t.Fatalf("failed count %d", h.svc.Stats().Failed)
	}
}

func TestManualRevokeNeedsForceBelowZero(t *testing.T) {
	h := newHarness(t, Catalog{})
	ctx := context.Background()
	if _, err := h.svc.Adjust(ctx, Adjustment{User: "u1", Delta: 100, Reason: "", Create: true}); !errors.Is(err, ErrInvalid) {
		t.Fatalf("grant without reason: %v", err)
	}
	if _, err := h.svc.Adjust(ctx, Adjustment{User: "u1", Delta: 100, Reason: "welcome bonus", Create: true, Key: "k1"}); err != nil {
		t.Fatal(err)
	}
	if _, err := h.svc.Adjust(ctx, Adjustment{User: "u1", Delta: 100, Reason: "welcome bonus", Create: true, Key: "k1"}); err != nil {
		t.Fatal(err)
	}
	_, err := h.svc.Adjust(ctx, Adjustment{User: "u1", Delta: -150, Reason: "abuse", Key: "k2"})
	var ins *ErrInsufficient
	if !errors.As(err, &ins) {
		t.Fatalf("revoke beyond balance: %v", err)
	}
	e, err := h.svc.Adjust(ctx, Adjustment{User: "u1", Delta: -150, Reason: "abuse", Force: true, Key: "k3"})
	if err != nil || e.BalanceAfter != -50 || e.Source != "manual" || e.Reason != "abuse" {
		t.Fatalf("forced revoke: %+v %v", e, err)
	}
	h.verify()
}

// TestManualChangeToAnUnknownUserNeedsCreate: a grant or revoke to an id no
// user has fails with *ErrUnknownUser and writes nothing, unless it is a
// grant with Create (a revoke never creates); a retry of the grant that
// created the user answers with its entry. The app's spend to an unknown
// user stays a refusal for insufficient credits that creates nobody.
func TestManualChangeToAnUnknownUserNeedsCreate(t *testing.T) {
	h := newHarness(t, Catalog{})
	ctx := context.Background()
	for _, a := range []Adjustment{
		{User: "u_typo", Delta: 100, Reason: "welcome"},
		{User: "u_typo", Delta: -100, Reason: "abuse", Force: true},
		{User: "u_typo", Delta: -100, Reason: "abuse", Force: true, Create: true},
	} {
		_, err := h.svc.Adjust(ctx, a)
		var unknown *ErrUnknownUser
		if !errors.As(err, &unknown) || unknown.UserID != "u_typo" || !errors.Is(err, ErrNotFound) {
			t.Fatalf("%+v: %v", a, err)
		}
	}
	if _, err := h.svc.Spend(ctx, "app", "u_typo", 1, "", "s1"); !isInsufficient(err, 0) {
		t.Fatalf("API spend to an unknown user: %v", err)
	}
	if _, err := h.svc.UserBalance("u_typo"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("a refused change created the user: %v", err)
	}
	e, err := h.svc.Adjust(ctx, Adjustment{User: "u_new", Delta: 100, Reason: "welcome", Create: true, Key: "k1"})
	if err != nil || e.BalanceAfter != 100 {
		t.Fatalf("grant with Create: %+v %v", e, err)
	}
	again, err := h.svc.Adjust(ctx, Adjustment{User: "u_new", Delta: 100, Reason: "welcome", Key: "k1"})
	if err != nil || again.ID != e.ID {
		t.Fatalf("retried grant: %+v %v, want entry %d", again, err, e.ID)
	}
	h.verify()
}

func TestProcessorResumesReceivedEventsAfterRestart(t *testing.T) {
	path := filepath.Join(t.TempDir(), "r.db")
	st, _ := storage.Open(path, storage.Options{})
	svc := NewService(st, Options{})
	svc.Ingest(payload("evt_1", "checkout.session.completed", t0, "2023-10-16", session("cs_1", "u1", M{"user_id": "u1", "credits": "7"}, nil)), "test")
	st.Close() // stopped before the processor ran

	st, _ = storage.Open(path, storage.Options{})
	defer st.Close()
	svc = NewService(st, Options{})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { svc.Run(ctx); close(done) }()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		if d, err := svc.UserDetail("u1"); err == nil && d.Spendable == 7 {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	<-done
	if d, err := svc.UserDetail("u1"); err != nil || d.Spendable != 7 {
		t.Fatalf("resumed event not applied: %+v %v", d, err)
	}
}

func TestShutdownAppliesWhatIsStored(t *testing.T) {
	h := newHarness(t, Catalog{})
	ctx, cancel := context.WithCancel(context.Background())
	cancel() // already stopping: Run must still drain
	for i, id := range []string{"a", "b", "c"} {
		h.svc.Ingest(payload("evt_"+id, "checkout.session.completed", t0, "2023-10-16",
			session("cs_"+id, "u1", M{"user_id": "u1", "credits": "1"}, nil)), "test")
		_ = i
	}
	h.svc.Run(ctx)
	if d := h.user("u1"); d.Spendable != 3 {
		t.Fatalf("drain applied %d of 3", d.Spendable)
	}
}

func TestLiveFeedGetsEveryStep(t *testing.T) {
	h := newHarness(t, Catalog{})
	ch, stop := h.svc.Subscribe()
	defer stop()
	h.send(payload("evt_1", "checkout.session.completed", t0, "2023-10-16", session("cs_1", "u1", M{"user_id": "u1", "credits": "5"}, nil)))
	h.svc.NoteRejected("bad signature", "no secret matches")
	var kinds []string
	for len(kinds) < 3 {
		a := <-ch
		kinds = append(kinds, string(a.Kind)+"/"+string(a.State))
	}
	want := []string{"event/received", "event/applied", "rejected/"}
	for i := range want {
		if kinds[i] != want[i] {
			t.Fatalf("feed %v, want %v", kinds, want)
		}
	}
	if h.svc.Stats().Rejected["bad signature"] != 1 {
		t.Fatal("rejection not counted by reason")
	}
}

// More waiting events than one batch all apply once their missing pieces
// arrive, while the processor runs. Sweeps are at most a second apart on
// the service's clock, which the test moves.
func TestRunSweepsEveryWaitingEventWhenThePieceArrives(t *testing.T) {
	h := newHarness(t, testCatalog())
	clock := testkit.NewClock(t0.Add(day))
	h.svc = NewService(h.st, Options{Rules: Rules{Catalog: testCatalog()}, Clock: clock.Now, After: clock.After})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { h.svc.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()
	const n = 40
	for i := range n {
		u := fmt.Sprintf("w%02d", i)
		inv := v2023.invoice("in_"+u, "sub_"+u, "", "price_pro_monthly", t0, t0.Add(30*day), "subscription_create")
		delete(inv, "subscription_details")
		inv["customer"] = "cus_" + u
		h.svc.Ingest(payload("evt_i"+u, "invoice.paid", t0, "2023-10-16", inv), "test")
	}
	waitFor(t, func() bool { return h.svc.Stats().Waiting == n })
	for i := range n {
		u := fmt.Sprintf("w%02d", i)
		h.svc.Ingest(payload("evt_c"+u, "checkout.session.completed", t0, "2023-10-16",
			session("cs_"+u, u, M{"user_id": u, "type": "plan-pro"}, M{"mode": "subscription", "subscription": "sub_" + u})), "test")
	}
	waitFor(t, func() bool { clock.Advance(time.Second); return h.svc.Stats().Waiting == 0 })
	for i := range n {
		if d := h.user(fmt.Sprintf("w%02d", i)); d.Spendable != 2500 {
			t.Fatalf("w%02d has %d credits", i, d.Spendable)
		}
	}
}

func waitFor(t *testing.T, ok func() bool) {
	t.Helper()
	testkit.Eventually(t, 10*time.Second, "the condition", ok)
}
