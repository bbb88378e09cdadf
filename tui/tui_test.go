package tui

import (
	"cmp"
	"context"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/lipgloss"
	"github.com/muesli/termenv"

	"creditdesk/billing"
)

func TestMain(m *testing.M) {
	lipgloss.SetColorProfile(termenv.Ascii)
	time.Local = time.UTC
	os.Exit(m.Run())
}

// fixedNow is the tests' clock: a day's afternoon, in UTC, which TestMain
// makes the local time zone so that the screens are the same everywhere.
var fixedNow = time.Date(2025, 3, 14, 15, 9, 26, 0, time.UTC)

// driver runs the console deterministically on the test goroutine: a
// command runs when the driver drains its queue (settle) and its message
// goes straight back to Update, in order. Timers (common.after) are parked
// on a virtual clock that only advance moves, and the live feed is read
// only when nothing else is left to do, so no test waits for a quiet
// window or looks at the wall clock.
type driver struct {
	t     *testing.T
	m     *model
	queue []tea.Cmd
	quit  bool

	elapsed time.Duration // the virtual clock, since newDriver
	timers  []parkedTimer
	armed   bool // the model waits for the next activity
}

// parkedTimer is a tea.Tick the console asked for, due at due on the
// virtual clock.
type parkedTimer struct {
	due time.Duration
	fn  func(time.Time) tea.Msg
}

type (
	// timerMsg is what the driver's after returns: a timer to park.
	timerMsg struct {
		d  time.Duration
		fn func(time.Time) tea.Msg
	}
	// feedArmedMsg is what the driver's wait returns: the model wants the
	// next activity.
	feedArmedMsg struct{}
)

func newDriver(t *testing.T, b Backend, opt Options, w, h int) *driver {
	t.Helper()
	d := &driver{t: t, m: newTestModel(b, opt)}
	d.m.after = func(dur time.Duration, fn func(time.Time) tea.Msg) tea.Cmd {
		return func() tea.Msg { return timerMsg{dur, fn} }
	}
	d.m.wait = func(<-chan billing.Activity) tea.Cmd {
		return func() tea.Msg { return feedArmedMsg{} }
	}
	d.exec(d.m.Init())
	d.send(tea.WindowSizeMsg{Width: w, Height: h})
	d.settle()
	return d
}

// newTestModel is the console with the tests' clock.
func newTestModel(b Backend, opt Options) *model {
	return newModel(context.Background(), b, opt, func() time.Time { return fixedNow })
}

// exec queues cmd; settle runs it.
func (d *driver) exec(cmd tea.Cmd) {
	if cmd != nil {
		d.queue = append(d.queue, cmd)
	}
}

// send gives msg to the console at once and queues what it returns.
func (d *driver) send(msg tea.Msg) {
	switch msg := msg.(type) {
	case nil:
	case tea.BatchMsg:
		for _, c := range msg {
			d.exec(c)
		}
	case tea.QuitMsg:
		d.quit = true
	case timerMsg:
		d.timers = append(d.timers, parkedTimer{d.elapsed + msg.d, msg.fn})
	case feedArmedMsg:
		d.armed = true
	default:
		_, cmd := d.m.Update(msg)
		d.exec(cmd)
	}
}

// run runs one command. A command that blocks is a bug in the console or
// the test: it fails the test rather than hanging it.
func (d *driver) run(cmd tea.Cmd) tea.Msg {
	d.t.Helper()
	done := make(chan tea.Msg, 1)
	go func() { done <- cmd() }()
	select {
	case msg := <-done:
		return msg
	case <-time.After(10 * time.Second):
		d.t.Fatal("a command blocked for 10s")
		return nil
	}
}

// settle runs queued commands until none is left, then hands over the next
// activity of the feed if the model waits for one and one is there (a closed
// feed is feedClosedMsg), and so on until nothing moves.
func (d *driver) settle() {
	d.t.Helper()
	for {
		for len(d.queue) > 0 {
			cmd := d.queue[0]
			d.queue = d.queue[1:]
			d.send(d.run(cmd))
		}
		if !d.armed {
			return
		}
		select {
		case a, ok := <-d.m.feed:
			d.armed = false
			if !ok {
				d.send(feedClosedMsg{})
			} else {
				d.send(activityMsg{a})
			}
		default:
			return
		}
	}
}

// advance moves the virtual clock by dur and fires the timers that fall
// due, in order, settling after each.
func (d *driver) advance(dur time.Duration) {
	d.t.Helper()
	d.elapsed += dur
	for {
		slices.SortStableFunc(d.timers, func(a, b parkedTimer) int { return cmp.Compare(a.due, b.due) })
		if len(d.timers) == 0 || d.timers[0].due > d.elapsed {
			return
		}
		tm := d.timers[0]
		d.timers = d.timers[1:]
		d.send(tm.fn(fixedNow.Add(tm.due)))
		d.settle()
	}
}

// press sends keys: named keys ("enter", "tab", ...) or runes to type.
func (d *driver) press(keys ...string) {
	d.t.Helper()
	for _, k := range keys {
		d.send(keyMsg(k))
		d.settle()
	}
}

// typeText types s one rune at a time.
func (d *driver) typeText(s string) {
	d.t.Helper()
	for _, r := range s {
		d.send(tea.KeyMsg{Type: tea.KeyRunes, Runes: []rune{r}})
	}
	d.settle()
}

