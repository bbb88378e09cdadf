package tui

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/charmbracelet/bubbles/key"
	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/lipgloss"

	"creditdesk/billing"
)

// Messages of the Deliveries pane.
type (
	deliveriesLoadedMsg struct {
		gen       int
		rows      []billing.Delivery
		endpoints []billing.EndpointState
		err       error
	}
	// deliveryActionMsg is the result of a resend or a re-enable.
	deliveryActionMsg struct {
		info string
		err  error
	}
)

func loadDeliveriesCmd(b Backend, gen int, before uint64, limit int) tea.Cmd {
	return func() tea.Msg {
		rows, err := b.Deliveries(before, limit, false)
		var eps []billing.EndpointState
		if err == nil {
			eps, err = b.EndpointStates()
		}
		return deliveriesLoadedMsg{gen, rows, eps, err}
	}
}

func resendDeliveryCmd(b Backend, d billing.Delivery) tea.Cmd {
	return func() tea.Msg {
		err := b.ResendDelivery(d.Seq)
		return deliveryActionMsg{fmt.Sprintf("%s %d queued again (same webhook-id %s)", d.Type, d.Seq, d.ID), err}
	}
}

func resendFailedCmd(b Backend) tea.Cmd {
	return func() tea.Msg {
		n, err := b.ResendFailed()
		info := fmt.Sprintf("%d failed messages queued again", n)
		if n == 0 {
			info = "no failed messages to resend"
		}
		return deliveryActionMsg{info, err}
	}
}

func enableEndpointCmd(b Backend, ep billing.EndpointState) tea.Cmd {
	return func() tea.Msg {
		return deliveryActionMsg{"re-enabled " + shortURL(ep.URL) + ": its waiting messages go out again", b.EnableEndpoint(ep.ID)}
	}
}

// deliveriesPane lists the messages sent to the founder's app, newest
// first, with each endpoint's state above them: r resends the selected
// message, R every failed one, e re-enables a disabled endpoint.
type deliveriesPane struct {
	*common
	b         Backend
	pager     pager[uint64, billing.Delivery]
	endpoints []billing.EndpointState
	width     int
}

func newDeliveriesPane(c *common, b Backend) *deliveriesPane {
	p := &deliveriesPane{common: c, b: b}
	p.pager = pager[uint64, billing.Delivery]{
		list: newList(c, "deliveries", "no messages to your app yet: configure [[app_webhooks]] in creditdesk.toml",
			column{Title: "TIME", Width: 10},
			column{Title: "MESSAGE", Flex: 1, Min: 14},
			column{Title: "USER", Width: 12},
			column{Title: "STATE", Width: 9},
			column{Title: "TRIES", Width: 5, Right: true},
			column{Title: "ANSWER", Flex: 1, Min: 8},
			column{Title: "NEXT", Width: 10},
		),
		next: func(last billing.Delivery) uint64 { return last.Seq },
		id:   func(d billing.Delivery) string { return strconv.FormatUint(d.Seq, 10) },
		read: func(gen int, before uint64, limit int) tea.Cmd { return loadDeliveriesCmd(b, gen, before, limit) },
	}
	return p
}

func (p *deliveriesPane) Title() string { return "Deliveries" }

func (p *deliveriesPane) Init() tea.Cmd { return nil }

// SetSize keeps a line for the endpoints' summary above the list.
func (p *deliveriesPane) SetSize(w, h int) {
	p.width = w
	p.pager.setSize(w, h-1)
}

func (p *deliveriesPane) Update(msg tea.Msg) (tea.Model, tea.Cmd) {
	var cmd tea.Cmd
	switch msg := msg.(type) {
	case deliveriesLoadedMsg:
		if msg.gen == p.pager.gen && msg.err == nil {
			p.endpoints = msg.endpoints
		}
		cmd = p.pager.loaded(msg.gen, msg.rows, msg.err)
	case deliveryActionMsg:
		if msg.err != nil {
			cmd = reportErr(msg.err)
		} else {
			cmd = msgCmd(infoMsg(msg.info))
		}
		p.pager.stale = true
		cmd = tea.Batch(cmd, p.pager.tick())
	case activityMsg:
		p.pager.stale = true
	case tickMsg:
		// Deliveries change without a feed activity (the sender's
		// attempts): read the page again at each tick.
		p.pager.stale = true
		cmd = p.pager.tick()
	case tea.KeyMsg:
		var ok bool
		if ok, cmd = p.pager.key(msg); ok {
			break
		}
		switch {
		case key.Matches(msg, p.km.ResendAll):
			cmd = resendFailedCmd(p.b)
		case key.Matches(msg, p.km.Resend):
			if i, ok := p.pager.selected(); ok {
				cmd = resendDeliveryCmd(p.b, p.pager.rows[i])
			}
		case key.Matches(msg, p.km.Enable):
			if ep, ok := p.disabled(); ok {
				cmd = enableEndpointCmd(p.b, ep)
			} else {
				cmd = msgCmd(infoMsg("no endpoint is disabled"))
			}
		}
	}
	return p, tea.Batch(cmd, p.pager.flush())
}

