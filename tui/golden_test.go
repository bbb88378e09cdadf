package tui

import (
	"fmt"
	"io"
	"testing"
	"time"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/lipgloss"
	"github.com/charmbracelet/x/exp/teatest"
	"github.com/muesli/termenv"

	"creditdesk/billing"
)

// untilReady runs the console in a real program and quits it as soon as
// ready says the screen is in the state a golden file records, so no test
// sleeps or polls the output.
type untilReady struct {
	*model
	ready func(*model) bool
}

func (u untilReady) Update(msg tea.Msg) (tea.Model, tea.Cmd) {
	_, cmd := u.model.Update(msg)
	if u.ready(u.model) {
		return u, tea.Quit
	}
	return u, cmd
}

// requireGolden runs the console on b in a real program (teatest) at w by
// h, with a renderer on the ASCII profile passed through Options.Renderer,
// the tests' clock and no timers; sends msgs; and compares the screen with
// the test's golden file once the header's counters are read and ready
// says the pane is in the recorded state.
func requireGolden(t *testing.T, b Backend, opt Options, w, h int, ready func(*model) bool, msgs ...tea.Msg) {
	t.Helper()
	r := lipgloss.NewRenderer(io.Discard)
	r.SetColorProfile(termenv.Ascii)
	opt.Renderer = r
	opt.WebhookURL = "https://desk.example.com/webhook"
	m := newTestModel(b, opt)
	// No timer fires: the screen is as of fixedNow.
	m.after = func(time.Duration, func(time.Time) tea.Msg) tea.Cmd { return nil }
	done := func(m *model) bool {
		return m.width == w && m.height == h && !m.statsLoading && ready(m)
	}
	tm := teatest.NewTestModel(t, untilReady{m, done}, teatest.WithInitialTermSize(w, h))
	for _, msg := range msgs {
		tm.Send(msg)
	}
	final := tm.FinalModel(t, teatest.WithFinalTimeout(10*time.Second)).(untilReady)
	teatest.RequireEqualOutput(t, []byte(final.View()))
}

// goldenBackend is the fake with a little of everything, all of it fixed:
// ids, amounts and times (relative to fixedNow).
func goldenBackend() *attnBackend {
	b := newAttnBackend()
	f := b.fakeBackend
	seedUsers(f, 6)
	seedPurchases(f, 6)
	seedDetail(f)
	f.stats = billing.Stats{Received: 1234, Duplicates: 3, Failed: 1, Attention: 4, Events: 1230, Users: 7, Purchases: 6}
	f.events = []billing.EventRecord{
		{Seq: 1, ID: "evt_1", Type: "customer.created", ReceivedAt: fixedNow.AddDate(0, 0, -2), State: billing.StateIgnored},
		{Seq: 2, ID: "evt_2", Type: "checkout.session.completed", ReceivedAt: fixedNow.Add(-time.Hour), State: billing.StateApplied, User: "u_042", Amount: 2500},
		{Seq: 3, ID: "evt_3", Type: "invoice.paid", ReceivedAt: fixedNow.Add(-time.Minute), State: billing.StateWaiting, User: "u_007", Amount: 1000, Reason: "waiting for the checkout"},
		{Seq: 4, ID: "evt_4", Type: "charge.refunded", ReceivedAt: fixedNow.Add(-30 * time.Second), State: billing.StateFailed, User: "u_003", Amount: -500, Reason: "no purchase for the charge"},
	}
	f.apiKeys = []billing.APIKey{
		{Name: "backend", Hint: "cdk_…a1b2", CreatedAt: fixedNow.AddDate(0, 0, -10)},
		{Name: "staging", Hint: "cdk_…c3d4", CreatedAt: fixedNow.AddDate(0, 0, -3), RevokedAt: fixedNow.Add(-time.Hour)},
	}
	f.insight = goldenInsight()
	f.out.endpoints = []billing.EndpointState{{ID: "ep_1", URL: "https://app.example.com/hooks/credits?token=secret",
		FailingSince: fixedNow.Add(-10 * time.Minute), LastSuccess: fixedNow.Add(-time.Hour)}}
	msg := func(seq uint64, typ, user string, st billing.DeliveryState, tries, status int, resp, errText string, age time.Duration) billing.Delivery {
		d := billing.Delivery{URL: f.out.endpoints[0].URL, OutboxMessage: billing.OutboxMessage{Seq: seq, ID: fmt.Sprintf("msg_%d_ab12cd", seq),
			Endpoint: "ep_1", User: user, Type: typ, CreatedAt: fixedNow.Add(-age),
			DeliveryStatus: billing.DeliveryStatus{State: st, Attempts: tries, LastStatus: status, LastResponse: resp, LastError: errText}}}
		if st == billing.DeliveryPending && tries > 0 {
			d.NextAttempt = fixedNow.Add(40 * time.Second)
		}
		return d
	}
	f.out.deliveries = []billing.Delivery{
		msg(1, "purchase.completed", "u_042", billing.DeliveryFailed, 21, 500, "Internal Server Error", "", 80*time.Hour),
		msg(2, "credits.granted", "u_042", billing.DeliveryDelivered, 1, 204, "", "", time.Hour),
		msg(3, "plan.started", "u_007", billing.DeliveryDelivered, 2, 200, "ok", "", 50*time.Minute),
		msg(4, "credits.low", "u_003", billing.DeliveryPending, 3, 0, "", "no answer within 10s", 10*time.Minute),
		msg(5, "credits.granted", "u_003", billing.DeliveryPending, 0, 0, "", "", time.Minute),
	}
	return b
}