func keyMsg(k string) tea.KeyMsg {
	switch k {
	case "enter":
		return tea.KeyMsg{Type: tea.KeyEnter}
	case "esc":
		return tea.KeyMsg{Type: tea.KeyEsc}
	case "tab":
		return tea.KeyMsg{Type: tea.KeyTab}
	case "shift+tab":
		return tea.KeyMsg{Type: tea.KeyShiftTab}
	case "up":
		return tea.KeyMsg{Type: tea.KeyUp}
	case "down":
		return tea.KeyMsg{Type: tea.KeyDown}
	case "left":
		return tea.KeyMsg{Type: tea.KeyLeft}
	case "right":
		return tea.KeyMsg{Type: tea.KeyRight}
	case "pgdown":
		return tea.KeyMsg{Type: tea.KeyPgDown}
	case "pgup":
		return tea.KeyMsg{Type: tea.KeyPgUp}
	case "ctrl+c":
		return tea.KeyMsg{Type: tea.KeyCtrlC}
	case "ctrl+r":
		return tea.KeyMsg{Type: tea.KeyCtrlR}
	case "backspace":
		return tea.KeyMsg{Type: tea.KeyBackspace}
	}
	return tea.KeyMsg{Type: tea.KeyRunes, Runes: []rune(k)}
}

func (d *driver) view() string { return d.m.View() }

// expect settles and requires the screen to show want.
func (d *driver) expect(want string) string {
	d.t.Helper()
	return d.expectThat(want, func(v string) bool { return strings.Contains(v, want) })
}

// expectThat settles and requires ok(screen).
func (d *driver) expectThat(what string, ok func(string) bool) string {
	d.t.Helper()
	d.settle()
	v := d.view()
	if !ok(v) {
		d.t.Fatalf("screen does not show %s:\n%s", what, v)
	}
	return v
}

// tabBar is the line of the screen with the tabs.
func (d *driver) tabBar() string { return strings.Split(d.view(), "\n")[headerLines] }

func seedUsers(f *fakeBackend, n int) {
	for i := 1; i <= n; i++ {
		f.addUser(billing.User{
			ID:         fmt.Sprintf("u_%03d", i),
			Email:      fmt.Sprintf("user%03d@example.com", i),
			Tier:       "free",
			CustomerID: fmt.Sprintf("cus_%03d", i),
			Balance:    int64(i * 100),
		})
	}
}

func seedPurchases(f *fakeBackend, n int) {
	for i := 1; i <= n; i++ {
		f.purchases = append(f.purchases, billing.Purchase{
			ID: fmt.Sprintf("cs_test_%04d", i), Seq: uint64(i), UserID: fmt.Sprintf("u_%03d", i%7+1),
			Kind: "pack", Status: "paid", Credits: 2500, AmountTotal: 1900, Currency: "usd",
			CreatedAt: fixedNow.Add(-time.Duration(n-i) * time.Minute),
		})
	}
}

func TestTabRouting(t *testing.T) {
	f := newFake()
	seedUsers(f, 3)
	seedPurchases(f, 3)
	tests := []struct {
		keys []string
		tab  string
		body string // something only that tab shows
	}{
		{nil, "[1 Overview]", "Latest events"}, // the console opens on the Overview
		{[]string{"tab"}, "[2 Live]", "STATE"},
		{[]string{"tab", "tab"}, "[3 Purchases]", "cs_test_0003"},
		{[]string{"tab", "tab", "tab"}, "[4 Users]", "u_001 "},
		{[]string{"tab", "tab", "tab", "tab"}, "[5 Attention]", "Needs attention"},
		{[]string{"3", "shift+tab"}, "[2 Live]", "STATE"},
		{[]string{"shift+tab", "tab"}, "[1 Overview]", "Latest events"}, // wraps around
		{[]string{"4"}, "[4 Users]", "u_001 "},
		{[]string{"4", "3"}, "[3 Purchases]", "cs_test_0003"},
		{[]string{"4", "2"}, "[2 Live]", "STATE"},
		{[]string{"0"}, "[10 Health]", "set STRIPE_SECRET_KEY"}, // the last tab, no Operator
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.keys, ","), func(t *testing.T) {
			d := newDriver(t, f, Options{}, 80, 24)
			d.press(tt.keys...)
			if bar := d.tabBar(); !strings.Contains(bar, tt.tab) {
				t.Fatalf("tab bar %q, want %q active", bar, tt.tab)
			}
			d.expect(tt.body)
		})
	}
}

func TestKeysGoToActivePaneOnly(t *testing.T) {
	f := newFake()
	seedUsers(f, 5)
	seedPurchases(f, 5)
	d := newDriver(t, f, Options{}, 80, 24)
	d.press("4")
	d.expect("› u_001")
	d.press("down", "down")
	if v := d.view(); !strings.Contains(v, "› u_003") {
		t.Fatalf("cursor did not move to u_003:\n%s", v)
	}
	// The purchases pane kept its own cursor.
	d.press("3")
	if v := d.view(); !strings.Contains(v, "› ") || !strings.Contains(strings.Split(v, "› ")[1], "cs_test_0005") {
		t.Fatalf("purchases cursor moved with the users pane:\n%s", v)
	}
}

