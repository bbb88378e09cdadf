package tui

import (
	"fmt"
	"strings"
	"time"

	"github.com/charmbracelet/bubbles/key"
	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/lipgloss"

	"creditdesk/billing"
)

// liveRow is one line of the Live tab.
type liveRow struct {
	at     time.Time
	kind   billing.ActivityKind
	seq    uint64
	typ    string
	user   string
	amount int64
	state  string
	detail string
	missed int
}

// livePane shows activities as they arrive, newest first, in a bounded ring.
// It starts from the newest stored events and never reads the store again.
type livePane struct {
	*common
	b    Backend
	rows *ring[liveRow]
	list list
}

// liveColumns are the Live tab's columns; wide enough (liveDetailWidth), a
// DETAIL column says what the event did.
func liveColumns(wide bool) []column {
	cols := []column{
		{Title: "TIME", Width: 10},
		{Title: "TYPE", Flex: 1, Min: 8},
		{Title: "USER", Width: 14},
		{Title: "CREDITS", Width: 9, Right: true},
		{Title: "STATE", Width: 9},
	}
	if wide {
		cols[1] = column{Title: "TYPE", Width: 30}
		cols = append(cols, column{Title: "DETAIL", Flex: 1, Min: 10})
	}
	return cols
}

func newLivePane(c *common, b Backend) *livePane {
	return &livePane{
		common: c, b: b,
		rows: newRing[liveRow](liveCapacity),
		list: newList(c, "events", "no events yet; they appear here as Stripe sends them", liveColumns(false)...),
	}
}

func (p *livePane) Title() string { return "Live" }

// liveDetailWidth is the narrowest terminal that shows the DETAIL column.
const liveDetailWidth = 110

func (p *livePane) Init() tea.Cmd { return loadEventsCmd(p.b, livePage) }

func (p *livePane) SetSize(w, h int) {
	p.list.setSize(w, h-1)
	p.list.setColumns(liveColumns(w >= liveDetailWidth)...)
}

// wide reports whether the DETAIL column is shown.
func (p *livePane) wide() bool { return len(p.list.cols) > 5 }

func (p *livePane) Update(msg tea.Msg) (tea.Model, tea.Cmd) {
	switch msg := msg.(type) {
	case eventsLoadedMsg:
		if msg.err != nil {
			return p, p.list.readFailed(msg.err)
		}
		for _, e := range msg.rows {
			if p.find(e.Seq) >= 0 {
				continue // already arrived on the feed
			}
			if !p.rows.PushBack(eventRow(e)) {
				break
			}
		}
		p.list.setRows(p.rows.Len())
	case activityMsg:
		p.add(msg.a)
	case checkoutDoneMsg:
		// A link made in the Checkout tab; its session's events follow.
		if msg.err == nil && msg.link.SessionID != "" {
			p.push(liveRow{at: p.now(), kind: "checkout", typ: "checkout link " + msg.link.SessionID + " (" + msg.req.Type + ")",
				user: msg.req.UserID, state: "open"})
		}
	case tea.KeyMsg:
		if p.list.key(msg, false) {
			return p, nil
		}
		if i, ok := p.list.selected(); ok && key.Matches(msg, p.km.Open) {
			if u := p.rows.At(i).user; u != "" {
				return p, msgCmd(openUserMsg{u})
			}
		}
	}
	return p, nil
}

// add puts an activity on top, or updates the row of an event already shown
// when the event only changed state.
func (p *livePane) add(a billing.Activity) {
	if a.Missed > 0 {
		p.push(liveRow{at: a.At, missed: a.Missed})
	}
	if a.Kind == billing.ActivityEvent && a.Seq != 0 {
		if i := p.find(a.Seq); i >= 0 {
			r := p.rows.Ptr(i)
			r.state, r.detail = string(a.State), a.Reason
			if a.User != "" {
				r.user = a.User
			}
			if a.Amount != 0 {
				r.amount = a.Amount
			}
			if a.Type != "" {
				r.typ = a.Type
			}
			return
		}
	}
	p.push(activityRow(a))
}

