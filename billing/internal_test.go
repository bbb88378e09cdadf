package billing

// Tests of billing's unexported helpers; they need no store. The tests
// that run billing over a real store are in package billing_test, since
// storage imports billing.

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestAPIPostingChecks(t *testing.T) {
	ok := apiPosting{op: opSpend, keyName: "app", user: "u1", amount: 1, idemKey: "k"}
	bad := map[string]func(*apiPosting){
		"zero":          func(p *apiPosting) { p.amount = 0 },
		"negative":      func(p *apiPosting) { p.amount = -5 },
		"huge":          func(p *apiPosting) { p.amount = MaxAPIAmount + 1 },
		"no user":       func(p *apiPosting) { p.user = "" },
		"nul in user":   func(p *apiPosting) { p.user = "u\x001" },
		"long user":     func(p *apiPosting) { p.user = strings.Repeat("u", MaxIDLength+1) },
		"no key":        func(p *apiPosting) { p.idemKey = "" },
		"newline key":   func(p *apiPosting) { p.idemKey = "k\n" },
		"long reason":   func(p *apiPosting) { p.reason = strings.Repeat("r", MaxReasonLength+1) },
		"bad utf8":      func(p *apiPosting) { p.reason = "\xff" },
		"bad key name":  func(p *apiPosting) { p.keyName = "a b" },
		"padded user":   func(p *apiPosting) { p.user = " u1" },
		"empty keyname": func(p *apiPosting) { p.keyName = "" },
	}
	for name, mut := range bad {
		p := ok
		mut(&p)
		if _, err := checkAPIPosting(p); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: %v, want ErrInvalid", name, err)
		}
	}
	p, err := checkAPIPosting(ok)
	if err != nil || p.reason != "spend via API" {
		t.Fatalf("valid posting: %+v %v", p, err)
	}
	// Length-prefixed fields: moving text between user and reason is a
	// different request.
	a := apiPosting{op: opSpend, user: "ab", reason: "c", amount: 1}
	b := apiPosting{op: opSpend, user: "a", reason: "bc", amount: 1}
	if a.fingerprint() == b.fingerprint() {
		t.Fatal("fingerprints collide")
	}
}

func TestLineItemCreditsTimesQuantityIsChecked(t *testing.T) {
	r := Rules{}
	_, ok := r.purchaseType(objOf(map[string]any{"metadata": map[string]any{}}), &LineItems{Items: []LineItem{{ProductID: "prod_x", ProductCredits: 1 << 40, Quantity: 1 << 40}}})
	if ok {
		t.Fatal("credits × quantity past MaxCredits resolved")
	}
	got, ok := r.purchaseType(objOf(map[string]any{"metadata": map[string]any{}}), &LineItems{Items: []LineItem{{ProductID: "prod_x", ProductCredits: 100, Quantity: 3}}})
	if !ok || got.Credits != 300 {
		t.Fatalf("100 × 3: %+v %v", got, ok)
	}
}

func TestFaultBackoffDoublesToThirtySeconds(t *testing.T) {
	base := 500 * time.Millisecond
	want := []time.Duration{500 * time.Millisecond, time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second, 16 * time.Second, 30 * time.Second, 30 * time.Second}
	for i, w := range want {
		if got := faultBackoff(i+1, base); got != w {
			t.Errorf("after %d faults: %v, want %v", i+1, got, w)
		}
	}
	if got := faultBackoff(1000, base); got != maxFaultBackoff {
		t.Errorf("after 1000 faults: %v", got)
	}
}

// The bodies handed from the receiver to the processor are bounded, taken
// once, and a body put after the processor already read its event from the
// store is dropped at the next batch instead of staying forever.
func TestFreshBodiesAreBoundedAndNeverLinger(t *testing.T) {
	var f fresh
	f.put(1, []byte("one"))
	f.put(2, []byte("two"))
	evs := []Event{{EventRecord: EventRecord{Seq: 1}}, {EventRecord: EventRecord{Seq: 3}}}
	if missing := f.take(evs); len(missing) != 1 || missing[0] != 3 || string(evs[0].Payload) != "one" {
		t.Fatalf("take: missing %v, payload %q", missing, evs[0].Payload)
	}
	f.put(3, []byte("three")) // put late: the processor read #3 from the store
	f.forgetThrough(3)
	if n := f.len(); n != 0 {
		t.Fatalf("%d bodies left after the processor passed them", n)
	}
	big := make([]byte, freshLimit/2+1)
	f.put(10, big)
	f.put(11, big) // does not fit
	if missing := f.take([]Event{{EventRecord: EventRecord{Seq: 11}}}); len(missing) != 1 {
		t.Fatal("a body over the limit was kept")
	}
	if missing := f.take([]Event{{EventRecord: EventRecord{Seq: 10}}}); len(missing) != 0 || f.size != 0 {
		t.Fatalf("size %d after taking everything", f.size)
	}
}
