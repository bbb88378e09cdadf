package tui

import (
	"errors"
	"strings"
	"testing"
	"time"

	tea "github.com/charmbracelet/bubbletea"

	"creditdesk/billing"
)

// newRoutingModel is the console at 80x24 with timers and the feed parked
// (their commands return markers), so Update's commands can be run.
func newRoutingModel(t *testing.T) (*model, *fakeBackend) {
	t.Helper()
	f := newFake()
	seedUsers(f, 5)
	seedPurchases(f, 5)
	m := newTestModel(f, Options{})
	m.after = func(d time.Duration, fn func(time.Time) tea.Msg) tea.Cmd {
		return func() tea.Msg { return timerMsg{d, fn} }
	}
	m.wait = func(<-chan billing.Activity) tea.Cmd { return func() tea.Msg { return feedArmedMsg{} } }
	m.Update(tea.WindowSizeMsg{Width: 80, Height: 24})
	return m, f
}

// msgsOf runs cmd and the commands of any batch it returns, and returns
// their messages (markers of parked timers and the feed left out).
func msgsOf(cmd tea.Cmd) []tea.Msg {
	if cmd == nil {
		return nil
	}
	switch msg := cmd().(type) {
	case nil, timerMsg, feedArmedMsg:
		return nil
	case tea.BatchMsg:
		var out []tea.Msg
		for _, c := range msg {
			out = append(out, msgsOf(c)...)
		}
		return out
	default:
		return []tea.Msg{msg}
	}
}

// deliver gives the messages of cmd back to m, as a program would, until
// none is left.
func deliver(m *model, cmd tea.Cmd) {
	for _, msg := range msgsOf(cmd) {
		_, next := m.Update(msg)
		deliver(m, next)
	}
}

func quits(cmd tea.Cmd) bool {
	for _, msg := range msgsOf(cmd) {
		if _, ok := msg.(tea.QuitMsg); ok {
			return true
		}
	}
	return false
}

func (m *model) users() *usersPane         { return m.tabs[m.usersTab].(*usersPane) }
func (m *model) purchases() *purchasesPane { return m.tabs[2].(*purchasesPane) }
func (m *model) live() *livePane           { return m.tabs[1].(*livePane) }

// loadLists reads the first pages of Live, Purchases and Users.
func loadLists(m *model) {
	deliver(m, tea.Batch(m.live().Init(), m.purchases().pager.load(), m.users().pager.load()))
}

func openForm(m *model) {
	m.Update(openAdjustMsg{user: "u_001", grant: true, balance: 100})
}

// submitForm opens the grant form, fills it and confirms: the Adjust call
// is out (its command is not run) and the form waits for its answer.
func submitForm(m *model) {
	openForm(m)
	for _, k := range []string{"5", "tab", "x", "enter", "y"} {
		m.Update(keyMsg(k))
	}
}