func TestHeaderShowsDemoURLAndCounters(t *testing.T) {
	f := newFake()
	f.stats = billing.Stats{Received: 12345, Duplicates: 3, Rejected: map[string]uint64{"signature": 2, "too_old": 1}, Failed: 4, Waiting: 5, Attention: 7}
	d := newDriver(t, f, Options{Demo: true, WebhookURL: "http://127.0.0.1:4242/webhook"}, 100, 30)
	v := d.expect("recv 12,345")
	for _, want := range []string{"creditdesk", "DEMO — simulated Stripe events, no real money", "http://127.0.0.1:4242/webhook", "dup 3", "rej 3", "failed 4", "attention 7"} {
		if !strings.Contains(v, want) {
			t.Errorf("header lacks %q:\n%s", want, v)
		}
	}
	d3 := newDriver(t, newFake(), Options{Notice: "STRIPE_WEBHOOK_SECRET not set: webhooks are rejected."}, 100, 30)
	if !strings.Contains(d3.view(), "STRIPE_WEBHOOK_SECRET not set") {
		t.Errorf("notice not shown:\n%s", d3.view())
	}
	f = newFake() // its own feed: d still reads the first one
	f.stats.Received = 12345
	d2 := newDriver(t, f, Options{WebhookURL: "http://x"}, 100, 30)
	if strings.Contains(d2.view(), "DEMO") {
		t.Errorf("DEMO banner shown without Options.Demo")
	}
	// Counters follow activity without waiting for the tick: the virtual
	// clock does not move, so no tick fires.
	f.mu.Lock()
	f.stats.Received = 12346
	f.mu.Unlock()
	d2.expectThat("the old count until something happens", func(v string) bool { return strings.Contains(v, "recv 12,345") })
	f.feed <- billing.Activity{At: fixedNow, Kind: billing.ActivityEvent, Seq: 1, Type: "invoice.paid", State: billing.StateApplied}
	d2.expect("recv 12,346")
}

func TestLiveShowsActivityFromFeed(t *testing.T) {
	f := newFake()
	f.events = []billing.EventRecord{
		{Seq: 1, ID: "evt_old", Type: "customer.created", ReceivedAt: fixedNow.AddDate(0, 0, -2), State: billing.StateIgnored},
		{Seq: 2, ID: "evt_2", Type: "checkout.session.completed", ReceivedAt: fixedNow.Add(-time.Hour), State: billing.StateApplied, User: "u_7", Amount: 1000},
	}
	d := newDriver(t, f, Options{}, 100, 30)
	d.press("2")
	v := d.expect("customer.created")
	if !strings.Contains(v, "2025-03-12") || !strings.Contains(v, "14:09:26") {
		t.Errorf("want a date for an older event and a time for today's:\n%s", v)
	}
	if !strings.Contains(v, "+1,000") {
		t.Errorf("stored event's credits not shown:\n%s", v)
	}
	if len(f.eventsCalls) != 1 || f.eventsCalls[0] != 0 {
		t.Errorf("EventsPage calls %v, want one from the newest", f.eventsCalls)
	}

	at := fixedNow.Add(-30 * time.Second)
	f.feed <- billing.Activity{At: at, Kind: billing.ActivityEvent, Seq: 3, EventID: "evt_3", Type: "invoice.paid", User: "u_42", Amount: 2500, State: billing.StateReceived}
	v = d.expect("invoice.paid")
	row := lineWith(v, "invoice.paid")
	for _, want := range []string{"15:08:56", "u_42", "+2,500", "received"} {
		if !strings.Contains(row, want) {
			t.Errorf("row %q lacks %q", row, want)
		}
	}
	// The same event changing state updates its row instead of adding one.
	f.feed <- billing.Activity{At: at, Kind: billing.ActivityEvent, Seq: 3, EventID: "evt_3", Type: "invoice.paid", User: "u_42", Amount: 2500, State: billing.StateApplied}
	v = d.expectThat("invoice.paid applied", func(v string) bool { return strings.Contains(lineWith(v, "invoice.paid"), "applied") })
	if n := strings.Count(v, "invoice.paid"); n != 1 {
		t.Errorf("invoice.paid shown %d times, want 1:\n%s", n, v)
	}
	if !strings.Contains(lineWith(v, "invoice.paid"), "applied") {
		t.Errorf("row not updated to applied:\n%s", v)
	}

	f.feed <- billing.Activity{At: fixedNow, Kind: billing.ActivityRejected, Reason: "bad signature"}
	f.feed <- billing.Activity{At: fixedNow, Kind: billing.ActivityDuplicate, Seq: 3, Type: "invoice.paid"}
	f.feed <- billing.Activity{At: fixedNow, Kind: billing.ActivityManual, User: "u_9", Amount: -300, Reason: "refund by hand", Missed: 7}
	v = d.expect("manual revoke")
	for _, want := range []string{"rejected: bad signature", "duplicate invoice.paid", "… 7 more", "-300"} {
		if !strings.Contains(v, want) {
			t.Errorf("live lacks %q:\n%s", want, v)
		}
	}
}

func TestLiveIsBounded(t *testing.T) {
	f := newFake()
	d := newDriver(t, f, Options{}, 80, 24)
	for i := 1; i <= liveCapacity+100; i++ {
		d.send(activityMsg{billing.Activity{At: fixedNow, Kind: billing.ActivityEvent, Seq: uint64(i), Type: fmt.Sprintf("type.%d", i)}})
	}
	live := d.m.tabs[1].(*livePane)
	if n := live.rows.Len(); n != liveCapacity {
		t.Fatalf("live keeps %d rows, want %d", n, liveCapacity)
	}
	v := d.view()
	if !strings.Contains(v, fmt.Sprintf("type.%d ", liveCapacity+100)) {
		t.Errorf("newest row not on top:\n%s", v)
	}
	if live.rows.At(liveCapacity-1).seq != 101 {
		t.Errorf("oldest kept row is seq %d, want 101", live.rows.At(liveCapacity-1).seq)
	}
}

func TestFeedClosed(t *testing.T) {
	f := newFake()
	d := newDriver(t, f, Options{}, 80, 24)
	close(f.feed)
	d.expect("live feed closed")
}

