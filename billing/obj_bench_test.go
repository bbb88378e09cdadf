package billing

import (
	"os"
	"strings"
	"testing"
)

// packReads is what checkoutCompleted reads of a pack checkout (through
// userOf, purchaseType, manualCapture and amount).
type packReads struct {
	id, mode, status, customer, user, typ string
	credits, total                        int64
	currency, intent, sub, email, name    string
	capture, captureMethod                string
	creditsRaw                            any
}

// packCheckoutReads reads a pack checkout as checkoutCompleted does, in its
// order. oldPackCheckoutReads is the same on the decoded map: two copies,
// because calls through a generic or an interface would move the path
// arguments to the heap and measure that instead.
func packCheckoutReads(o Obj) (r packReads) {
	r.id, r.mode, r.status, r.customer = o.Str("id"), o.Str("mode"), o.Str("payment_status"), o.Str("customer")
	r.user = o.First([]string{"metadata", "user_id"}, []string{"metadata", "userId"}, []string{"client_reference_id"})
	r.typ = o.Str("metadata", "type")
	for _, k := range []string{"credits", "tokens"} {
		if v := o.Get("metadata", k); v != nil && v != "" {
			r.creditsRaw = v
			r.credits, _ = o.Int("metadata", k)
			break
		}
	}
	r.total, _ = o.Int("amount_total")
	r.currency, r.intent, r.sub = o.Str("currency"), o.Str("payment_intent"), o.Str("subscription")
	r.email, r.name = o.Str("customer_details", "email"), o.Str("customer_details", "name")
	r.capture, r.captureMethod = o.Str("metadata", "capture"), o.Str("payment_intent", "capture_method")
	return r
}

func oldPackCheckoutReads(o refObj) (r packReads) {
	r.id, r.mode, r.status, r.customer = o.Str("id"), o.Str("mode"), o.Str("payment_status"), o.Str("customer")
	r.user = o.First([]string{"metadata", "user_id"}, []string{"metadata", "userId"}, []string{"client_reference_id"})
	r.typ = o.Str("metadata", "type")
	for _, k := range []string{"credits", "tokens"} {
		if v := o.Get("metadata", k); v != nil && v != "" {
			r.creditsRaw = v
			r.credits, _ = o.Int("metadata", k)
			break
		}
	}
	r.total, _ = o.Int("amount_total")
	r.currency, r.intent, r.sub = o.Str("currency"), o.Str("payment_intent"), o.Str("subscription")
	r.email, r.name = o.Str("customer_details", "email"), o.Str("customer_details", "name")
	r.capture, r.captureMethod = o.Str("metadata", "capture"), o.Str("payment_intent", "capture_method")
	return r
}

// corpusEvents returns the bodies of the corpora's events whose type
// passes keep.
func corpusEvents(b *testing.B, keep func(typ string) bool) [][]byte {
	var bodies [][]byte
	for _, f := range corpusFiles(b) {
		body, err := os.ReadFile(f)
		if err != nil {
			b.Fatal(err)
		}
		if env, err := ParseEnvelope(body); err == nil && keep(env.Type) {
			bodies = append(bodies, body)
		}
	}
	if len(bodies) == 0 {
		b.Fatal("no such events in the corpora")
	}
	return bodies
}

// BenchmarkDataObject measures, per event, reading data.object the old way
// (encoding/json into a map) and the new (the view), on the corpora: alone
// on every event of a type the rules use, and with the reads of the
// pack-checkout rule on every checkout session event.
func BenchmarkDataObject(b *testing.B) {
	used := corpusEvents(b, Uses)
	checkouts := corpusEvents(b, func(typ string) bool { return strings.HasPrefix(typ, "checkout.session.") })
	for _, body := range checkouts {
		ref, err := refDataObject(body)
		if err != nil {
			b.Fatal(err)
		}
		o, _ := DataObject(body)
		if got, want := packCheckoutReads(o), oldPackCheckoutReads(ref); got != want {
			b.Fatalf("the pack-checkout reads differ:\n got  %+v\n want %+v", got, want)
		}
	}
	sink := 0
	b.Run("used-types/old", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			o, _ := refDataObject(used[i%len(used)])
			sink += len(o)
		}
	})
	b.Run("used-types/new", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			o, _ := DataObject(used[i%len(used)])
			sink += len(o.members)
		}
	})
	b.Run("pack-checkout/old", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			o, _ := refDataObject(checkouts[i%len(checkouts)])
			sink += len(oldPackCheckoutReads(o).id)
		}
	})
	b.Run("pack-checkout/new", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			o, _ := DataObject(checkouts[i%len(checkouts)])
			sink += len(packCheckoutReads(o).id)
		}
	})
	_ = sink
}