// goldenInsight is a believable month of rollups ending on fixedNow's day:
// USD packs and plans most days, a JPY pack, a partial refund and a lost
// dispute, credits granted and spent each day.
func goldenInsight() billing.Insight {
	in := billing.Insight{
		Plans: []billing.PlanTotals{
			{Plan: "pro", Active: 12, MRR: map[string]int64{"usd": 58800}},
			{Plan: "team", Active: 3, MRR: map[string]int64{"usd": 44700, "eur": 14900}},
		},
		TopUsers: []billing.UserSpend{
			{User: "u_042", Currency: "jpy", Net: 6000},
			{User: "u_007", Currency: "usd", Net: 44700},
			{User: "u_013", Currency: "usd", Net: 14700},
			{User: "u_003", Currency: "usd", Net: 9800},
		},
	}
	for i, day := range billing.DaysBetween(fixedNow.AddDate(0, 0, -(overviewDays-1)), fixedNow) {
		d := billing.DayRollup{Day: day, Revenue: map[string]billing.Money{"usd": {Gross: int64(2000 + (i*3700)%9100)}},
			Credits: billing.CreditFlow{Granted: int64(1000 + (i*1300)%4000), Spent: int64(400 + (i*900)%2600)}}
		switch i {
		case 6:
			d.Revenue["jpy"] = billing.Money{Gross: 3000}
		case 17:
			d.Revenue["usd"] = billing.Money{Gross: 4900, Refunded: 500}
			d.Credits.ClawedBack = 250
		case 25:
			d.Revenue["jpy"] = billing.Money{Gross: 3000, Disputed: 3000}
			d.Plans = map[string]billing.PlanFlow{"pro": {New: 2}, "team": {Churned: 1}}
		case 29:
			d.Credits.Expired = 1200
			d.Plans = map[string]billing.PlanFlow{"pro": {New: 1}}
		}
		in.Days = append(in.Days, d)
	}
	return in
}

// goldenCase is one pane in one state.
type goldenCase struct {
	name string
	// msgs are sent in order: keys, or what a pane asks the root for when
	// the key that asks for it would race a read.
	msgs []tea.Msg
	// ready says the pane shows what the golden file records.
	ready func(m *model) bool
}

// keys are key presses to send.
func keys(ks ...string) []tea.Msg {
	out := make([]tea.Msg, len(ks))
	for i, k := range ks {
		out[i] = keyMsg(k)
	}
	return out
}

// tab is tab i as a T, when it is the active one.
func tab[T Component](m *model, i int) (T, bool) {
	p, ok := m.tabs[i].(T)
	return p, ok && m.active == i
}

