package billing_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	. "creditdesk/billing"
	"creditdesk/internal/testkit"
	"creditdesk/storage"
)

// fullDisk fails every commit with ENOSPC while full is set, and notes when.
type fullDisk struct {
	full  atomic.Bool
	mu    sync.Mutex
	tries []time.Time
}

func (d *fullDisk) fault() error {
	if !d.full.Load() {
		return nil
	}
	d.mu.Lock()
	d.tries = append(d.tries, time.Now())
	d.mu.Unlock()
	return &os.PathError{Op: "write", Path: "f.db", Err: syscall.ENOSPC}
}

// fullDiskStore opens a store in a temporary directory whose commits disk
// fails while full; the test's cleanup closes it.
func fullDiskStore(t *testing.T) (*fullDisk, *storage.Store) {
	t.Helper()
	disk := &fullDisk{}
	st := testkit.OpenStore(t, filepath.Join(t.TempDir(), "f.db"), storage.Options{CommitFault: disk.fault})
	return disk, st
}

func (d *fullDisk) attempts() []time.Time {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]time.Time(nil), d.tries...)
}

// syncBuffer is a buffer the test and goroutines share.
type syncBuffer = testkit.SyncBuffer

func eventually(t *testing.T, what string, ok func() bool) {
	t.Helper()
	testkit.Eventually(t, 10*time.Second, what, ok)
}

func TestFullDiskIsAWaitNotAFailure(t *testing.T) {
	disk, st := fullDiskStore(t)
	var logs syncBuffer
	svc := NewService(st, Options{Rules: Rules{Catalog: testCatalog()}, Log: slog.New(slog.NewTextHandler(&logs, nil)), FaultSettle: 20 * time.Millisecond})
	svc.SetFaultBackoffBase(5 * time.Millisecond)
	for i := range 3 {
		body := payload(fmt.Sprint("evt_", i), "checkout.session.completed", time.Now(), "2023-10-16",
			session(fmt.Sprint("cs_", i), "u1", M{"user_id": "u1", "credits": "100"}, nil))
		if _, _, err := svc.Ingest(body, "test"); err != nil {
			t.Fatal(err)
		}
	}

	disk.full.Store(true)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- svc.Run(ctx) }()
	eventually(t, "six attempts on the full disk", func() bool { return len(disk.attempts()) >= 6 })

	// Nothing failed: every event is still received, waiting for the disk.
	for i := range 3 {
		ev, err := st.EventByID(fmt.Sprint("evt_", i))
		if err != nil || ev.State != StateReceived {
			t.Fatalf("evt_%d on a full disk: %s %v, want received", i, ev.State, err)
		}
	}
	if err := svc.StoreFault(); err == nil || !strings.Contains(err.Error(), "no space left") {
		t.Fatalf("StoreFault %v, want the reason", err)
	}
	items, err := svc.Attention()
	if err != nil || len(items) == 0 || items[0].Kind != AttnStore {
		t.Fatalf("attention %+v %v, want the store problem listed", items, err)
	}
	// The processor backs off: each wait at least doubles (timers never
	// fire early), instead of retrying a thousand times a second.
	tries := disk.attempts()
	for i := 1; i < len(tries); i++ {
		if gap, want := tries[i].Sub(tries[i-1]), FaultBackoff(i, svc.FaultBackoffBase()); gap < want {
			t.Fatalf("attempt %d came %v after the one before, want at least %v", i+1, gap, want)
		}
	}
	// A webhook arriving now is not stored (the receiver answers 503, and
	// Stripe retries).
	if _, _, err := svc.Ingest(payload("evt_late", "customer.created", time.Now(), "2023-10-16", M{"id": "cus_1"}), "test"); !IsWriteFault(err) {
		t.Fatalf("ingest on a full disk: %v", err)
	}

	disk.full.Store(false)
	eventually(t, "the waiting events applied", func() bool {
		for i := range 3 {
			if ev, err := st.EventByID(fmt.Sprint("evt_", i)); err != nil || ev.State != StateApplied {
				return false
			}
		}
		return true
	})
	if b := balanceOf(t, svc, "u1"); b != 300 {
		t.Fatalf("balance %d after the disk came back, want 300", b)
	}
	// The fault is cleared right after the commit that applied them.
	eventually(t, "the fault cleared", func() bool { return svc.StoreFault() == nil })
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	out := logs.String()
	if n := strings.Count(out, "store writes fail"); n != 1 {
		t.Errorf("logged the fault %d times, want once:\n%s", n, out)
	}
	if n := strings.Count(out, "store writes work again"); n != 1 {
		t.Errorf("logged the recovery %d times, want once:\n%s", n, out)
	}
	if strings.Contains(out, "mark event failed") || strings.Contains(out, "level=ERROR msg=processor") {
		t.Errorf("per-attempt errors logged:\n%s", out)
	}
	if _, err := st.Verify(); err != nil {
		t.Fatal(err)
	}
}