// disabled is the endpoint e re-enables: the selected message's when it is
// disabled, else the first disabled one.
func (p *deliveriesPane) disabled() (billing.EndpointState, bool) {
	if i, ok := p.pager.selected(); ok {
		for _, ep := range p.endpoints {
			if ep.ID == p.pager.rows[i].Endpoint && ep.Disabled {
				return ep, true
			}
		}
	}
	for _, ep := range p.endpoints {
		if ep.Disabled {
			return ep, true
		}
	}
	return billing.EndpointState{}, false
}

// endpointsLine says how each endpoint is doing, in one line.
func (p *deliveriesPane) endpointsLine() (string, *lipgloss.Style) {
	if len(p.endpoints) == 0 {
		return "  no app webhook configured", &p.st.Muted
	}
	var parts []string
	style := &p.st.Muted
	now := p.now()
	for _, ep := range p.endpoints {
		s := shortURL(ep.URL)
		switch {
		case ep.Disabled:
			s += " DISABLED since " + formatTime(ep.DisabledAt, now) + " (e re-enable)"
			style = &p.st.Danger
		case !ep.FailingSince.IsZero():
			s += " failing since " + formatTime(ep.FailingSince, now)
		case !ep.LastSuccess.IsZero():
			s += " ok, last " + formatTime(ep.LastSuccess, now)
		default:
			s += " nothing sent yet"
		}
		parts = append(parts, s)
	}
	return "  → " + strings.Join(parts, " · "), style
}

func (p *deliveriesPane) View() string {
	var b strings.Builder
	title := "Messages to your app, newest first"
	if n := p.pager.page(); n > 1 {
		title = fmt.Sprintf("Messages to your app, page %d", n)
	}
	b.WriteString(p.st.Title.Render(truncate("  "+title, p.pager.width)))
	b.WriteByte('\n')
	line, style := p.endpointsLine()
	b.WriteString(style.Render(truncate(line, p.width)))
	now := p.now()
	p.pager.view(&b, func(i int) (string, *lipgloss.Style) {
		d := p.pager.rows[i]
		next := ""
		if d.State == billing.DeliveryPending && !d.NextAttempt.IsZero() {
			next = formatTime(d.NextAttempt, now)
		}
		row := p.pager.row(formatTime(d.CreatedAt, now), d.Type, d.User, string(d.State), strconv.Itoa(d.Attempts), answer(d.OutboxMessage), next)
		if d.State == billing.DeliveryFailed {
			return row, &p.st.Danger
		}
		return row, nil
	})
	b.WriteByte('\n')
	b.WriteString(p.pager.footer())
	return b.String()
}

// shortURL is an endpoint's URL without its query, which may carry a
// token.
func shortURL(s string) string {
	if i := strings.IndexAny(s, "?#"); i >= 0 {
		return s[:i] + "?…"
	}
	return s
}

// answer is what the last attempt got: "503 busy", the error, or "".
func answer(m billing.OutboxMessage) string {
	switch {
	case m.Attempts == 0:
		return ""
	case m.LastError != "":
		return m.LastError
	}
	return strings.TrimSpace(strconv.Itoa(m.LastStatus) + " " + m.LastResponse)
}

func (p *deliveriesPane) ShortHelp() []key.Binding {
	return []key.Binding{p.km.Up, p.km.Down, p.km.Resend, p.km.ResendAll}
}

func (p *deliveriesPane) FullHelp() [][]key.Binding {
	return [][]key.Binding{{p.km.Up, p.km.Down, p.km.NextPage, p.km.PrevPage}, {p.km.Resend, p.km.ResendAll, p.km.Enable}}
}
