package tui

import (
	"context"
	"strings"
	"testing"

	"creditdesk/billing"
	"creditdesk/internal/testkit"
)

// hostileReason is what an app's end user can put in a spend's reason: set
// the window title, then clear the screen.
const hostileReason = "\u001b]0;PWNED\u0007\u001b[2Jimage for Zoë"

func TestHostileTextFromTheAPIReachesNoTerminal(t *testing.T) {
	svc, _ := testkit.SampleService(t)
	ctx := context.Background()
	if _, err := svc.Adjust(ctx, billing.Adjustment{User: "u_42", Delta: 100, Reason: "welcome \u001b[31mred\u001b[0m", Create: true}); err != nil {
		t.Fatal(err)
	}
	d := newDriver(t, svc, Options{}, 120, 40)
	if _, err := svc.Spend(ctx, "app", "u_42", 5, hostileReason, "k1"); err != nil {
		t.Fatal(err)
	}
	clean := func(where, v string) {
		t.Helper()
		if i := strings.IndexAny(v, "\u001b\u0007\u009b\u009d"); i >= 0 {
			t.Fatalf("%s: control byte %q reaches the terminal:\n%q", where, v[i], v)
		}
	}
	d.press("2")
	live := d.expect("image for Zoë")
	clean("Live", live)
	if strings.Contains(live, "PWNED") {
		t.Errorf("Live shows the escape sequence's payload:\n%s", live)
	}
	openDetail(t, d)
	detail := d.expect("image for Zo")
	clean("user detail", detail)
	clean("user detail", d.view())
}