var goldenCases = []goldenCase{
	{"live", keys("2"), func(m *model) bool {
		p, ok := tab[*livePane](m, 1)
		return ok && p.list.loaded
	}},
	{"purchases", keys("3"), func(m *model) bool {
		p, ok := tab[*purchasesPane](m, 2)
		return ok && p.pager.list.loaded && !p.pager.loading
	}},
	{"users", keys("4"), func(m *model) bool {
		p, ok := tab[*usersPane](m, 3)
		return ok && p.pager.list.loaded && !p.pager.loading
	}},
	{"user_detail", []tea.Msg{openUserMsg{"u_42"}}, func(m *model) bool {
		p, ok := tab[*usersPane](m, 3)
		return ok && p.detail != nil && p.detail.loaded && !p.detail.loading
	}},
	{"grant_form", append([]tea.Msg{openUserMsg{"u_42"}, openAdjustMsg{user: "u_42", grant: true, balance: 1000}}, keys("5", "0", "0")...), func(m *model) bool {
		return m.form != nil && m.form.amount.Value() == "500"
	}},
	{"attention", keys("5"), func(m *model) bool {
		p, ok := tab[*attentionPane](m, 4)
		return ok && p.list.loaded && !p.loading
	}},
	{"api_keys", keys("6"), func(m *model) bool {
		p, ok := tab[*apiKeysPane](m, 5)
		return ok && p.list.loaded
	}},
	{"checkout_form", keys("7", "enter", "u", "_", "4", "2", "tab", "right"), func(m *model) bool {
		p, ok := tab[*checkoutPane](m, 6)
		return ok && p.editing && p.choice == 1
	}},
	{"captures", keys("8"), func(m *model) bool {
		p, ok := tab[*capturesPane](m, 7)
		return ok && p.list.loaded && !p.loading
	}},
	{"catalog", keys("9"), func(m *model) bool {
		p, ok := tab[*catalogPane](m, 8)
		return ok && p.loaded && !p.loading
	}},
	{"health", keys("0"), func(m *model) bool {
		p, ok := tab[*healthPane](m, 9)
		return ok && p.loaded && !p.loading
	}},
	{"deliveries", keys("shift+tab"), func(m *model) bool {
		p, ok := m.tabs[m.active].(*deliveriesPane)
		return ok && p.pager.list.loaded && !p.pager.loading
	}},
}

// TestGoldenPanes draws every pane at 80x24 and 120x40 in a real program
// (teatest) with the ASCII profile, the tests' clock and fixed ids, and
// compares the screen with testdata/TestGoldenPanes/NAME_WxH.golden.
// Refresh them with go test ./tui -update, and read the diff as code.
func TestGoldenPanes(t *testing.T) {
	for _, size := range [][2]int{{80, 24}, {120, 40}} {
		w, h := size[0], size[1]
		for _, gc := range goldenCases {
			t.Run(fmt.Sprintf("%s_%dx%d", gc.name, w, h), func(t *testing.T) {
				requireGolden(t, goldenBackend(), Options{Operator: newFakeOperator(), Clipboard: io.Discard}, w, h, gc.ready, gc.msgs...)
			})
		}
	}
}

// TestGoldenOverview draws the Overview, the tab the console opens on, at
// 80x24 (charts give way to numbers), 120x40 (the size every pane is drawn
// at) and 140x40 (two columns, the revenue chart and the credits
// sparklines): testdata/TestGoldenOverview.
func TestGoldenOverview(t *testing.T) {
	for _, size := range [][2]int{{80, 24}, {120, 40}, {140, 40}} {
		w, h := size[0], size[1]
		t.Run(fmt.Sprintf("overview_%dx%d", w, h), func(t *testing.T) {
			requireGolden(t, goldenBackend(), Options{Operator: newFakeOperator(), Clipboard: io.Discard}, w, h, overviewReady)
		})
	}
}

// overviewReady: the Overview is the active tab with its figures and the
// newest events read.
func overviewReady(m *model) bool {
	p, ok := tab[*overviewPane](m, 0)
	return ok && p.loaded && !p.loading && len(p.recent) > 0
}

// attachedBackend is the golden fake reached over the admin socket.
type attachedBackend struct {
	*attnBackend
	text string
	up   bool
}

func (a attachedBackend) Attachment() (string, bool) { return a.text, a.up }

// TestGoldenAttached draws the header and status line of a console attached
// to a running serve over its socket, as an SSH session's operator, and of
// one whose serve has stopped: testdata/TestGoldenAttached/NAME_WxH.golden.
func TestGoldenAttached(t *testing.T) {
	states := []struct {
		name string
		b    attachedBackend
		who  string
	}{
		{"ssh_attached", attachedBackend{goldenBackend(), "attached to serve (pid 4242)", true}, "ssh:laptop"},
		{"detached", attachedBackend{goldenBackend(), "serve (pid 4242) stopped: waiting for it, last screen kept", false}, ""},
	}
	for _, size := range [][2]int{{80, 24}, {120, 40}} {
		w, h := size[0], size[1]
		for _, st := range states {
			t.Run(fmt.Sprintf("%s_%dx%d", st.name, w, h), func(t *testing.T) {
				requireGolden(t, st.b, Options{Who: st.who}, w, h, func(m *model) bool { return m.live().list.loaded && overviewReady(m) })
			})
		}
	}
}
