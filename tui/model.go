package tui

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/charmbracelet/bubbles/help"
	"github.com/charmbracelet/bubbles/key"
	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/lipgloss"

	"creditdesk/billing"
)

// Options configure the console.
type Options struct {
	// Demo shows a banner saying the events are simulated.
	Demo bool
	// WebhookURL is where Stripe should send events, shown in the header.
	WebhookURL string
	// DBPath is the store's file, shown in full help.
	DBPath string
	// Renderer renders the styles; nil uses lipgloss's default renderer.
	Renderer *lipgloss.Renderer
	// Notice is a standing warning for the header, such as a missing
	// webhook secret; empty shows nothing.
	Notice string
	// Operator acts through the Stripe API for the Checkout, Captures,
	// Catalog and Health tabs; nil (no STRIPE_SECRET_KEY) makes them say so.
	Operator Operator
	// Clipboard receives OSC 52 clipboard writes; nil is the terminal
	// (stderr).
	Clipboard io.Writer
	// Who is the operator this console acts as, shown in the header when
	// it is not the machine's own user (an SSH session: "ssh:laptop").
	Who string
}

const (
	productName = "creditdesk"
	demoBanner  = "DEMO — simulated Stripe events, no real money"
	// headerLines, tabLines and statusLines frame the active pane.
	headerLines = 2
	tabLines    = 1
	statusLines = 1
	// statusTTL is how long an info message stays on the status line; an
	// error stays four times as long.
	statusTTL = 8 * time.Second
)