func TestUsersFilter(t *testing.T) {
	f := newFake()
	seedUsers(f, 30)
	f.addUser(billing.User{ID: "u_alice", Email: "alice@example.com", Tier: "pro", Balance: 2500, CustomerID: "cus_alice"})
	d := newDriver(t, f, Options{}, 80, 24)
	d.press("4")
	d.expect("u_001")
	d.press("/")
	d.typeText("alq")
	// While the input has focus, q is typed rather than quitting.
	if d.quit {
		t.Fatal("q quit while typing in the filter")
	}
	d.press("backspace")
	d.typeText("ice")
	if users, _, _ := f.calls(); users[len(users)-1].filter != "" {
		t.Fatalf("the store was asked while typing: %+v", users[len(users)-1])
	}
	d.advance(filterDelay)
	v := d.expect("u_alice")
	if strings.Contains(v, "u_001") {
		t.Errorf("filter did not hide u_001:\n%s", v)
	}
	if !strings.Contains(lineWith(v, "u_alice"), "2,500") || !strings.Contains(lineWith(v, "u_alice"), "pro") {
		t.Errorf("user row lacks balance or tier:\n%s", v)
	}
	// The store is asked once typing pauses, from the first page, not on
	// every key.
	users, _, _ := f.calls()
	var asked []string
	for _, c := range users {
		if c.filter != "" {
			asked = append(asked, c.filter)
			if c.after != "" {
				t.Errorf("filtered read started after %q, want the first page", c.after)
			}
		}
	}
	if asked[len(asked)-1] != "alice" || slices.Contains(asked, "a") || slices.Contains(asked, "ali") {
		t.Errorf("filters asked %q, want only paused ones ending with alice", asked)
	}
	// Esc clears the filter and leaves the input; q quits again.
	d.press("esc")
	v = d.expect("u_001")
	if strings.Contains(v, "alice") || !strings.Contains(v, "/ to filter") {
		t.Errorf("esc did not clear the filter:\n%s", v)
	}
	d.press("q")
	if !d.quit {
		t.Errorf("q did not quit after leaving the filter")
	}
}

func TestFilterEnterKeepsFilter(t *testing.T) {
	f := newFake()
	seedUsers(f, 30)
	d := newDriver(t, f, Options{}, 80, 24)
	d.press("4", "/")
	d.typeText("u_02")
	d.press("enter")
	v := d.expect(`Users matching "u_02"`)
	if strings.Contains(v, "u_001") || !strings.Contains(v, "u_020") {
		t.Errorf("filter lost after enter:\n%s", v)
	}
	// With the input left, keys move the list again and tab switches tabs.
	d.press("tab")
	if !strings.Contains(d.tabBar(), "[5 Attention]") {
		t.Errorf("tab did not switch after leaving the filter")
	}
}

func seedDetail(f *fakeBackend) {
	f.addUser(billing.User{ID: "u_42", Email: "ada@example.com", Name: "Ada", Tier: "pro", CustomerID: "cus_42", Balance: 1000, Entries: 2})
	f.details["u_42"] = billing.UserDetail{
		Plan: &billing.Subscription{ID: "sub_1", Plan: "pro", Status: "active", PeriodEnd: time.Date(2025, 4, 1, 0, 0, 0, 0, time.UTC)},
		Grants: []billing.Grant{
			{EntryID: 7, UserID: "u_42", Amount: 2500, Remaining: 800, Kind: "pack", Source: "evt_pack", ExpiresAt: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)},
			{EntryID: 9, UserID: "u_42", Amount: 200, Remaining: 200, Kind: "plan", Source: "evt_plan"},
		},
		Purchases: []billing.Purchase{{ID: "cs_test_pack", UserID: "u_42", Kind: "pack", Status: "paid", Credits: 2500, AmountTotal: 1900, Currency: "usd", CreatedAt: fixedNow.AddDate(0, 0, -1)}},
		Entries: []billing.Entry{
			{ID: 9, UserID: "u_42", Delta: 200, BalanceAfter: 1000, Reason: "plan credits", Source: "evt_plan", At: fixedNow.Add(-time.Minute)},
			{ID: 8, UserID: "u_42", Delta: -1700, BalanceAfter: 800, Reason: "spend", Source: "api:k1", At: fixedNow.AddDate(0, 0, -1)},
		},
	}
}

// fillAdjust opens the grant (g) or revoke (r) form on the user detail,
// checks its title, types the amount and the reason and submits them.
func (d *driver) fillAdjust(verb, amount, reason string) {
	d.t.Helper()
	d.press(verb)
	title := "Grant credits · u_42"
	if verb == "r" {
		title = "Revoke credits · u_42"
	}
	d.expect(title)
	d.typeText(amount)
	d.press("tab")
	d.typeText(reason)
	d.press("enter")
}

// openDetail goes to Users and opens u_42.
// newDetailDriver is a console w×h over a fake backend with seedDetail's
// user.
func newDetailDriver(t *testing.T, w, h int) (*fakeBackend, *driver) {
	t.Helper()
	f := newFake()
	seedDetail(f)
	return f, newDriver(t, f, Options{}, w, h)
}

func openDetail(t *testing.T, d *driver) string {
	t.Helper()
	d.press("4", "/")
	d.typeText("u_42")
	d.press("enter")
	d.expect("› u_42")
	d.press("enter")
	return d.expect("User u_42")
}

