package billing_test

import (
	"testing"

	. "creditdesk/billing"
)

// The example shipped beside the binary must load as written.
func TestExampleCatalogLoads(t *testing.T) {
	c, err := LoadCatalog("../creditdesk.example.toml")
	if err != nil {
		t.Fatal(err)
	}
	if c.Plans["pro"].MonthlyCredits != 2500 || c.Packs["starter"].Amount != 900 || c.FreeCredits != 100 {
		t.Fatalf("example catalog read as %+v", c)
	}
	if n, ok := c.Resolve("plan-enterprise"); !ok || n != "enterprise" {
		t.Fatal("plan-enterprise does not resolve")
	}
}
