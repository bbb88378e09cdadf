package tui

import (
	"errors"
	"strings"
	"testing"
	"time"

	"creditdesk/billing"
)

// The Overview reads its figures again when the feed says something was
// applied, not on a timer, and not for a duplicate or a rejected request;
// the applied event shows at its foot.
func TestOverviewUpdatesFromTheFeed(t *testing.T) {
	f := newFake()
	f.insight = goldenInsight()
	d := newDriver(t, f, Options{}, 100, 30)
	d.expect("92.00 USD")
	reads := func() int {
		f.mu.Lock()
		defer f.mu.Unlock()
		return len(f.insightCalls)
	}
	if n := reads(); n != 1 {
		t.Fatalf("%d reads at start, want 1", n)
	}
	d.advance(10 * statsEvery)
	if n := reads(); n != 1 {
		t.Fatalf("%d reads after 20s with nothing applied: the Overview polls", n)
	}
	f.feed <- billing.Activity{At: fixedNow, Kind: billing.ActivityDuplicate, Seq: 9, Type: "invoice.paid"}
	f.feed <- billing.Activity{At: fixedNow, Kind: billing.ActivityRejected, Reason: "bad signature"}
	d.settle()
	if n := reads(); n != 1 {
		t.Fatalf("%d reads after a duplicate and a rejection, want 1", n)
	}
	// A pack is paid today: 20.00 USD more.
	f.mu.Lock()
	last := &f.insight.Days[len(f.insight.Days)-1]
	// A new map: the pane keeps the one it read.
	last.Revenue = map[string]billing.Money{"usd": {Gross: last.Revenue["usd"].Gross + 2000}}
	f.mu.Unlock()
	f.feed <- billing.Activity{At: fixedNow, Kind: billing.ActivityEvent, Seq: 10, EventID: "evt_10", Type: "checkout.session.completed",
		User: "u_77", Amount: 1000, State: billing.StateApplied}
	v := d.expect("112.00 USD")
	if n := reads(); n != 2 {
		t.Errorf("%d reads after one applied event, want 2", n)
	}
	foot := v[strings.Index(v, "Latest events"):]
	if !strings.Contains(lineWith(foot, "checkout.session.completed"), "u_77") {
		t.Errorf("the applied event is not at the foot:\n%s", foot)
	}
}

// Figures the store cannot give say so in one line instead of zeros.
func TestOverviewSaysWhenFiguresAreUnavailable(t *testing.T) {
	d := newDriver(t, failingInsight{newFake()}, Options{}, 80, 24)
	d.expect("figures unavailable: this store keeps no rollups")
}

type failingInsight struct{ *fakeBackend }

func (failingInsight) Insight(_, _ time.Time) (billing.Insight, error) {
	return billing.Insight{}, errors.New("this store keeps no rollups")
}