func TestUserDetail(t *testing.T) {
	_, d := newDetailDriver(t, 100, 40)
	v := openDetail(t, d)
	for _, want := range []string{
		"ada@example.com", "tier pro", "customer cus_42", "balance 1,000", "spendable 1,000",
		"plan pro · active · renews 2025-04-01",
		"Grants (2)", "2026-01-01", "never",
		"cs_test_pack", "19.00 USD",
		"plan credits", "+200", "-1,700", "api:k1", "15:08:26", "2025-03-13",
	} {
		if !strings.Contains(v, want) {
			t.Errorf("detail lacks %q:\n%s", want, v)
		}
	}
	if row := lineWith(v, "evt_pack"); !strings.Contains(row, "2,500") || !strings.Contains(row, "800") {
		t.Errorf("grant row %q lacks amount and remaining", row)
	}
	// Esc goes back to the list.
	d.press("esc")
	d.expect("Users matching")
}

func TestOpenUserFromLive(t *testing.T) {
	f, d := newDetailDriver(t, 100, 40)
	d.press("2")
	f.feed <- billing.Activity{At: fixedNow, Kind: billing.ActivityEvent, Seq: 5, Type: "invoice.paid", User: "u_42", Amount: 200, State: billing.StateApplied}
	d.expect("invoice.paid")
	d.press("enter")
	d.expect("spendable 1,000")
	if !strings.Contains(d.tabBar(), "[4 Users]") {
		t.Errorf("enter on a live row did not switch to Users: %q", d.tabBar())
	}
}

func TestGrantForm(t *testing.T) {
	f, d := newDetailDriver(t, 80, 24)
	openDetail(t, d)
	d.press("g")
	d.expect("Grant credits · u_42")

	// Nothing typed: rejected in the form.
	d.press("enter")
	d.expect("enter an amount of credits")
	d.typeText("abc")
	d.press("enter")
	d.expect(`"abc" is not a whole number of credits`)
	for range 3 {
		d.send(tea.KeyMsg{Type: tea.KeyBackspace})
	}
	d.typeText("0")
	d.press("tab", "enter")
	d.expect("the amount must not be zero")
	d.press("shift+tab")
	d.send(tea.KeyMsg{Type: tea.KeyBackspace})
	d.typeText("1,500")
	d.press("tab")
	d.typeText("   ")
	d.press("enter")
	d.expect("a reason is required")
	// q types into the reason rather than quitting.
	d.typeText("goodwill q")
	if d.quit {
		t.Fatal("q quit while the form was open")
	}
	if _, _, adj := f.calls(); len(adj) != 0 {
		t.Fatalf("invalid form sent %d Adjust calls", len(adj))
	}
	d.press("enter")
	d.expect("Grant 1,500 credits to u_42? y/n")
	d.expect("balance 1,000 → 2,500")

	// y twice before the answer: one call.
	d.send(keyMsg("y"))
	d.send(keyMsg("y"))
	v := d.expect("balance 2,500")
	_, _, adj := f.calls()
	if len(adj) != 1 {
		t.Fatalf("Adjust called %d times, want 1", len(adj))
	}
	if c := adj[0]; c.user != "u_42" || c.delta != 1500 || c.reason != "goodwill q" || c.force || len(c.key) < 16 {
		t.Errorf("Adjust call %+v", c)
	}
	if strings.Contains(v, "Grant credits") {
		t.Errorf("form still open after success:\n%s", v)
	}
	if !strings.Contains(v, "Granted 1,500 credits to u_42") {
		t.Errorf("status does not confirm the grant:\n%s", v)
	}
	d.expect("goodwill q") // the reloaded ledger has the entry
}

func TestGrantRetryUsesSameKey(t *testing.T) {
	f := newFake()
	seedDetail(f)
	f.failNext = context.DeadlineExceeded // applied, but the answer was lost
	d := newDriver(t, f, Options{}, 80, 24)
	openDetail(t, d)
	d.fillAdjust("g", "500", "promo")
	d.press("y")
	d.expect("failed: context deadline exceeded")
	d.press("y")
	d.expect("Granted 500 credits to u_42")
	_, _, adj := f.calls()
	if len(adj) != 2 {
		t.Fatalf("Adjust called %d times, want 2", len(adj))
	}
	if adj[0].key != adj[1].key {
		t.Errorf("retry used key %q, first %q", adj[1].key, adj[0].key)
	}
	if b := f.balance("u_42"); b != 1500 {
		t.Errorf("balance %d after a retried grant of 500 on 1000, want 1500", b)
	}

	// A new form has a new key.
	d.fillAdjust("g", "1", "again")
	d.press("y")
	d.expect("Granted 1 credits")
	_, _, adj = f.calls()
	if adj[2].key == adj[0].key {
		t.Errorf("second form reused the first form's key")
	}
}

func TestRevokeInsufficientThenForce(t *testing.T) {
	f, d := newDetailDriver(t, 80, 24)
	openDetail(t, d)
	d.fillAdjust("r", "2500", "chargeback")
	d.expect("Revoke 2,500 credits from u_42? y/n")
	d.press("y")
	v := d.expect("refused: revoke: user u_42 has 1,000 credits, 2,500 requested")
	if !strings.Contains(v, "f force") {
		t.Errorf("force not offered:\n%s", v)
	}
	if b := f.balance("u_42"); b != 1000 {
		t.Fatalf("refused revoke changed the balance to %d", b)
	}
	d.press("f")
	v = d.expect("balance -1,500")
	_, _, adj := f.calls()
	if len(adj) != 2 || adj[1].delta != -2500 || !adj[1].force || adj[0].force {
		t.Fatalf("Adjust calls %+v, want a refused one then a forced one", adj)
	}
	if !strings.Contains(v, "in debt") {
		t.Errorf("negative balance not flagged:\n%s", v)
	}
}

