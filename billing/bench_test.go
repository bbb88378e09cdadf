package billing_test

import (
	"context"
	"fmt"
	"testing"

	. "creditdesk/billing"
)

// BenchmarkApplyPackPurchases measures the processor applying stored pack
// checkouts (one ledger entry each) spread over 1,000 users.
func BenchmarkApplyPackPurchases(b *testing.B) {
	h := newHarness(&testing.T{}, Catalog{})
	for i := 0; i < b.N; i++ {
		u := fmt.Sprintf("u%d", i%1000)
		body := payload(fmt.Sprint("evt_", i), "checkout.session.completed", t0, "2023-10-16",
			session(fmt.Sprint("cs_", i), u, M{"user_id": u, "credits": "100"}, nil))
		if _, _, err := h.svc.Ingest(body, "bench"); err != nil {
			b.Fatal(err)
		}
	}
	b.ResetTimer()
	if _, err := h.svc.ProcessPending(context.Background()); err != nil {
		b.Fatal(err)
	}
}
