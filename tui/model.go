package tui

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/charmbracelet/bubbles/help"
	"github.com/charmbracelet/bubbles/key"
	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/lipgloss"

	"creditdesk/billing"
)

const (
	// headerLines, tabLines and statusLines frame the active pane.
	headerLines = 2
	tabLines    = 1
	statusLines = 1
)

// model is the root of the console. It routes: keys go to the open form,
// else to the active tab; results go to the pane that asked; errors go to
// the status line. It does not do the panes' work.
type model struct {
	*common
	ctx  context.Context
	b    Backend
	opt  Options
	help help.Model
	// wait is waitForActivity; tests replace it to hand the feed over when
	// they choose.
	wait func(<-chan billing.Activity) tea.Cmd

	tabs      []Component
	active    int
	usersTab  int
	form      *adjustForm
	feed      <-chan billing.Activity
	stopFeed  func()
	stopOnce  sync.Once
	feedEnded bool

	stats        billing.Stats
	statsLoading bool

	status    string
	statusErr bool
	statusAt  time.Time

	width, height int
	helpH         int // lines the help takes, as of the last layout
}

func newModel(ctx context.Context, b Backend, opt Options, now func() time.Time) *model {
	r := opt.Renderer
	if r == nil {
		r = lipgloss.DefaultRenderer()
	}
	st := DefaultStyles(r)
	km := DefaultKeyMap()
	h := help.New()
	h.Styles = st.Help
	c := &common{st: &st, km: &km, now: now, after: tea.Tick}
	m := &model{common: c, ctx: ctx, b: b, opt: opt, help: h, wait: waitForActivity}
	m.tabs = []Component{
		newOverviewPane(c, b),
		newLivePane(c, b),
		newPurchasesPane(c, b),
		newUsersPane(c, b),
		newAttentionPane(ctx, c, b),
		newAPIKeysPane(ctx, c, b),
	}
	// The Stripe panes need a Stripe account; the demo has none, so it
	// shows only what works without one.
	// Attached to a process without a key, they could only say "set the
	// key" of a process the console does not run: they are left out too.
	_, attached := b.(Attached)
	if opt.Operator != nil || !opt.Demo && !attached {
		m.tabs = append(m.tabs,
			newCheckoutPane(ctx, c, opt.Operator, newClipboard(opt.Clipboard)),
			newCapturesPane(ctx, c, opt.Operator),
			newCatalogPane(ctx, c, opt.Operator),
			newHealthPane(ctx, c, opt.Operator),
		)
	}
	m.tabs = append(m.tabs, newDeliveriesPane(c, b))
	m.usersTab = 3
	m.feed, m.stopFeed = b.Subscribe()
	m.width, m.height = 80, 24
	m.layout()
	return m
}

// close ends the feed subscription once.
func (m *model) close() {
	m.stopOnce.Do(func() {
		if m.stopFeed != nil {
			m.stopFeed()
		}
	})
}

func (m *model) Init() tea.Cmd {
	cmds := []tea.Cmd{m.wait(m.feed), m.loadStats(), m.tick()}
	for _, t := range m.tabs {
		cmds = append(cmds, t.Init())
	}
	// Panes read their first page once they know their size.
	cmds = append(cmds, m.broadcast(tea.WindowSizeMsg{Width: m.width, Height: m.height}))
	return tea.Batch(cmds...)
}

func (m *model) loadStats() tea.Cmd {
	if m.statsLoading {
		return nil
	}
	m.statsLoading = true
	return loadStatsCmd(m.b)
}

// broadcast gives msg to every tab.
func (m *model) broadcast(msg tea.Msg) tea.Cmd {
	cmds := make([]tea.Cmd, 0, len(m.tabs))
	for _, t := range m.tabs {
		_, cmd := t.Update(msg)
		cmds = append(cmds, cmd)
	}
	return tea.Batch(cmds...)
}

