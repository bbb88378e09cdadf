package billing_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	. "creditdesk/billing"
)

// grantAt posts a grant of n credits expiring at exp (zero: never).
func (h *harness) grantAt(user string, n int64, exp time.Time, key string) {
	h.t.Helper()
	err := h.st.Update(h.now, func(tx Tx) error {
		_, _, err := Post(tx, Posting{UserID: user, Delta: n, Key: key, Reason: "seed", Source: "evt_" + key, Kind: "pack", ExpiresAt: exp})
		return err
	})
	if err != nil {
		h.t.Fatal(err)
	}
}

func TestSpendTakesEarliestExpiryFirstAndNeverExpired(t *testing.T) {
	h := newHarness(t, testCatalog())
	ctx := context.Background()
	h.grantAt("u1", 50, time.Time{}, "never")
	h.grantAt("u1", 30, t0.Add(48*time.Hour), "later")
	h.grantAt("u1", 20, t0.Add(24*time.Hour), "sooner")
	h.grantAt("u1", 40, t0.Add(time.Hour), "gone")
	h.now = t0.Add(2 * time.Hour) // "gone" has expired, not yet written off

	b, err := h.svc.UserBalance("u1")
	if err != nil {
		t.Fatal(err)
	}
	if b.Spendable != 100 || len(b.Grants) != 3 {
		t.Fatalf("balance %d with %d grants, want 100 in 3 (expired lot left out)", b.Spendable, len(b.Grants))
	}
	if _, err := h.svc.Spend(ctx, "app", "u1", 101, "too much", "k0"); !isInsufficient(err, 100) {
		t.Fatalf("spend 101 of 100: %v, want insufficient with balance 100", err)
	}
	res, err := h.svc.Spend(ctx, "app", "u1", 25, "render", "k1")
	if err != nil {
		t.Fatal(err)
	}
	if res.Credits != 75 || res.Replayed {
		t.Fatalf("after spending 25: %+v, want 75 credits", res)
	}
	b, _ = h.svc.UserBalance("u1")
	left := map[string]int64{}
	for _, g := range b.Grants {
		left[g.Source] = g.Remaining
	}
	// 20 from the soonest lot, then 5 from the next; the never-expiring
	// lot untouched.
	if left["evt_sooner"] != 0 || left["evt_later"] != 25 || left["evt_never"] != 50 {
		t.Fatalf("lots after spend: %v", left)
	}
	es, _ := h.svc.Ledger("u1", 10)
	if es[0].Source != "api:app" || es[0].Reason != "render" || es[0].Delta != -25 || es[0].Key != "api:app:k1" {
		t.Fatalf("spend entry %+v", es[0])
	}
	h.verify()
}

func isInsufficient(err error, balance int64) bool {
	var ins *ErrInsufficient
	return errors.As(err, &ins) && ins.Balance == balance
}

func TestSpendIdempotency(t *testing.T) {
	h := newHarness(t, testCatalog())
	ctx := context.Background()
	h.grantAt("u1", 100, time.Time{}, "g")
	first, err := h.svc.Spend(ctx, "app", "u1", 10, "a", "k")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.svc.Spend(ctx, "app", "u1", 5, "b", "k2"); err != nil {
		t.Fatal(err)
	}
	again, err := h.svc.Spend(ctx, "app", "u1", 10, "a", "k")
	if err != nil || !again.Replayed || again.Credits != first.Credits || again.EntryID != first.EntryID {
		t.Fatalf("retry: %+v %v, want the first answer %+v replayed", again, err, first)
	}
	for name, call := range map[string]func() (APIResult, error){
		"other amount": func() (APIResult, error) { return h.svc.Spend(ctx, "app", "u1", 11, "a", "k") },
		"other reason": func() (APIResult, error) { return h.svc.Spend(ctx, "app", "u1", 10, "b", "k") },
		"other user":   func() (APIResult, error) { return h.svc.Spend(ctx, "app", "u2", 10, "a", "k") },
		"a grant":      func() (APIResult, error) { return h.svc.APIGrant(ctx, "app", "u1", 10, "a", "k") },
	} {
		if _, err := call(); !errors.Is(err, ErrIdempotencyMismatch) {
			t.Errorf("%s with a used key: %v, want ErrIdempotencyMismatch", name, err)
		}
	}
	// Another key's namespace is its own.
	if res, err := h.svc.Spend(ctx, "other", "u1", 10, "a", "k"); err != nil || res.Replayed {
		t.Fatalf("same idempotency key under another API key: %+v %v", res, err)
	}
	if b, _ := h.svc.UserBalance("u1"); b.Spendable != 75 {
		t.Fatalf("balance %d, want 75", b.Spendable)
	}
	h.verify()
}