func TestForceNotOfferedForOtherErrors(t *testing.T) {
	if isInsufficient(context.DeadlineExceeded) || isInsufficient(fmt.Errorf("user u_1: not found")) {
		t.Error("a timeout or missing user offered force")
	}
	if !isInsufficient(fmt.Errorf("wrapped: %w", &billing.ErrInsufficient{UserID: "u", Balance: 1, Requested: 2})) {
		t.Error("a wrapped insufficient-balance error not recognised")
	}
}

func TestFormEscCancels(t *testing.T) {
	f, d := newDetailDriver(t, 80, 24)
	openDetail(t, d)
	d.press("r")
	d.typeText("10")
	d.press("esc")
	v := d.expect("spendable 1,000")
	if strings.Contains(v, "Revoke credits") {
		t.Errorf("form still open after esc:\n%s", v)
	}
	if _, _, adj := f.calls(); len(adj) != 0 {
		t.Errorf("cancelled form called Adjust")
	}
}

func TestViewFitsTerminal(t *testing.T) {
	f := newFake()
	long := strings.Repeat("x", 120)
	f.addUser(billing.User{ID: "u_" + long, Email: long + "@example.com", Tier: "enterprise-annual", CustomerID: "cus_" + long, Balance: 123456789012})
	seedDetail(f)
	f.details["u_42"] = func() billing.UserDetail {
		d := f.details["u_42"]
		for i := range 40 {
			d.Entries = append(d.Entries, billing.Entry{ID: uint64(100 + i), Delta: -1234567, BalanceAfter: 99999999, Reason: long, Source: "evt_" + long, At: fixedNow})
		}
		return d
	}()
	seedPurchases(f, 40)
	f.purchases = append(f.purchases, billing.Purchase{ID: "cs_" + long, Seq: 99, UserID: "u_" + long, Kind: "plan", Status: "requires_payment", Credits: 1 << 40, AmountTotal: 1 << 40, Currency: "eur"})
	f.stats = billing.Stats{Received: 1 << 40, Duplicates: 1 << 40, Failed: 1 << 40, Waiting: 1 << 40, Attention: 1 << 40, Rejected: map[string]uint64{"x": 1 << 40}}
	opt := Options{Demo: true, WebhookURL: "https://" + long + ".example.com/webhook", Notice: long}

	for _, size := range [][2]int{{80, 24}, {100, 30}, {132, 43}, {200, 60}} {
		w, h := size[0], size[1]
		t.Run(fmt.Sprintf("%dx%d", w, h), func(t *testing.T) {
			d := newDriver(t, f, opt, w, h)
			d.send(activityMsg{billing.Activity{At: fixedNow, Kind: billing.ActivityRejected, Reason: long}})
			d.send(activityMsg{billing.Activity{At: fixedNow, Kind: billing.ActivityEvent, Seq: 1, Type: long, User: "u_" + long, Amount: -1 << 40, State: billing.StateWaiting, Missed: 99999}})
			check := func(name string) {
				t.Helper()
				v := d.view()
				lines := strings.Split(v, "\n")
				if len(lines) > h {
					t.Errorf("%s: %d lines, want at most %d", name, len(lines), h)
				}
				for i, l := range lines {
					if lipgloss.Width(l) > w {
						t.Errorf("%s: line %d is %d wide:\n%s", name, i, lipgloss.Width(l), l)
					}
				}
				if !strings.Contains(v, "…") && d.m.form == nil {
					t.Errorf("%s: nothing was truncated with …", name)
				}
			}
			check("live")
			d.press("?")
			check("live full help")
			d.press("?", "3")
			d.expect("cs_test")
			check("purchases")
			d.press("4")
			d.expect("u_xxx")
			check("users")
			d.press("/")
			d.typeText("u_42")
			d.press("enter", "enter")
			d.expect("Ledger")
			check("detail")
			d.press("?")
			check("detail full help")
			d.press("?", "r")
			d.typeText("123456")
			d.press("tab")
			d.typeText(long)
			check("form")
			d.press("enter")
			check("confirm")
		})
	}
}

func TestResizeKeepsScreenSize(t *testing.T) {
	f := newFake()
	seedUsers(f, 200)
	d := newDriver(t, f, Options{}, 80, 24)
	d.press("4")
	d.expect("u_001")
	for _, s := range [][2]int{{120, 50}, {80, 24}, {90, 30}} {
		d.send(tea.WindowSizeMsg{Width: s[0], Height: s[1]})
		d.settle()
		if n := len(strings.Split(d.view(), "\n")); n != s[1] {
			t.Errorf("at %dx%d the screen has %d lines", s[0], s[1], n)
		}
	}
	// The page is sized to the pane: asked for what fits, plus one to know
	// whether there is more.
	users, _, _ := f.calls()
	last := users[len(users)-1]
	want := pageSizeFor(30-headerLines-tabLines-statusLines-1) + 1
	if last.limit != want {
		t.Errorf("UsersPage limit %d at 90x30, want %d", last.limit, want)
	}
}