func TestUpdateRouting(t *testing.T) {
	boom := errors.New("boom")
	tests := []struct {
		name  string
		setup func(m *model)
		msg   func(m *model) tea.Msg
		check func(t *testing.T, m *model, cmd tea.Cmd)
	}{
		{
			name:  "a key goes to the open form first",
			setup: openForm,
			msg:   func(*model) tea.Msg { return keyMsg("3") },
			check: func(t *testing.T, m *model, _ tea.Cmd) {
				if m.active != 0 || m.form.amount.Value() != "3" {
					t.Errorf("active %d, amount %q: want tab 1 and 3 typed in the form", m.active, m.form.amount.Value())
				}
			},
		},
		{
			name:  "q types into the open form",
			setup: openForm,
			msg:   func(*model) tea.Msg { return keyMsg("q") },
			check: func(t *testing.T, m *model, cmd tea.Cmd) {
				if quits(cmd) || m.form.amount.Value() != "q" {
					t.Errorf("q quit or was not typed (amount %q)", m.form.amount.Value())
				}
			},
		},
		{
			name:  "ctrl+c quits with the form open",
			setup: openForm,
			msg:   func(*model) tea.Msg { return keyMsg("ctrl+c") },
			check: func(t *testing.T, _ *model, cmd tea.Cmd) {
				if !quits(cmd) {
					t.Error("ctrl+c did not quit")
				}
			},
		},
		{
			name: "without a form a digit goes to the root and picks a tab",
			msg:  func(*model) tea.Msg { return keyMsg("3") },
			check: func(t *testing.T, m *model, _ tea.Cmd) {
				if m.active != 2 {
					t.Errorf("active %d, want 2 (Purchases)", m.active)
				}
			},
		},
		{
			name:  "a list key goes to the active tab only",
			setup: func(m *model) { loadLists(m); m.active = m.usersTab },
			msg:   func(*model) tea.Msg { return keyMsg("down") },
			check: func(t *testing.T, m *model, _ tea.Cmd) {
				if c := m.users().pager.cursor; c != 1 {
					t.Errorf("users cursor %d, want 1", c)
				}
				if c := m.purchases().pager.cursor; c != 0 {
					t.Errorf("purchases cursor %d, want 0", c)
				}
			},
		},
		{
			name: "a pane that holds the keyboard gets q",
			setup: func(m *model) {
				m.active = m.usersTab
				m.Update(keyMsg("/"))
			},
			msg: func(*model) tea.Msg { return keyMsg("q") },
			check: func(t *testing.T, m *model, cmd tea.Cmd) {
				if quits(cmd) || m.users().filter.Value() != "q" {
					t.Errorf("q quit or was not typed in the filter (%q)", m.users().filter.Value())
				}
			},
		},
		{
			name: "a page goes to the pane that asked",
			msg: func(m *model) tea.Msg {
				return purchasesLoadedMsg{gen: m.purchases().pager.gen, rows: []billing.Purchase{{ID: "cs_1", Seq: 1}}}
			},
			check: func(t *testing.T, m *model, _ tea.Cmd) {
				if n := len(m.purchases().pager.rows); n != 1 {
					t.Errorf("purchases has %d rows, want 1", n)
				}
				if n := len(m.users().pager.rows); n != 0 {
					t.Errorf("users took the purchases page: %d rows", n)
				}
			},
		},
		{
			name: "an answer to an older ask is dropped",
			msg: func(m *model) tea.Msg {
				return purchasesLoadedMsg{gen: m.purchases().pager.gen - 1, rows: []billing.Purchase{{ID: "cs_1", Seq: 1}}}
			},
			check: func(t *testing.T, m *model, _ tea.Cmd) {
				if n := len(m.purchases().pager.rows); n != 0 {
					t.Errorf("a stale page was shown: %d rows", n)
				}
			},
		},
		{
			name:  "a user's detail goes to that user's detail only",
			setup: func(m *model) { m.Update(openUserMsg{"u_001"}) },
			msg: func(m *model) tea.Msg {
				return detailLoadedMsg{gen: m.users().detail.gen, id: "u_002", detail: billing.UserDetail{User: billing.User{ID: "u_002"}}}
			},
			check: func(t *testing.T, m *model, _ tea.Cmd) {
				if m.users().detail.loaded {
					t.Error("u_001's detail took u_002's")
				}
			},
		},
		{
			name:  "a failed read reports to the status line",
			setup: loadLists,
			msg: func(m *model) tea.Msg {
				return usersLoadedMsg{gen: m.users().pager.gen, err: boom}
			},
			check: func(t *testing.T, m *model, cmd tea.Cmd) {
				deliver(m, cmd)
				if !m.statusErr || m.status != "loading users: boom" {
					t.Errorf("status %q (error %v)", m.status, m.statusErr)
				}
				if n := len(m.users().pager.rows); n == 0 {
					t.Error("a failed reload dropped the rows shown")
				}
			},
		},
		{
			name: "a failed first read says so in the pane and on the status line",
			msg:  func(*model) tea.Msg { return eventsLoadedMsg{err: boom} },
			check: func(t *testing.T, m *model, cmd tea.Cmd) {
				deliver(m, cmd)
				if v := m.live().View(); !strings.Contains(v, "boom") || strings.Contains(v, "loading…") {
					t.Errorf("live pane:\n%s", v)
				}
				if m.status != "loading events: boom" {
					t.Errorf("status %q", m.status)
				}
			},
		},
		{
			name: "an error goes to the status line",
			msg:  func(*model) tea.Msg { return errMsg{boom} },
			check: func(t *testing.T, m *model, _ tea.Cmd) {
				if line := m.statusView(); line != "! boom" {
					t.Errorf("status line %q", line)
				}
			},
		},
		{
			name: "a message goes to the status line",
			msg:  func(*model) tea.Msg { return infoMsg("done") },
			check: func(t *testing.T, m *model, _ tea.Cmd) {
				if line := m.statusView(); line != "done" {
					t.Errorf("status line %q", line)
				}
			},
		},
		{
			name: "opening a user switches to Users",
			msg:  func(*model) tea.Msg { return openUserMsg{"u_001"} },
			check: func(t *testing.T, m *model, _ tea.Cmd) {
				if m.active != m.usersTab || m.users().detail == nil || m.users().detail.id != "u_001" {
					t.Errorf("active %d, detail %v", m.active, m.users().detail)
				}
			},
		},
		{
			name:  "the form's own result closes it and says so",
			setup: submitForm,
			msg: func(m *model) tea.Msg {
				return adjustDoneMsg{user: "u_001", delta: 5, key: m.form.key, entry: billing.Entry{BalanceAfter: 105}}
			},
			check: func(t *testing.T, m *model, _ tea.Cmd) {
				if m.form != nil {
					t.Error("the form is still open")
				}
				if m.status != "Granted 5 credits to u_001 · balance 105" {
					t.Errorf("status %q", m.status)
				}
			},
		},
		{
			name:  "the form's own failure stays in the form",
			setup: submitForm,
			msg: func(m *model) tea.Msg {
				return adjustDoneMsg{user: "u_001", delta: 5, key: m.form.key, err: boom}
			},
			check: func(t *testing.T, m *model, _ tea.Cmd) {
				if m.form == nil || m.form.err != boom || m.form.pending || m.status != "" {
					t.Errorf("form open %v, status %q", m.form != nil, m.status)
				}
			},
		},
		{
			name: "a failure for a closed form goes to the status line",
			msg: func(*model) tea.Msg {
				return adjustDoneMsg{user: "u_001", delta: 5, key: "console:gone", err: boom}
			},
			check: func(t *testing.T, m *model, _ tea.Cmd) {
				if m.status != "adjusting u_001: boom" || !m.statusErr {
					t.Errorf("status %q", m.status)
				}
			},
		},
		{
			name:  "esc in the form closes it",
			setup: openForm,
			msg:   func(*model) tea.Msg { return keyMsg("esc") },
			check: func(t *testing.T, m *model, cmd tea.Cmd) {
				deliver(m, cmd)
				if m.form != nil {
					t.Error("the form is still open")
				}
			},
		},
		{
			name: "a new size reaches every pane",
			msg:  func(*model) tea.Msg { return tea.WindowSizeMsg{Width: 120, Height: 40} },
			check: func(t *testing.T, m *model, _ tea.Cmd) {
				if m.live().list.width != 120 || m.purchases().pager.width != 120 || m.users().pager.width != 120 {
					t.Errorf("widths %d %d %d, want 120", m.live().list.width, m.purchases().pager.width, m.users().pager.width)
				}
				if got, want := m.users().pager.limit, pageSizeFor(m.bodyHeight()); got != want {
					t.Errorf("users page %d rows, want %d", got, want)
				}
			},
		},
		{
			name: "activity reaches every tab",
			msg: func(*model) tea.Msg {
				return activityMsg{billing.Activity{At: fixedNow, Kind: billing.ActivityEvent, Seq: 9, Type: "invoice.paid"}}
			},
			check: func(t *testing.T, m *model, _ tea.Cmd) {
				if m.live().rows.Len() != 1 || !m.purchases().pager.stale || !m.users().pager.stale {
					t.Errorf("live %d rows, purchases stale %v, users stale %v", m.live().rows.Len(), m.purchases().pager.stale, m.users().pager.stale)
				}
			},
		},
		{
			name: "a closed feed goes to the status line",
			msg:  func(*model) tea.Msg { return feedClosedMsg{} },
			check: func(t *testing.T, m *model, _ tea.Cmd) {
				if !strings.Contains(m.status, "live feed closed") || !m.feedEnded {
					t.Errorf("status %q, feed ended %v", m.status, m.feedEnded)
				}
			},
		},
		{
			name:  "a tick clears an old message",
			setup: func(m *model) { m.setInfo("old"); m.statusAt = fixedNow.Add(-statusTTL - time.Second) },
			msg:   func(*model) tea.Msg { return tickMsg(fixedNow) },
			check: func(t *testing.T, m *model, _ tea.Cmd) {
				if m.status != "" {
					t.Errorf("status %q kept", m.status)
				}
			},
		},
		{
			name:  "a tick keeps an error four times as long",
			setup: func(m *model) { m.setStatus(boom); m.statusAt = fixedNow.Add(-statusTTL - time.Second) },
			msg:   func(*model) tea.Msg { return tickMsg(fixedNow) },
			check: func(t *testing.T, m *model, _ tea.Cmd) {
				if m.status != "boom" {
					t.Errorf("status %q, want the error kept", m.status)
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, _ := newRoutingModel(t)
			if tt.setup != nil {
				tt.setup(m)
			}
			_, cmd := m.Update(tt.msg(m))
			tt.check(t, m, cmd)
		})
	}
}