// model is the root of the console. It routes: keys go to the open form,
// else to the active tab; results go to the pane that asked; errors go to
// the status line. It does not do the panes' work.
type model struct {
	ctx  context.Context
	b    Backend
	opt  Options
	st   *Styles
	km   *KeyMap
	now  func() time.Time
	help help.Model

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

// New returns the console as a Bubble Tea model. It subscribes to the live
// feed at once; quitting ends the subscription.
func New(b Backend, opt Options) tea.Model {
	return newModel(context.Background(), b, opt, time.Now)
}

// NewSession returns a console for a terminal that is not this process's
// own, such as an SSH session: ctx is the session's (it names the operator,
// see billing.WithOperator) and opt.Renderer should be the session's, so
// colours fit its terminal. end ends its live feed subscription; call it
// when the session ends, however it ends.
func NewSession(ctx context.Context, b Backend, opt Options) (m tea.Model, end func()) {
	cm := newModel(ctx, b, opt, time.Now)
	return cm, cm.close
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
	m := &model{ctx: ctx, b: b, opt: opt, st: &st, km: &km, now: now, help: h}
	m.tabs = []Component{
		newLivePane(b, m.st, m.km, now),
		newPurchasesPane(b, m.st, m.km, now),
		newUsersPane(b, m.st, m.km, now),
		newAttentionPane(ctx, b, m.st, m.km, now),
		newAPIKeysPane(ctx, b, m.st, m.km, now),
	}
	// The Stripe panes need a Stripe account; the demo has none, so it
	// shows only what works without one.
	if opt.Operator != nil || !opt.Demo {
		m.tabs = append(m.tabs,
			newCheckoutPane(ctx, opt.Operator, m.st, m.km, now, newClipboard(opt.Clipboard)),
			newCapturesPane(ctx, opt.Operator, m.st, m.km, now),
			newCatalogPane(ctx, opt.Operator, m.st, m.km),
			newHealthPane(ctx, opt.Operator, m.st, m.km),
		)
	}
	m.usersTab = 2
	m.feed, m.stopFeed = b.Subscribe()
	m.width, m.height = 80, 24
	m.layout()
	return m
}

// Run shows the console full screen until the operator quits or ctx ends.
// The terminal is restored either way. It returns nil on a normal quit and
// when ctx was cancelled.
func Run(ctx context.Context, b Backend, opt Options) error {
	m := newModel(ctx, b, opt, time.Now)
	defer m.close()
	_, err := tea.NewProgram(m, tea.WithAltScreen(), tea.WithContext(ctx)).Run()
	if err != nil && ctx.Err() != nil && errors.Is(err, tea.ErrProgramKilled) {
		return nil
	}
	return err
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
	cmds := []tea.Cmd{waitForActivity(m.feed), m.loadStats(), tickCmd()}
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
		return m, tea.Batch(m.broadcast(msg), waitForActivity(m.feed), m.loadStats())
	case feedClosedMsg:
		m.feedEnded = true
		m.setStatus(errors.New("live feed closed; restart to see new events"))
		return m, m.broadcast(msg)
	case statsMsg:
		m.stats, m.statsLoading = msg.s, false
		return m, nil
	case tickMsg:
		if ttl := statusTTL; m.status != "" {
			if m.statusErr {
				ttl *= 4
			}
			if m.now().Sub(m.statusAt) > ttl {
				m.status = ""
			}
		}
		return m, tea.Batch(m.loadStats(), tickCmd(), m.broadcast(msg))
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
	verb := "Granted"
	prep := "to"
	if msg.delta < 0 {
		verb, prep = "Revoked", "from"
	}
	m.setInfo(fmt.Sprintf("%s %s credits %s %s · balance %s", verb, formatCredits(abs(msg.delta)), prep, msg.user, formatCredits(msg.entry.BalanceAfter)))
	return tea.Batch(m.broadcast(msg), m.loadStats())
}

func (m *model) key(msg tea.KeyMsg) tea.Cmd {
	if msg.Type == tea.KeyCtrlC {
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
		if i := int(msg.String()[0] - '1'); i >= 0 && i < len(m.tabs) {
			m.active = i
			m.layout()
		}
		return nil
	}
	_, cmd := pane.Update(msg)
	m.layout()
	return cmd
}

func (m *model) quit() tea.Cmd {
	m.close()
	return tea.Quit
}

func (m *model) setStatus(err error) {
	m.status, m.statusErr, m.statusAt = err.Error(), true, m.now()
}

func (m *model) setInfo(s string) {
	m.status, m.statusErr, m.statusAt = s, false, m.now()
}

// helpKeys is what the help line describes: the form's keys while it is
// open, else the active pane's followed by the global ones.
type helpKeys struct {
	pane   help.KeyMap
	global []key.Binding
	more   []key.Binding
}

func (h helpKeys) ShortHelp() []key.Binding {
	return append(append([]key.Binding{}, h.pane.ShortHelp()...), h.global...)
}

func (h helpKeys) FullHelp() [][]key.Binding {
	return append(append([][]key.Binding{}, h.pane.FullHelp()...), h.more)
}

func (m *model) helpKeys() help.KeyMap {
	if m.form != nil {
		return m.form
	}
	pane := m.tabs[m.active]
	if capturing(pane) {
		return pane
	}
	return helpKeys{
		pane:   pane,
		global: []key.Binding{m.km.NextTab, m.km.Help, m.km.Quit},
		more:   []key.Binding{m.km.NextTab, m.km.PrevTab, m.km.GotoTab, m.km.Help, m.km.Quit},
	}
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

// headerView is two lines: the product and the demo banner; the webhook URL
// and the counters.
func (m *model) headerView() string {
	w := m.width
	line1 := m.st.Product.Render(truncate(productName, w))
	used := len(productName)
	if m.opt.Demo && w > used+3 {
		banner := truncate(" "+demoBanner+" ", w-used-2)
		line1 += "  " + m.st.Demo.Render(banner)
		used += 2 + lipgloss.Width(banner)
	}
	if f := m.stats.StoreFault; f != "" && w > used+4 {
		text := truncate("! writes fail, events wait: "+f, w-used-2)
		line1 += "  " + m.st.Danger.Render(text)
		used += 2 + lipgloss.Width(text)
	}
	if m.opt.Who != "" && w > used+4 {
		who := truncate("as "+m.opt.Who, w-used-2)
		line1 += "  " + m.st.Muted.Render(who)
		used += 2 + lipgloss.Width(who)
	}
	if at, ok := m.b.(Attached); ok && w > used+4 {
		text, up := at.Attachment()
		style := m.st.Muted
		if !up {
			style = m.st.Warning
		}
		text = truncate(text, w-used-2)
		line1 += "  " + style.Render(text)
		used += 2 + lipgloss.Width(text)
	}
	if m.opt.Notice != "" && w > used+4 {
		line1 += "  " + m.st.Warning.Render(truncate(m.opt.Notice, w-used-2))
	}

	s := m.stats
	var rejected uint64
	for _, n := range s.Rejected {
		rejected += n
	}
	counters := fmt.Sprintf("recv %s · dup %s · rej %s · failed %s · attention %s",
		formatCount(s.Received), formatCount(s.Duplicates), formatCount(rejected),
		formatCount(s.Failed), formatCount(s.Attention))
	counters = truncate(counters, w)
	url := m.opt.WebhookURL
	if url == "" {
		url = "(no webhook url)"
	}
	room := w - lipgloss.Width(counters) - 2
	var line2 string
	if room >= 12 {
		u := truncate("webhook "+url, room)
		line2 = m.st.URL.Render(u) + strings.Repeat(" ", w-lipgloss.Width(u)-lipgloss.Width(counters)) + m.st.Counters.Render(counters)
	} else {
		line2 = m.st.Counters.Render(counters)
	}
	return line1 + "\n" + line2
}

// tabsView is the tab bar: "[1 Live]  2 Purchases  3 Users". When the
// titles do not fit, inactive tabs show them shortened ("2 Purc"), and at
// worst their number only; the active tab always shows its whole title.
func (m *model) tabsView() string {
	label := func(i, n int) string {
		title := []rune(paneTitle(m.tabs[i]))
		if i == m.active {
			return fmt.Sprintf("[%d %s]", i+1, string(title))
		}
		if n <= 0 {
			return fmt.Sprintf(" %d ", i+1)
		}
		return fmt.Sprintf(" %d %s ", i+1, strings.TrimSpace(string(title[:min(n, len(title))])))
	}
	width := func(n int) int {
		w := len(m.tabs) - 1
		for i := range m.tabs {
			w += lipgloss.Width(label(i, n))
		}
		return w
	}
	n := 0
	for _, try := range []int{1 << 10, 8, 6, 4, 3} {
		if width(try) <= m.width {
			n = try
			break
		}
	}
	var b strings.Builder
	used := 0
	for i := range m.tabs {
		l := label(i, n)
		if used+lipgloss.Width(l)+1 > m.width {
			break
		}
		if i > 0 {
			b.WriteByte(' ')
			used++
		}
		if i == m.active {
			b.WriteString(m.st.TabActive.Render(l))
		} else {
			b.WriteString(m.st.Tab.Render(l))
		}
		used += lipgloss.Width(l)
	}
	return b.String()
}

// statusView is the one status line: the last error or message, else the
// store totals.
func (m *model) statusView() string {
	if m.status != "" {
		if m.statusErr {
			return m.st.StatusErr.Render(truncate("! "+m.status, m.width))
		}
		return m.st.Status.Render(truncate(m.status, m.width))
	}
	s := m.stats
	feed := "live"
	if m.feedEnded {
		feed = "feed closed"
	}
	if at, ok := m.b.(Attached); ok {
		if _, up := at.Attachment(); !up {
			feed = "detached"
		}
	}
	line := fmt.Sprintf("%s · %s events · %s users · %s purchases", feed,
		formatCount(s.Events), formatCount(s.Users), formatCount(s.Purchases))
	if !s.LastBackup.IsZero() {
		line += " · backup " + formatAge(m.now().Sub(s.LastBackup)) + " ago"
	}
	if m.help.ShowAll && m.opt.DBPath != "" {
		line += " · " + m.opt.DBPath
	}
	return m.st.Status.Render(truncate(line, m.width))
}
