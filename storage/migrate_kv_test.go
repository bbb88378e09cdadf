package storage

import (
	"encoding/json"
	"path/filepath"
	"testing"
	"time"

	"creditdesk/billing"

	bolt "go.etcd.io/bbolt"
)

// oldLayout turns the database at path into what schema version 5 wrote:
// no typed buckets, every small record in the kv bucket under its prefix,
// values as JSON (strings too), no flag counter.
func oldLayout(t *testing.T, path string, kv map[string]any) {
	t.Helper()
	rewriteFile(t, path, func(tx *bolt.Tx) error {
		if err := asVersion(tx, 5, typedBuckets...); err != nil {
			return err
		}
		if err := tx.Bucket(metaBucket).Delete(counterKey("flags")); err != nil {
			return err
		}
		if err := recordsAsJSON(tx); err != nil {
			return err
		}
		b, err := tx.CreateBucket(kvBucket)
		if err != nil {
			return err
		}
		for k, v := range kv {
			raw, err := json.Marshal(v)
			if err != nil {
				return err
			}
			if err := b.Put([]byte(k), raw); err != nil {
				return err
			}
		}
		return nil
	})
}

// A database of the previous layout opens: migration 6 moves every kv
// record to its bucket in one transaction, counts the flags, and Verify
// passes on the result.
func TestMigrationMovesKVToTypedBuckets(t *testing.T) {
	path := filepath.Join(t.TempDir(), "v5.db")
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	// The records that are not in kv, as the previous version wrote them
	// (their buckets did not change).
	err = s.Update(t0, func(btx billing.Tx) error {
		tx := btx.(*Tx)
		if _, _, err := tx.Post(billing.Posting{UserID: "u1", Delta: 2500, Key: "invoice:in_1", Kind: billing.KindPlan,
			ExpiresAt: t0.Add(30 * 24 * time.Hour), PurchaseID: "in_1"}); err != nil {
			return err
		}
		for _, p := range []billing.Purchase{
			{ID: "in_1", UserID: "u1", Kind: billing.PurchasePlan, Status: "paid", Credits: 2500},
			{ID: "cs_1", UserID: "u2", Status: "unresolved", PaymentIntent: "pi_1"},
		} {
			if err := tx.PutPurchase(p); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	synced := t0.Add(-time.Hour)
	sub := billing.Subscription{ID: "sub_1", CustomerID: "cus_u1", UserID: "u1", Plan: "pro", Status: "active", PeriodEnd: t0.Add(30 * 24 * time.Hour)}
	flag := billing.Flag{Kind: billing.AttnUnresolved, ID: "cs_1", User: "u2", Detail: "purchase type unknown", At: t0}
	past := billing.Flag{Kind: billing.AttnPastDue, ID: "sub_1", User: "u1", Detail: "subscription past_due", At: t0}
	items := billing.LineItems{Items: []billing.LineItem{{PriceID: "price_x", ProductID: "prod_x", Quantity: 2}}}
	oldLayout(t, path, map[string]any{
		"sub:sub_1":            sub,
		"attn:unresolved:cs_1": flag,
		"attn:past_due:sub_1":  past,
		"assign:cs_1":          "topup",
		"pi:pi_1":              "cs_1",
		"pi:pi_in_1":           "in_1",
		"charge:ch_in_1":       "in_1",
		"lineitems:cs_1":       items,
		"product:prod_x":       billing.CachedProduct{ID: "prod_x", Name: "Credits", Credits: 100, Active: true, Updated: 10},
		"price:price_x":        billing.CachedPrice{ID: "price_x", Product: "prod_x", UnitAmount: 500, Currency: "jpy", Active: true, Updated: 11},
		"coupon:SAVE20":        billing.CachedCoupon{ID: "SAVE20", PercentOff: 20, Duration: "once", Valid: true, Updated: 12},
		"catalog:synced_at":    synced,
	})

	s, err = Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	mustVerify(t, s)
	if c, _ := s.Counts(); c.Flags != 2 || c.Users != 1 || c.Purchases != 2 {
		t.Fatalf("counts after migration %+v, want 2 flags, 1 user, 2 purchases", c)
	}
	err = s.View(t0, func(btx billing.Tx) error {
		tx := btx.(*Tx)
		if tx.tx.Bucket(kvBucket) != nil {
			t.Error("the kv bucket is still there")
		}
		if got, ok, err := tx.Subscription("sub_1"); err != nil || !ok || got.Plan != "pro" || !got.PeriodEnd.Equal(sub.PeriodEnd) {
			t.Errorf("subscription: %+v %v %v", got, ok, err)
		}
		if subs, err := tx.UserSubscriptions("u1"); err != nil || len(subs) != 1 || subs[0].ID != "sub_1" {
			t.Errorf("u1's subscriptions: %+v %v", subs, err)
		}
		if got, ok, err := tx.Flag(billing.AttnUnresolved, "cs_1"); err != nil || !ok || got != flag {
			t.Errorf("flag: %+v %v %v", got, ok, err)
		}
		if fs, err := tx.Flags(); err != nil || len(fs) != 2 {
			t.Errorf("flags: %+v %v", fs, err)
		}
		if a, ok, err := tx.Assignment("cs_1"); err != nil || !ok || a != "topup" {
			t.Errorf("assignment: %q %v %v", a, ok, err)
		}
		for _, c := range []struct{ got, want string }{
			{must(tx.PaymentIntentPurchase("pi_1")), "cs_1"},
			{must(tx.PaymentIntentPurchase("pi_in_1")), "in_1"},
			{must(tx.ChargePurchase("ch_in_1")), "in_1"},
			{must(tx.ChargePurchase("ch_none")), ""},
		} {
			if c.got != c.want {
				t.Errorf("payment index: %q, want %q", c.got, c.want)
			}
		}
		if li, ok, err := tx.LineItems("cs_1"); err != nil || !ok || len(li.Items) != 1 || li.Items[0].Quantity != 2 {
			t.Errorf("line items: %+v %v %v", li, ok, err)
		}
		if ps, err := tx.Products(); err != nil || len(ps) != 1 || ps[0].Credits != 100 {
			t.Errorf("products: %+v %v", ps, err)
		}
		if p, ok, err := tx.Price("price_x"); err != nil || !ok || p.UnitAmount != 500 || p.Currency != "jpy" {
			t.Errorf("price: %+v %v %v", p, ok, err)
		}
		if cs, err := tx.Coupons(); err != nil || len(cs) != 1 || cs[0].PercentOff != 20 {
			t.Errorf("coupons: %+v %v", cs, err)
		}
		if at, err := tx.CatalogSynced(); err != nil || !at.Equal(synced) {
			t.Errorf("catalog synced at %v %v, want %v", at, err, synced)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// And it goes on working: a flag cleared is counted out.
	if err := s.Update(t0, func(btx billing.Tx) error { return btx.DeleteFlag(billing.AttnPastDue, "sub_1") }); err != nil {
		t.Fatal(err)
	}
	if c, _ := s.Counts(); c.Flags != 1 {
		t.Fatalf("%d flags after clearing one, want 1", c.Flags)
	}
	mustVerify(t, s)
}

// A kv record of a kind nobody wrote stops the migration instead of being
// lost: the database stays as it was, at version 5.
func TestMigrationRefusesAnUnknownKVRecord(t *testing.T) {
	path := filepath.Join(t.TempDir(), "v5.db")
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	oldLayout(t, path, map[string]any{"sub:sub_1": billing.Subscription{ID: "sub_1"}, "mystery:1": 1})
	if s, err := Open(path, Options{}); err == nil {
		s.Close()
		t.Fatal("opened a database with a kv record of no known kind")
	}
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	db.View(func(tx *bolt.Tx) error {
		if v := btoi(tx.Bucket(metaBucket).Get(schemaVersionKey)); v != 5 || tx.Bucket(kvBucket).Get([]byte("sub:sub_1")) == nil {
			t.Errorf("after the refused migration: version %d, kv kept: %v", v, tx.Bucket(kvBucket).Get([]byte("sub:sub_1")) != nil)
		}
		return nil
	})
}

func must(s string, err error) string {
	if err != nil {
		return "error: " + err.Error()
	}
	return s
}
