package billing_test

import (
	"context"
	"errors"
	"math"
	"strings"
	"testing"

	. "creditdesk/billing"
)

func TestManualGrantsBeyondMaxCreditsAreInvalidNotWrapped(t *testing.T) {
	h := newHarness(t, testCatalog())
	ctx := context.Background()
	// creditdesk grant U 9223372036854775807, twice.
	for range 2 {
		if _, err := h.svc.Adjust(ctx, Adjustment{User: "u1", Delta: math.MaxInt64, Reason: "huge", Create: true}); !errors.Is(err, ErrInvalid) {
			t.Fatalf("grant of MaxInt64: %v, want ErrInvalid", err)
		}
	}
	if _, err := h.svc.Adjust(ctx, Adjustment{User: "u1", Delta: MaxCredits, Reason: "most", Create: true}); err != nil {
		t.Fatal(err)
	}
	_, err := h.svc.Adjust(ctx, Adjustment{User: "u1", Delta: 1, Reason: "one more", Create: true})
	if !errors.Is(err, ErrInvalid) || strings.Contains(err.Error(), "\n") {
		t.Fatalf("grant past the balance bound: %v", err)
	}
	if b := h.user("u1").User.Balance; b != MaxCredits {
		t.Fatalf("balance %d, want %d", b, MaxCredits)
	}
	h.verify()
}

func attentionFor(t *testing.T, svc *Service, id string) []AttentionItem {
	t.Helper()
	items, err := svc.Attention()
	if err != nil {
		t.Fatal(err)
	}
	var out []AttentionItem
	for _, it := range items {
		if it.ID == id {
			out = append(out, it)
		}
	}
	return out
}

func TestMetadataCreditsOutOfRangeOrFractionalAreAttentionItems(t *testing.T) {
	for name, credits := range map[string]any{
		"MaxInt64":    "9223372036854775807",
		"past max":    "1000000000001",
		"fraction":    "9.5",
		"JSON number": 9.5,
		"zero":        "0",
		"negative":    "-5",
		"words":       "lots",
	} {
		t.Run(name, func(t *testing.T) {
			h := newHarness(t, testCatalog())
			h.send(payload("evt_1", "checkout.session.completed", t0, "2023-10-16",
				session("cs_1", "u1", M{"user_id": "u1", "credits": credits}, nil)))
			items := attentionFor(t, h.svc, "cs_1")
			if len(items) != 1 || items[0].Kind != AttnUnresolved || !strings.Contains(items[0].Detail, "invalid credits") {
				t.Fatalf("attention %+v, want one unresolved item naming invalid credits", items)
			}
			if b := h.user("u1").User.Balance; b != 0 {
				t.Fatalf("balance %d, want nothing granted", b)
			}
			if ev := h.event("evt_1"); !strings.Contains(ev.Reason, "invalid credits") {
				t.Fatalf("event reason %q", ev.Reason)
			}
			h.verify()
		})
	}
}

func TestStripePurchasePastTheBalanceBoundIsAnAttentionItem(t *testing.T) {
	h := newHarness(t, testCatalog())
	if _, err := h.svc.Adjust(context.Background(), Adjustment{User: "u1", Delta: MaxCredits, Reason: "most", Create: true}); err != nil {
		t.Fatal(err)
	}
	h.send(payload("evt_1", "checkout.session.completed", t0, "2023-10-16",
		session("cs_1", "u1", M{"user_id": "u1", "credits": "5"}, nil)))
	items := attentionFor(t, h.svc, "evt_1")
	if len(items) != 1 || items[0].Kind != AttnFailed || !strings.Contains(items[0].Detail, "beyond") {
		t.Fatalf("attention %+v, want the event failed with the bound in the detail", items)
	}
	if b := h.user("u1").User.Balance; b != MaxCredits {
		t.Fatalf("balance %d, want %d", b, MaxCredits)
	}
	h.verify()
}

func TestCatalogRefusesCreditsBeyondMax(t *testing.T) {
	for _, text := range []string{
		"[packs.big]\ncredits = 1000000000001\nprice_ids = [\"price_big\"]\n",
		"[plans.big]\nmonthly_credits = 1000000000001\nprice_ids = [\"price_big\"]\n",
		"free_credits = 1000000000001\n",
	} {
		if _, err := ParseCatalog("creditdesk.toml", text); err == nil || !strings.Contains(err.Error(), "1,000,000,000,000") {
			t.Errorf("%q: %v", text, err)
		}
	}
}
