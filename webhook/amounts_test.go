package webhook

import (
	"strings"
	"testing"
	"time"

	"creditdesk/billing"
)

func TestAPIGrantPastTheBalanceBoundIs400(t *testing.T) {
	r := newAPIRig(t, DefaultLimits(), false)
	r.seed("u1", billing.MaxCredits, time.Time{}, "evt_1")
	a := r.do("POST", "/api/users/u1/grant", `{"amount":1,"reason":"one more"}`, "Idempotency-Key", "k1")
	if a.status != 400 || !strings.Contains(a.raw, "beyond") {
		t.Fatalf("grant past MaxCredits: %d %s", a.status, a.raw)
	}
	if es := r.ledger("u1"); len(es) != 1 || es[0].BalanceAfter != billing.MaxCredits {
		t.Fatalf("ledger %+v", es)
	}
	r.verify()
}
