package billing_test

import (
	"context"
	"sync/atomic"
	"testing"

	. "creditdesk/billing"
)

// readCounter is a memStore that counts the payloads asked of it.
type readCounter struct {
	*memStore
	read atomic.Int64
}

func (r *readCounter) Payloads(seqs []uint64) ([][]byte, error) {
	r.read.Add(int64(len(seqs)))
	return r.memStore.Payloads(seqs)
}

func packCheckout(id, user string) []byte {
	return payload("evt_"+id, "checkout.session.completed", t0, "2023-10-16",
		session("cs_"+id, user, M{"user_id": user, "type": "topup"}, nil))
}

// What the receiver has just acknowledged is applied from the body it
// handed over, without reading it back from the store; the events applied
// are the same either way.
func TestProcessorAppliesJustIngestedEventsWithoutReadingThemBack(t *testing.T) {
	st := &readCounter{memStore: newMemStore()}
	h := newHarnessOn(st, t, testCatalog())
	for _, id := range []string{"a", "b", "c"} {
		h.send(packCheckout(id, "u1"))
	}
	if b := h.user("u1").User.Balance; b != 3*1000 {
		t.Fatalf("balance %d, want three packs of 1000", b)
	}
	if n := st.read.Load(); n != 0 {
		t.Fatalf("%d payloads read back from the store, want none", n)
	}
	h.verify()
}

// Events stored before a restart (the processor never saw them) are read
// from the store and applied once.
func TestEventsStoredBeforeARestartAreAppliedFromTheStore(t *testing.T) {
	st := &readCounter{memStore: newMemStore()}
	before := newHarnessOn(st, t, testCatalog())
	for _, id := range []string{"a", "b"} {
		if _, _, err := before.svc.Ingest(packCheckout(id, "u1"), "test"); err != nil {
			t.Fatal(err)
		}
	}
	after := newHarnessOn(st, t, testCatalog()) // a new process over the same store
	if _, err := after.svc.ProcessPending(context.Background()); err != nil {
		t.Fatal(err)
	}
	if n := st.read.Load(); n != 2 {
		t.Fatalf("%d payloads read from the store, want the 2 stored before the restart", n)
	}
	if b := after.user("u1").User.Balance; b != 2*1000 {
		t.Fatalf("balance %d, want two packs of 1000", b)
	}
	after.verify()
}

// An event of a type creditdesk does not use is ignored whatever its
// data.object holds (it is not decoded); one of a type it uses without a
// data.object fails with a reason.
func TestOnlyUsedEventTypesAreDecoded(t *testing.T) {
	h := newMemHarness(t, testCatalog())
	h.send([]byte(`{"id":"evt_unused","object":"event","type":"setup_intent.created","created":1700000000,"data":{"object":"not an object"}}`))
	h.send([]byte(`{"id":"evt_used","object":"event","type":"checkout.session.completed","created":1700000000,"data":{"object":"not an object"}}`))
	if ev := h.event("evt_unused"); ev.State != StateIgnored || ev.Reason != "not used by creditdesk" {
		t.Fatalf("unused type: %s %q, want ignored as not used", ev.State, ev.Reason)
	}
	if ev := h.event("evt_used"); ev.State != StateFailed {
		t.Fatalf("used type without an object: %s %q, want failed", ev.State, ev.Reason)
	}
	if Uses("setup_intent.created") || !Uses("invoice.paid") || !Uses("coupon.created") {
		t.Fatal("Uses disagrees with the rules")
	}
}