func TestHealthRecoversWithNothingToApply(t *testing.T) {
	disk, st := fullDiskStore(t)
	svc := NewService(st, Options{Rules: Rules{Catalog: testCatalog()}, FaultSettle: 20 * time.Millisecond})
	svc.SetFaultBackoffBase(5 * time.Millisecond)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { _ = svc.Run(ctx) }()
	eventually(t, "the processor running", svc.Running)
	disk.full.Store(true)
	// A delivery that cannot be stored is what shows the fault here; the
	// idle processor then probes the disk until it takes writes again.
	if _, _, err := svc.Ingest(payload("evt_1", "customer.created", time.Now(), "2023-10-16", M{"id": "cus_1"}), "test"); err == nil {
		t.Fatal("stored on a full disk")
	}
	if svc.StoreFault() == nil {
		t.Fatal("no fault reported after a failed write")
	}
	eventually(t, "probes of the full disk", func() bool { return len(disk.attempts()) >= 3 })
	disk.full.Store(false)
	eventually(t, "health back", func() bool { return svc.StoreFault() == nil })
}

func TestARulesErrorStillFailsTheOneEvent(t *testing.T) {
	h := newHarness(t, testCatalog())
	// A checkout without an id is the rules' error, not the disk's.
	h.send(payload("evt_bad", "checkout.session.completed", t0, "2023-10-16", M{"object": "checkout.session", "mode": "payment"}))
	if ev := h.event("evt_bad"); ev.State != StateFailed {
		t.Fatalf("state %s, want failed", ev.State)
	}
	if h.svc.StoreFault() != nil {
		t.Fatal("a rules error reported as a store fault")
	}
}

func TestIsWriteFault(t *testing.T) {
	for _, errno := range []syscall.Errno{syscall.ENOSPC, syscall.EIO, syscall.EROFS, syscall.EDQUOT} {
		if !IsWriteFault(fmt.Errorf("commit: %w", &os.PathError{Op: "write", Path: "x", Err: errno})) {
			t.Errorf("%v is a write fault", errno)
		}
	}
	for _, err := range []error{errors.New("no type"), ErrInvalid, &os.PathError{Op: "open", Path: "x", Err: syscall.ENOENT}} {
		if IsWriteFault(err) {
			t.Errorf("%v is not a write fault", err)
		}
	}
}

func balanceOf(t *testing.T, svc *Service, user string) int64 {
	t.Helper()
	d, err := svc.UserDetail(user)
	if err != nil {
		t.Fatal(err)
	}
	return d.User.Balance
}

func TestDamagedFileIsAWaitTooNotFailedEvents(t *testing.T) {
	var damaged atomic.Bool
	st := testkit.OpenStore(t, filepath.Join(t.TempDir(), "d.db"), storage.Options{CommitFault: func() error {
		if damaged.Load() {
			return &storage.DamagedError{Path: "d.db", Cause: "invalid page type"}
		}
		return nil
	}})
	svc := NewService(st, Options{Rules: Rules{Catalog: testCatalog()}})
	body := payload("evt_1", "checkout.session.completed", time.Now(), "2023-10-16", session("cs_1", "u1", M{"user_id": "u1", "credits": "10"}, nil))
	if _, _, err := svc.Ingest(body, "test"); err != nil {
		t.Fatal(err)
	}
	damaged.Store(true)
	if _, err := svc.ProcessPending(context.Background()); !errors.Is(err, ErrDamaged) {
		t.Fatalf("ProcessPending on a damaged file: %v", err)
	}
	if ev, _ := st.EventByID("evt_1"); ev.State != StateReceived {
		t.Fatalf("state %s, want received", ev.State)
	}
	if err := svc.StoreFault(); err == nil || !strings.Contains(err.Error(), "restore the last backup") {
		t.Fatalf("StoreFault %v", err)
	}
}

// TestAFlappingDiskIsOneFaultNotOnePerWrite: a full disk lets some writes
// through (those that fit in pages the file already has). Writes that
// alternate between failing and working are one fault, logged once, until
// they have worked for the settle time.
func TestAFlappingDiskIsOneFaultNotOnePerWrite(t *testing.T) {
	var n atomic.Int64
	st := testkit.OpenStore(t, filepath.Join(t.TempDir(), "f.db"), storage.Options{CommitFault: func() error {
		if n.Add(1)%2 == 0 {
			return &os.PathError{Op: "write", Path: "f.db", Err: syscall.ENOSPC}
		}
		return nil
	}})
	var logs syncBuffer
	svc := NewService(st, Options{Rules: Rules{Catalog: testCatalog()}, Log: slog.New(slog.NewTextHandler(&logs, nil)), FaultSettle: time.Hour})
	failed := 0
	for i := range 20 {
		if _, _, err := svc.Ingest(payload(fmt.Sprint("evt_", i), "customer.created", time.Now(), "2023-10-16", M{"id": "cus_1"}), "test"); err != nil {
			failed++
		}
	}
	if failed == 0 || failed == 20 {
		t.Fatalf("%d of 20 ingests failed, want some", failed)
	}
	if svc.StoreFault() == nil {
		t.Fatal("the fault ended while writes were still failing now and then")
	}
	out := logs.String()
	if strings.Count(out, "store writes fail") != 1 || strings.Contains(out, "store writes work again") {
		t.Fatalf("want one fault line and no recovery:\n%s", out)
	}
}