func TestHelpToggle(t *testing.T) {
	f := newFake()
	d := newDriver(t, f, Options{}, 80, 24)
	d.press("2") // Live: a list, with its paging keys
	v := d.view()
	if !strings.Contains(v, "? more keys") || strings.Contains(v, "go to tab") {
		t.Fatalf("short help wrong:\n%s", v)
	}
	d.press("?")
	v = d.view()
	for _, want := range []string{"go to tab", "shift+tab", "prev page", "quit"} {
		if !strings.Contains(v, want) {
			t.Errorf("full help lacks %q:\n%s", want, v)
		}
	}
	if n := len(strings.Split(v, "\n")); n != 24 {
		t.Errorf("full help screen has %d lines, want 24", n)
	}
	d.press("?")
	if strings.Contains(d.view(), "go to tab") {
		t.Errorf("? did not close full help")
	}
	// The help follows the pane.
	d.press("4")
	if !strings.Contains(d.view(), "/ filter") {
		t.Errorf("users help lacks filter:\n%s", d.view())
	}
}

func TestUsersPaging(t *testing.T) {
	f := newFake()
	seedUsers(f, 50)
	d := newDriver(t, f, Options{}, 80, 24)
	d.press("4")
	d.expect("u_001")
	pane := d.m.tabs[3].(*usersPane)
	n := pane.pager.limit
	last := func() usersCall {
		u, _, _ := f.calls()
		return u[len(u)-1]
	}
	if c := last(); c.after != "" || c.limit != n+1 {
		t.Fatalf("first page call %+v, want after \"\" limit %d", c, n+1)
	}
	page1Last := fmt.Sprintf("u_%03d", n)
	v := d.view()
	if !strings.Contains(v, page1Last) || strings.Contains(v, fmt.Sprintf("u_%03d", n+1)) {
		t.Fatalf("page 1 should end at %s:\n%s", page1Last, v)
	}
	d.press("n")
	if c := last(); c.after != page1Last {
		t.Fatalf("next page asked after %q, want %q", c.after, page1Last)
	}
	d.expect(fmt.Sprintf("› u_%03d", n+1))
	page2Last := fmt.Sprintf("u_%03d", 2*n)
	d.press("pgdown")
	if c := last(); c.after != page2Last {
		t.Fatalf("third page asked after %q, want %q", c.after, page2Last)
	}
	d.press("p")
	if c := last(); c.after != page1Last {
		t.Fatalf("back from page 3 asked after %q, want %q", c.after, page1Last)
	}
	d.press("pgup")
	if c := last(); c.after != "" {
		t.Fatalf("back to page 1 asked after %q", c.after)
	}
	d.expect("› u_001")
	// No page before the first: no call.
	before, _, _ := f.calls()
	d.press("p")
	if after, _, _ := f.calls(); len(after) != len(before) {
		t.Errorf("p on the first page read the store")
	}
}

func TestPurchasesPaging(t *testing.T) {
	f := newFake()
	seedPurchases(f, 60)
	d := newDriver(t, f, Options{}, 80, 24)
	d.press("3")
	d.expect("cs_test_0060")
	n := d.m.tabs[2].(*purchasesPane).pager.limit
	lastCall := func() purchasesCall {
		_, p, _ := f.calls()
		return p[len(p)-1]
	}
	d.press("n")
	// Newest first: page 1 ends at seq 60-n+1, page 2 is read below it.
	if c := lastCall(); c.before != uint64(60-n+1) {
		t.Fatalf("next page asked before %d, want %d", c.before, 60-n+1)
	}
	d.expect(fmt.Sprintf("cs_test_%04d", 60-n))
	d.press("p")
	if c := lastCall(); c.before != 0 {
		t.Fatalf("previous page asked before %d, want 0", c.before)
	}
	d.expect("cs_test_0060")
}