// push adds r on top; a reader scrolled down keeps the row under the cursor.
func (p *livePane) push(r liveRow) {
	full := p.rows.Len() == liveCapacity
	p.rows.PushFront(r)
	p.list.insertedAbove(1)
	if full {
		p.list.setRows(p.rows.Len()) // the oldest row fell off the end
	}
}

// find returns the index of the event row with sequence seq, or -1.
func (p *livePane) find(seq uint64) int {
	if seq == 0 {
		return -1
	}
	for i := 0; i < p.rows.Len(); i++ {
		r := p.rows.Ptr(i)
		if r.seq == seq && r.kind == billing.ActivityEvent {
			return i
		}
	}
	return -1
}

func eventRow(e billing.EventRecord) liveRow {
	return liveRow{at: e.ReceivedAt, kind: billing.ActivityEvent, seq: e.Seq, typ: e.Type, user: e.User, amount: e.Amount, state: string(e.State), detail: e.Reason}
}

func activityRow(a billing.Activity) liveRow {
	r := liveRow{at: a.At, kind: a.Kind, seq: a.Seq, typ: a.Type, user: a.User, amount: a.Amount, state: string(a.State), detail: a.Reason}
	switch a.Kind {
	case billing.ActivityDuplicate:
		r.typ = "duplicate " + a.Type
		r.state = "duplicate"
	// TYPE says what happened in a few words; DETAIL (or, narrower, the
	// rest of TYPE) says why and who, so the hint of a rejection or the
	// reason of a grant is never cut to the TYPE column's width.
	case billing.ActivityRejected:
		r.typ, r.state = "webhook rejected", "rejected"
	case billing.ActivityManual:
		switch {
		case r.typ == "" && a.Amount < 0:
			r.typ = "manual revoke"
		case r.typ == "":
			r.typ = "manual grant"
		}
		if a.Operator != "" {
			r.detail = joinDetail(a.Reason, "by "+a.Operator)
		}
		if r.state == "" {
			r.state = "applied"
		}
	case billing.ActivityAPI, billing.ActivityExpiry:
		if r.typ == "" {
			r.typ = string(a.Kind)
		}
		if r.state == "" {
			r.state = "applied"
		}
	case billing.ActivitySystem:
		r.typ, r.detail, r.state = a.Type, a.Reason, "info"
	}
	return r
}

// joinDetail is the non-empty parts, " · " between them.
func joinDetail(parts ...string) string {
	var out []string
	for _, s := range parts {
		if s != "" {
			out = append(out, s)
		}
	}
	return strings.Join(out, " · ")
}

func (p *livePane) View() string {
	var b strings.Builder
	now := p.now()
	p.list.view(&b, func(i int) (string, *lipgloss.Style) {
		r := p.rows.Ptr(i)
		if r.missed > 0 {
			return truncate(fmt.Sprintf("… %s more (the console fell behind)", formatCount(uint64(r.missed))), p.list.width-2), &p.st.Warning
		}
		amount := ""
		if r.amount != 0 {
			amount = formatDelta(r.amount)
		}
		typ := r.typ
		if r.kind != billing.ActivityEvent && r.kind != billing.ActivityDuplicate && r.detail != "" && !p.wide() {
			typ += ": " + r.detail // no DETAIL column at this width
		}
		return p.list.row(formatTime(r.at, now), typ, r.user, amount, r.state, r.detail), p.stateStyle(r.state)
	})
	return b.String()
}

func (p *livePane) stateStyle(s string) *lipgloss.Style {
	switch s {
	case string(billing.StateFailed), "rejected":
		return &p.st.Danger
	case string(billing.StateWaiting):
		return &p.st.Warning
	case string(billing.StateIgnored), "duplicate":
		return &p.st.Muted
	}
	return &p.st.Plain
}

func (p *livePane) ShortHelp() []key.Binding {
	return []key.Binding{p.km.Up, p.km.Down, p.km.Open}
}

func (p *livePane) FullHelp() [][]key.Binding {
	return [][]key.Binding{append(p.list.listHelp(), p.km.Open)}
}
