package tui

import (
	"slices"
	"strings"
	"testing"

	"creditdesk/billing"
)

// The Deliveries tab: the last tab; r resends the selected message, R
// every failed one, e re-enables a disabled endpoint; each says so on the
// status line and the list shows the new state.
func TestDeliveriesPaneResendsAndEnables(t *testing.T) {
	f := goldenBackend().fakeBackend
	f.out.endpoints[0].Disabled = true
	d := newDriver(t, f, Options{}, 120, 30)
	d.press("shift+tab")
	if !strings.Contains(d.tabBar(), "Deliveries]") {
		t.Fatalf("tab bar %q", d.tabBar())
	}
	v := d.expect("DISABLED")
	if strings.Contains(v, "token=secret") {
		t.Fatalf("the endpoint's query (a token) is shown:\n%s", v)
	}
	// The newest (seq 5) is selected; down twice is plan.started (seq 3).
	d.press("down")
	d.press("down")
	d.press("r")
	d.expect("plan.started 3 queued again")
	d.press("R")
	d.expect("1 failed messages queued again")
	if !slices.Equal(f.out.resent, []uint64{3, 1}) {
		t.Fatalf("resent %v", f.out.resent)
	}
	d.press("e")
	d.expect("re-enabled https://app.example.com")
	if !slices.Equal(f.out.enabled, []string{"ep_1"}) {
		t.Fatalf("enabled %v", f.out.enabled)
	}
	v = d.expect("failing since")
	if strings.Contains(v, "DISABLED") || strings.Contains(v, "failed       21") {
		t.Fatalf("after resend and enable:\n%s", v)
	}
	d.press("e")
	d.expect("no endpoint is disabled")
	if f.out.deliveries[0].State != billing.DeliveryPending {
		t.Fatalf("failed message not queued: %+v", f.out.deliveries[0])
	}
}
