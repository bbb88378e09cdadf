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
	b      Backend
	st     *Styles
	km     *KeyMap
	now    func() time.Time
	rows   *ring[liveRow]
	cursor int
	offset int
	width  int
	height int
	loaded bool
	closed bool
	cols   []column
	widths []int
}

func newLivePane(b Backend, st *Styles, km *KeyMap, now func() time.Time) *livePane {
	return &livePane{
		b: b, st: st, km: km, now: now,
		rows: newRing[liveRow](liveCapacity),
		cols: []column{
			{Title: "TIME", Width: 10},
			{Title: "TYPE", Flex: 1, Min: 8},
			{Title: "USER", Width: 14},
			{Title: "CREDITS", Width: 9, Right: true},
			{Title: "STATE", Width: 9},
		},
	}
}

func (p *livePane) Title() string { return "Live" }

// liveDetailWidth is the narrowest terminal that shows the DETAIL column.
const liveDetailWidth = 110

func (p *livePane) Init() tea.Cmd { return loadEventsCmd(p.b, livePage) }

func (p *livePane) SetSize(w, h int) {
	p.width, p.height = w, h
	// Wide enough, a DETAIL column says what the event did.
	p.cols = p.cols[:5]
	if w >= liveDetailWidth {
		p.cols = append(p.cols, column{Title: "DETAIL", Flex: 1, Min: 10})
		p.cols[1] = column{Title: "TYPE", Width: 30}
	} else {
		p.cols[1] = column{Title: "TYPE", Flex: 1, Min: 8}
	}
	p.widths = layoutColumns(w-2, p.cols)
	p.clampScroll()
}

// visible is how many rows fit under the column header.
func (p *livePane) visible() int { return max(p.height-1, 1) }

func (p *livePane) clampScroll() {
	p.cursor = min(max(p.cursor, 0), max(p.rows.Len()-1, 0))
	v := p.visible()
	if p.cursor < p.offset {
		p.offset = p.cursor
	}
	if p.cursor >= p.offset+v {
		p.offset = p.cursor - v + 1
	}
	p.offset = max(min(p.offset, p.rows.Len()-v), 0)
}

func (p *livePane) Update(msg tea.Msg) (tea.Model, tea.Cmd) {
	switch msg := msg.(type) {
	case eventsLoadedMsg:
		if msg.err != nil {
			return p, reportErr(fmt.Errorf("loading events: %w", msg.err))
		}
		p.loaded = true
		for _, e := range msg.rows {
			if p.find(e.Seq) >= 0 {
				continue // already arrived on the feed
			}
			if !p.rows.PushBack(eventRow(e)) {
				break
			}
		}
		p.clampScroll()
	case activityMsg:
		p.add(msg.a)
	case checkoutDoneMsg:
		// A link made in the Checkout tab; its session's events follow.
		if msg.err == nil && msg.link.SessionID != "" {
			p.push(liveRow{at: p.now(), kind: "checkout", typ: "checkout link " + msg.link.SessionID + " (" + msg.req.Type + ")",
				user: msg.req.UserID, state: "open"})
		}
	case feedClosedMsg:
		p.closed = true
	case tea.KeyMsg:
		switch {
		case key.Matches(msg, p.km.Up):
			p.cursor--
		case key.Matches(msg, p.km.Down):
			p.cursor++
		case key.Matches(msg, p.km.NextPage):
			p.cursor += p.visible()
		case key.Matches(msg, p.km.PrevPage):
			p.cursor -= p.visible()
		case key.Matches(msg, p.km.Open):
			if p.rows.Len() > 0 {
				if u := p.rows.At(p.cursor).user; u != "" {
					return p, msgCmd(openUserMsg{u})
				}
			}
		}
		p.clampScroll()
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
	p.rows.PushFront(r)
	if p.cursor > 0 {
		p.cursor++
		p.offset++
	}
	p.clampScroll()
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
	case billing.ActivityRejected:
		r.typ, r.detail = "rejected", ""
		if a.Reason != "" {
			r.typ += ": " + a.Reason
		}
		r.state = "rejected"
	case billing.ActivityManual:
		switch {
		case r.typ == "" && a.Amount < 0:
			r.typ = "manual revoke"
		case r.typ == "":
			r.typ = "manual grant"
		}
		r.detail = ""
		if a.Reason != "" {
			r.typ += ": " + a.Reason
		}
		if a.Operator != "" {
			r.detail = "by " + a.Operator
		}
		if r.state == "" {
			r.state = "applied"
		}
	case billing.ActivityAPI, billing.ActivityExpiry:
		if r.typ == "" {
			r.typ = string(a.Kind)
		}
		r.detail = ""
		if a.Reason != "" {
			r.typ += ": " + a.Reason
		}
		if r.state == "" {
			r.state = "applied"
		}
	case billing.ActivitySystem:
		r.typ, r.detail, r.state = a.Type, a.Reason, "info"
	}
	return r
}

func (p *livePane) View() string {
	var b strings.Builder
	b.WriteString(p.st.Header.Render("  " + tableHeader(p.cols, p.widths)))
	if p.rows.Len() == 0 {
		b.WriteString("\n")
		switch {
		case !p.loaded:
			b.WriteString(p.st.Muted.Render("  loading…"))
		default:
			b.WriteString(p.st.Muted.Render("  no events yet; they appear here as Stripe sends them"))
		}
		return b.String()
	}
	now := p.now()
	end := min(p.offset+p.visible(), p.rows.Len())
	for i := p.offset; i < end; i++ {
		r := p.rows.Ptr(i)
		b.WriteByte('\n')
		if r.missed > 0 {
			b.WriteString(p.st.Warning.Render(truncate(fmt.Sprintf("  … %s more (the console fell behind)", formatCount(uint64(r.missed))), p.width)))
			continue
		}
		amount := ""
		if r.amount != 0 {
			amount = formatDelta(r.amount)
		}
		typ := r.typ
		if (r.kind == billing.ActivitySystem || r.kind == billing.ActivityManual && r.detail != "") && len(p.cols) < 6 {
			sep := ": "
			if r.kind == billing.ActivityManual {
				sep = " · "
			}
			typ += sep + r.detail // no DETAIL column at this width
		}
		line := tableRow(p.cols, p.widths, formatTime(r.at, now), typ, r.user, amount, r.state, r.detail)
		if i == p.cursor {
			b.WriteString(p.st.Selected.Render("› " + line))
			continue
		}
		b.WriteString("  ")
		b.WriteString(p.stateStyle(r.state).Render(line))
	}
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
	return [][]key.Binding{{p.km.Up, p.km.Down, p.km.NextPage, p.km.PrevPage, p.km.Open}}
}
