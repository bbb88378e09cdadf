package webhook

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"creditdesk/billing"
	"creditdesk/internal/testkit"
)

// GET /api/users/{id} returns what the user's tier unlocks: the plan's
// features (from the catalog file, over the Stripe product's features.*
// metadata) merged over the free tier's; a user without a plan gets the
// free tier's.
func TestAPIGetUserFeatures(t *testing.T) {
	cat, err := billing.ParseCatalog("creditdesk.toml", `
free_features = { max_projects = 1, support = "community" }
[plans.pro]
monthly_credits = 2500
price_ids = ["price_pro"]
features = { max_projects = 5, models = ["gpt-4o", "claude"] }
`)
	if err != nil {
		t.Fatal(err)
	}
	st := testkit.TempStore(t)
	now := time.Now().UTC()
	svc := billing.NewService(st, billing.Options{Rules: billing.Rules{Catalog: cat}, Clock: func() time.Time { return now }})
	if err := st.Update(now, func(tx billing.Tx) error {
		for _, u := range []billing.User{{ID: "u_pro", Tier: "pro"}, {ID: "u_free", Tier: "free"}} {
			if err := tx.PutUser(u); err != nil {
				return err
			}
		}
		// What a product.updated event or a catalog sync caches.
		if err := tx.PutPrice(billing.CachedPrice{ID: "price_pro", Product: "prod_pro", Active: true}); err != nil {
			return err
		}
		return tx.PutProduct(billing.CachedProduct{ID: "prod_pro", Active: true,
			Features: billing.FeaturesFromMetadata(map[string]string{"features.max_projects": "3", "features.sso": "true", "type": "pro"})})
	}); err != nil {
		t.Fatal(err)
	}
	s := NewServer(DefaultPath, NewReceiver(svc, []string{oldSecret}), func() error { return nil })
	NewAPI(svc, nil, DefaultLimits()).Mount(s.Mux)
	srv := httptest.NewServer(s.Mux)
	defer srv.Close()
	key, err := svc.CreateAPIKey(context.Background(), "app")
	if err != nil {
		t.Fatal(err)
	}
	get := func(id string) map[string]any {
		req, _ := http.NewRequest(http.MethodGet, srv.URL+"/api/users/"+id, nil)
		req.Header.Set("Authorization", "Bearer "+key)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var out struct {
			Features map[string]any `json:"features"`
		}
		if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || resp.StatusCode != 200 {
			t.Fatalf("%s: %d %v", id, resp.StatusCode, err)
		}
		return out.Features
	}
	pro := get("u_pro")
	if pro["max_projects"] != float64(5) || pro["sso"] != true || pro["support"] != "community" {
		t.Fatalf("pro features %v: want max_projects 5 (the file over the metadata's 3), sso from metadata, support from free", pro)
	}
	if ms, _ := pro["models"].([]any); len(ms) != 2 || ms[0] != "gpt-4o" {
		t.Fatalf("pro models %v", pro["models"])
	}
	free := get("u_free")
	if len(free) != 2 || free["max_projects"] != float64(1) {
		t.Fatalf("free features %v", free)
	}
}