func TestQuitEndsSubscription(t *testing.T) {
	f := newFake()
	d := newDriver(t, f, Options{}, 80, 24)
	d.press("q")
	if !d.quit {
		t.Fatal("q did not quit")
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.stopped {
		t.Error("quitting did not end the feed subscription")
	}
}

func TestFormat(t *testing.T) {
	for in, want := range map[int64]string{0: "0", 999: "999", 2500: "2,500", 1000000: "1,000,000", -1234567: "-1,234,567"} {
		if got := formatCredits(in); got != want {
			t.Errorf("formatCredits(%d) = %q, want %q", in, got, want)
		}
	}
	if got := truncate("cus_1234567890", 8); got != "cus_123…" || lipgloss.Width(got) != 8 {
		t.Errorf("truncate = %q", got)
	}
	if got := truncate("DEMO — simulated", 8); lipgloss.Width(got) != 8 || !strings.HasSuffix(got, "…") {
		t.Errorf("truncate unicode = %q", got)
	}
	if got := formatTime(fixedNow.Add(-time.Hour), fixedNow); got != "14:09:26" {
		t.Errorf("today's time = %q", got)
	}
	if got := formatTime(fixedNow.AddDate(0, 0, -1), fixedNow); got != "2025-03-13" {
		t.Errorf("yesterday = %q", got)
	}
}

func lineWith(screen, s string) string {
	for _, l := range strings.Split(screen, "\n") {
		if strings.Contains(l, s) {
			return l
		}
	}
	return ""
}

// BenchmarkView measures a redraw with a full Live ring and a full page of
// users at a large terminal: it must not grow with the store.
func BenchmarkView(b *testing.B) {
	f := newFake()
	seedUsers(f, 500)
	m := newModel(context.Background(), f, Options{Demo: true}, func() time.Time { return fixedNow })
	m.Update(tea.WindowSizeMsg{Width: 200, Height: 60})
	for i := range liveCapacity {
		m.Update(activityMsg{billing.Activity{At: fixedNow, Kind: billing.ActivityEvent, Seq: uint64(i + 1), Type: "invoice.paid", User: "u_1", Amount: 2500, State: billing.StateApplied}})
	}
	users := m.tabs[3].(*usersPane)
	rows, _ := f.UsersPage("", "", users.pager.limit+1)
	users.Update(usersLoadedMsg{gen: users.pager.gen, rows: rows})
	for _, tab := range []int{0, 1, 3} {
		m.active = tab
		b.Run(paneTitle(m.tabs[tab]), func(b *testing.B) {
			for b.Loop() {
				_ = m.View()
			}
		})
	}
}

// A revoke larger than the balance says so before it is sent, and can be
// forced at once.
func TestRevokeBeyondBalanceWarnsBeforeSending(t *testing.T) {
	f, d := newDetailDriver(t, 80, 24)
	openDetail(t, d)
	d.fillAdjust("r", "2500", "chargeback")
	v := d.expect("this takes the balance below zero")
	if _, _, adj := f.calls(); len(adj) != 0 {
		t.Fatalf("sent before confirmation: %+v", adj)
	}
	if !strings.Contains(v, "f force") {
		t.Errorf("force not offered:\n%s", v)
	}
	d.press("f")
	d.expect("balance -1,500")
	if _, _, adj := f.calls(); len(adj) != 1 || !adj[0].force {
		t.Fatalf("Adjust calls %+v, want one forced", adj)
	}
}

// Every purchase of a page is drawn, and the next page starts right after
// the last one drawn: none is skipped between pages.
func TestPurchasesPagesShowEveryRow(t *testing.T) {
	f := newFake()
	seedPurchases(f, 60)
	d := newDriver(t, f, Options{}, 100, 30)
	d.press("3")
	seen := map[string]bool{}
	for page := 0; page < 10; page++ {
		v := d.expect("cs_test_")
		for _, line := range strings.Split(v, "\n") {
			if i := strings.Index(line, "cs_test_"); i >= 0 {
				seen[line[i:i+12]] = true
			}
		}
		if !strings.Contains(v, "n next") {
			break
		}
		d.press("n")
	}
	for i := 1; i <= 60; i++ {
		if id := fmt.Sprintf("cs_test_%04d", i); !seen[id] {
			t.Fatalf("%s never shown (saw %d of 60)", id, len(seen))
		}
	}
}

// The demo has no Stripe account: it shows only the tabs that work without
// one; a console without a key still shows the Stripe tabs, each saying
// what to set.
func TestDemoHidesTheStripeTabs(t *testing.T) {
	demo := newDriver(t, newFake(), Options{Demo: true}, 120, 30)
	if bar := demo.tabBar(); strings.Contains(bar, "Checkout") || strings.Contains(bar, "Health") {
		t.Fatalf("demo tab bar %q", bar)
	}
	plain := newDriver(t, newFake(), Options{}, 140, 30)
	if bar := plain.tabBar(); !strings.Contains(bar, "Checkout") {
		t.Fatalf("console tab bar %q", bar)
	}
}

// TestMoneyIsFormattedAsTheCLIDoes: a ¥500 purchase is "500 JPY" in the
// console, as in the command line, not "5.00 JPY".
func TestMoneyIsFormattedAsTheCLIDoes(t *testing.T) {
	f := newFake()
	f.purchases = append(f.purchases,
		billing.Purchase{ID: "cs_yen", Seq: 2, UserID: "u_1", Kind: "pack", Status: "paid", Credits: 500, AmountTotal: 500, Currency: "jpy"},
		billing.Purchase{ID: "cs_usd", Seq: 1, UserID: "u_2", Kind: "pack", Status: "paid", Credits: 1000, AmountTotal: 123456, Currency: "usd"})
	d := newDriver(t, f, Options{}, 120, 30)
	d.press("3")
	v := d.expect("cs_yen")
	for _, want := range []string{billing.FormatAmount(500, "jpy"), "500 JPY", "1,234.56 USD"} {
		if !strings.Contains(v, want) {
			t.Errorf("purchases tab lacks %q:\n%s", want, v)
		}
	}
	if strings.Contains(v, "5.00 JPY") {
		t.Errorf("a zero-decimal currency shown with decimals:\n%s", v)
	}
}

// TestHeaderSaysWhenWritesFail: with the disk full, the header says writes
// fail and events wait, so the founder knows before a customer does.
func TestHeaderSaysWhenWritesFail(t *testing.T) {
	f := newFake()
	f.stats.StoreFault = "no space left on device"
	d := newDriver(t, f, Options{}, 120, 30)
	v := d.expect("writes fail")
	if !strings.Contains(v, "events wait: no space left on device") {
		t.Fatalf("header:\n%s", v)
	}
}

// TestUsersCursorStaysOnItsUser: users arriving above the selected one
// (the list is in id order) must not slide someone else under the cursor:
// g and r act on the user the founder chose.
func TestUsersCursorStaysOnItsUser(t *testing.T) {
	f := newFake()
	f.addUser(billing.User{ID: "u_b", Tier: "free"})
	f.addUser(billing.User{ID: "u_d", Tier: "free"})
	d := newDriver(t, f, Options{}, 100, 30)
	d.press("4")
	d.expect("u_d")
	d.press("down")
	f.addUser(billing.User{ID: "u_a", Tier: "free"})
	f.addUser(billing.User{ID: "u_c", Tier: "free"})
	f.feed <- billing.Activity{At: fixedNow, Kind: billing.ActivityEvent, Seq: 9, Type: "checkout.session.completed", User: "u_a", State: billing.StateApplied}
	d.settle()
	d.advance(statsEvery)
	v := d.expect("u_c")
	if row := lineWith(v, "›"); !strings.Contains(row, "u_d") {
		t.Fatalf("the cursor left u_d for %q:\n%s", row, v)
	}
}