func (m *model) Update(msg tea.Msg) (tea.Model, tea.Cmd) {
	switch msg := msg.(type) {
	case tea.WindowSizeMsg:
		m.width, m.height = msg.Width, msg.Height
		m.layout()
		return m, m.broadcast(msg)
	case tea.KeyMsg:
		return m, m.key(msg)
	case activityMsg:
		if msg.a.Kind == billing.ActivitySystem && msg.a.Type == "reattached" && m.statusErr {
			m.status = "" // the errors of the time it was away are over
		}
		return m, tea.Batch(m.broadcast(msg), m.wait(m.feed), m.loadStats())
	case feedClosedMsg:
		m.feedEnded = true
		m.setStatus(errors.New("live feed closed; restart to see new events"))
		return m, m.broadcast(msg)
	case statsMsg:
		m.stats, m.statsLoading = msg.s, false
		return m, nil
	case tickMsg:
		m.expireStatus()
		return m, tea.Batch(m.loadStats(), m.tick(), m.broadcast(msg))
	case errMsg:
		m.setStatus(msg.err)
		return m, nil
	case infoMsg:
		m.setInfo(string(msg))
		return m, nil
	case openUserMsg:
		m.active = m.usersTab
		m.layout()
		_, cmd := m.tabs[m.usersTab].Update(msg)
		return m, cmd
	case openAdjustMsg:
		m.form = newAdjustForm(m.ctx, m.b, m.st, m.km, msg)
		m.layout()
		return m, nil
	case closeFormMsg:
		m.form = nil
		m.layout()
		return m, nil
	case adjustDoneMsg:
		return m, m.adjustDone(msg)
	}
	// Everything else (page results, input blinks) goes to the form and the
	// tabs; each drops what it did not ask for.
	var cmds []tea.Cmd
	if m.form != nil {
		_, cmd := m.form.Update(msg)
		cmds = append(cmds, cmd)
	}
	cmds = append(cmds, m.broadcast(msg))
	return m, tea.Batch(cmds...)
}

// adjustDone closes the form on success and tells the panes, so the user
// detail shows the new balance; a failure stays in the form.
func (m *model) adjustDone(msg adjustDoneMsg) tea.Cmd {
	if m.form != nil {
		m.form.Update(msg)
	}
	if msg.err != nil {
		if m.form == nil || m.form.key != msg.key {
			// The form that asked is gone; the status line is all that is left.
			m.setStatus(fmt.Errorf("adjusting %s: %w", msg.user, msg.err))
		}
		m.layout()
		return nil
	}
	if m.form != nil && m.form.key == msg.key {
		m.form = nil
		m.layout()
	}
	m.setInfo(adjustedText(msg))
	return tea.Batch(m.broadcast(msg), m.loadStats())
}

func (m *model) key(msg tea.KeyMsg) tea.Cmd {
	if key.Matches(msg, m.km.Interrupt) {
		return m.quit()
	}
	if m.form != nil {
		_, cmd := m.form.Update(msg)
		m.layout()
		return cmd
	}
	pane := m.tabs[m.active]
	if capturing(pane) {
		_, cmd := pane.Update(msg)
		m.layout() // the pane's help may have changed
		return cmd
	}
	switch {
	case key.Matches(msg, m.km.Quit):
		return m.quit()
	case key.Matches(msg, m.km.Help):
		m.help.ShowAll = !m.help.ShowAll
		m.layout()
		return nil
	case key.Matches(msg, m.km.NextTab):
		m.active = (m.active + 1) % len(m.tabs)
		m.layout()
		return nil
	case key.Matches(msg, m.km.PrevTab):
		m.active = (m.active - 1 + len(m.tabs)) % len(m.tabs)
		m.layout()
		return nil
	case key.Matches(msg, m.km.GotoTab):
		i := int(msg.String()[0] - '1')
		if msg.String() == "0" {
			i = 9 // the tenth tab
		}
		if i >= 0 && i < len(m.tabs) {
			m.active = i
			m.layout()
		}
		return nil
	}
	_, cmd := pane.Update(msg)
	m.layout()
	return cmd
}

// tick is the next tickMsg, statsEvery from now.
func (m *model) tick() tea.Cmd {
	return m.after(statsEvery, func(t time.Time) tea.Msg { return tickMsg(t) })
}

func (m *model) quit() tea.Cmd {
	m.close()
	return tea.Quit
}

// bodyHeight is what is left for the active pane.
func (m *model) bodyHeight() int {
	return max(m.height-headerLines-tabLines-statusLines-m.helpH, 1)
}

// layout sizes every pane to the body: the terminal less the frame and the
// help, which grows when ? shows all keys.
func (m *model) layout() {
	m.help.Width = m.width
	m.helpH = lipgloss.Height(m.help.View(m.helpKeys()))
	h := m.bodyHeight()
	for _, t := range m.tabs {
		t.SetSize(m.width, h)
	}
	if m.form != nil {
		m.form.SetSize(m.width, h)
	}
}

func (m *model) View() string {
	w := m.width
	bodyH := m.bodyHeight()
	var body string
	if m.form != nil {
		body = lipgloss.Place(w, bodyH, lipgloss.Center, lipgloss.Center, m.form.View())
	} else {
		body = m.tabs[m.active].View()
	}
	var b strings.Builder
	b.WriteString(m.headerView())
	b.WriteByte('\n')
	b.WriteString(m.tabsView())
	b.WriteByte('\n')
	b.WriteString(fitBlock(body, w, bodyH, m.st.Fit))
	b.WriteByte('\n')
	b.WriteString(m.statusView())
	b.WriteByte('\n')
	b.WriteString(fitBlock(m.help.View(m.helpKeys()), w, m.helpH, m.st.Fit))
	return b.String()
}