func TestRefusedSpendWritesNothing(t *testing.T) {
	h := newHarness(t, testCatalog())
	h.grantAt("u1", 10, t0.Add(time.Hour), "g")
	h.now = t0.Add(2 * time.Hour)
	if _, err := h.svc.Spend(context.Background(), "app", "u1", 5, "", "k"); !isInsufficient(err, 0) {
		t.Fatalf("spending expired credits: %v", err)
	}
	if _, err := h.svc.Spend(context.Background(), "app", "nobody", 1, "", "k"); !isInsufficient(err, 0) {
		t.Fatalf("unknown user: %v", err)
	}
	if _, err := h.svc.UserBalance("nobody"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("a refused spend created the user: %v", err)
	}
	if es, _ := h.svc.Ledger("u1", 10); len(es) != 1 {
		t.Fatalf("%d entries after refused spends, want the grant alone", len(es))
	}
	// A refusal is not remembered: once there are credits, the same key spends.
	h.grantAt("u1", 10, time.Time{}, "g2")
	if res, err := h.svc.Spend(context.Background(), "app", "u1", 5, "", "k"); err != nil || res.Credits != 5 {
		t.Fatalf("after top-up: %+v %v", res, err)
	}
	h.verify()
}

func TestAPIKeys(t *testing.T) {
	h := newHarness(t, testCatalog())
	plain, err := h.svc.CreateAPIKey(context.Background(), "backend")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(plain, "cdk_") || len(plain) < 40 {
		t.Fatalf("key %q", plain)
	}
	if name, ok := h.svc.AuthenticateAPIKey(plain); !ok || name != "backend" {
		t.Fatalf("authenticate: %q %v", name, ok)
	}
	for _, wrong := range []string{"", "cdk_", plain[:len(plain)-1], plain + "0", strings.ToUpper(plain), "Bearer " + plain} {
		if _, ok := h.svc.AuthenticateAPIKey(wrong); ok {
			t.Errorf("%q authenticated", wrong)
		}
	}
	if _, err := h.svc.CreateAPIKey(context.Background(), "backend"); !errors.Is(err, ErrKeyExists) {
		t.Fatalf("second key named backend: %v", err)
	}
	for _, bad := range []string{"", "has space", strings.Repeat("x", 65), "ünï"} {
		if _, err := h.svc.CreateAPIKey(context.Background(), bad); !errors.Is(err, ErrInvalid) {
			t.Errorf("name %q: %v", bad, err)
		}
	}
	second, _ := h.svc.CreateAPIKey(context.Background(), "worker")
	if err := h.svc.RevokeAPIKey(context.Background(), "backend"); err != nil {
		t.Fatal(err)
	}
	if _, ok := h.svc.AuthenticateAPIKey(plain); ok {
		t.Fatal("revoked key still works")
	}
	if _, ok := h.svc.AuthenticateAPIKey(second); !ok {
		t.Fatal("revoking one key broke another")
	}
	if err := h.svc.RevokeAPIKey(context.Background(), "nope"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("revoke unknown: %v", err)
	}
	if _, err := h.svc.CreateAPIKey(context.Background(), "backend"); !errors.Is(err, ErrKeyExists) {
		t.Fatalf("a revoked key's name was reused: %v", err)
	}
	ks, err := h.svc.ListAPIKeys()
	if err != nil || len(ks) != 2 || ks[0].Name != "backend" || !ks[0].Revoked() || ks[1].Revoked() {
		t.Fatalf("list: %+v %v", ks, err)
	}
	if ks[1].Hint != "cdk_…"+second[len(second)-4:] {
		t.Fatalf("hint %q", ks[1].Hint)
	}
	// Only hashes are stored: the keys appear nowhere in the file.
	path := h.db.Path()
	h.db.Close()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(raw, []byte(plain)) || bytes.Contains(raw, []byte(second[4:])) {
		t.Fatal("an API key is stored in the clear")
	}
}

func TestAPISpendPublishesActivity(t *testing.T) {
	h := newHarness(t, testCatalog())
	feed, stop := h.svc.Subscribe()
	defer stop()
	if _, err := h.svc.APIGrant(context.Background(), "app", "u9", 40, "referral bonus", "r1"); err != nil {
		t.Fatal(err)
	}
	if _, err := h.svc.APIGrant(context.Background(), "app", "u9", 40, "referral bonus", "r1"); err != nil {
		t.Fatal(err)
	}
	if _, err := h.svc.Spend(context.Background(), "app", "u9", 15, "export", "s1"); err != nil {
		t.Fatal(err)
	}
	var got []Activity
	for len(got) < 2 {
		select {
		case a := <-feed:
			got = append(got, a)
		case <-time.After(2 * time.Second):
			t.Fatalf("feed had %d activities, want 2", len(got))
		}
	}
	select {
	case a := <-feed:
		t.Fatalf("a replayed grant was published again: %+v", a)
	default:
	}
	if g := got[0]; g.Kind != ActivityAPI || g.User != "u9" || g.Amount != 40 || g.Reason != "referral bonus" || !strings.Contains(g.Type, "app") {
		t.Fatalf("grant activity %+v", g)
	}
	if s := got[1]; s.Kind != ActivityAPI || s.Amount != -15 || s.Reason != "export" {
		t.Fatalf("spend activity %+v", s)
	}
}
