package tui

import (
	"fmt"
	"strings"
	"time"

	"github.com/charmbracelet/bubbles/cursor"
	"github.com/charmbracelet/bubbles/key"
	"github.com/charmbracelet/bubbles/textinput"
	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/lipgloss"

	"creditdesk/billing"
)

// usersPane lists users in id order, one page the height of the pane at a
// time, optionally filtered; enter opens a user's detail on top of it.
type usersPane struct {
	b   Backend
	st  *Styles
	km  *KeyMap
	now func() time.Time

	rows   []billing.User
	more   bool
	cursor int
	after  string   // cursor of the page shown ("": first)
	stack  []string // cursors of the pages before it
	limit  int
	gen    int

	loading bool
	stale   bool // activity arrived; re-read the page at the next tick
	pending bool // page size or filter changed; read again now
	loaded  bool
	err     error

	filter    textinput.Model
	filtering bool
	filterSeq int // counts edits; a pause message for an older edit is dropped

	detail *detailPane

	width, height int
	cols          []column
	widths        []int
}

func newUsersPane(b Backend, st *Styles, km *KeyMap, now func() time.Time) *usersPane {
	ti := textinput.New()
	ti.Prompt = "/"
	ti.Placeholder = "id, email or customer"
	ti.CharLimit = 120
	ti.Cursor.SetMode(cursor.CursorStatic)
	ti.PromptStyle = st.Title
	ti.PlaceholderStyle = st.Muted
	return &usersPane{
		b: b, st: st, km: km, now: now,
		filter: ti,
		cols: []column{
			{Title: "USER", Flex: 1, Min: 8},
			{Title: "EMAIL", Flex: 1, Min: 6},
			{Title: "TIER", Width: 10},
			{Title: "BALANCE", Width: 11, Right: true},
			{Title: "CUSTOMER", Width: 18},
		},
	}
}

func (p *usersPane) Title() string { return "Users" }

func (p *usersPane) Init() tea.Cmd { return nil }

// Capturing is true while the filter input or the detail holds the keyboard.
func (p *usersPane) Capturing() bool {
	if p.detail != nil {
		return capturing(p.detail)
	}
	return p.filtering
}

func (p *usersPane) SetSize(w, h int) {
	p.width, p.height = w, h
	p.widths = layoutColumns(w-2, p.cols)
	p.filter.Width = max(w-4, 1)
	if n := pageSizeFor(h); n != p.limit {
		p.limit = n
		p.pending = true
	}
	if p.detail != nil {
		p.detail.SetSize(w, h)
	}
}

func (p *usersPane) load() tea.Cmd {
	p.gen++
	p.loading, p.stale, p.pending = true, false, false
	return loadUsersCmd(p.b, p.gen, p.after, p.filter.Value(), p.limit+1)
}

// filterDelay is how long typing must pause before the filter is applied.
const filterDelay = 150 * time.Millisecond

// filterPauseMsg says typing paused after edit seq.
type filterPauseMsg struct{ seq int }

// restart goes back to the first page, as after the filter changed.
func (p *usersPane) restart() {
	p.after, p.stack, p.cursor = "", nil, 0
	p.pending = true
	p.loading = false // a read still out is now stale; its gen will not match
}

func (p *usersPane) Update(msg tea.Msg) (tea.Model, tea.Cmd) {
	var cmds []tea.Cmd
	switch msg := msg.(type) {
	case usersLoadedMsg:
		if msg.gen != p.gen {
			return p, nil
		}
		p.loading = false
		if msg.err != nil {
			p.err = msg.err
			cmds = append(cmds, reportErr(fmt.Errorf("loading users: %w", msg.err)))
			break
		}
		p.err, p.loaded = nil, true
		p.more = len(msg.rows) > p.limit
		p.rows = msg.rows[:min(len(msg.rows), p.limit)]
		p.cursor = min(p.cursor, max(len(p.rows)-1, 0))
	case filterPauseMsg:
		if msg.seq == p.filterSeq && msg.seq != 0 {
			p.restart()
		}
	case openUserMsg:
		cmds = append(cmds, p.open(msg.id))
	case activityMsg:
		p.stale = true
		cmds = append(cmds, p.toDetail(msg))
	case tickMsg:
		if p.stale && !p.loading {
			cmds = append(cmds, p.load())
		}
		cmds = append(cmds, p.toDetail(msg))
	case detailLoadedMsg, adjustDoneMsg:
		cmds = append(cmds, p.toDetail(msg))
		if m, ok := msg.(adjustDoneMsg); ok && m.err == nil {
			p.stale = true
		}
	case tea.KeyMsg:
		cmds = append(cmds, p.key(msg))
	}
	if p.pending && !p.loading {
		cmds = append(cmds, p.load())
	}
	return p, tea.Batch(cmds...)
}

func (p *usersPane) toDetail(msg tea.Msg) tea.Cmd {
	if p.detail == nil {
		return nil
	}
	_, cmd := p.detail.Update(msg)
	return cmd
}

func (p *usersPane) open(id string) tea.Cmd {
	p.detail = newDetailPane(p.b, p.st, p.km, p.now, id)
	p.detail.SetSize(p.width, p.height)
	return p.detail.Init()
}

func (p *usersPane) key(msg tea.KeyMsg) tea.Cmd {
	if p.detail != nil {
		if key.Matches(msg, p.km.Back) {
			p.detail = nil
			return nil
		}
		_, cmd := p.detail.Update(msg)
		return cmd
	}
	if p.filtering {
		switch msg.Type {
		case tea.KeyEsc:
			// Esc clears the filter and leaves the input.
			p.filtering = false
			p.filter.Blur()
			p.filterSeq++
			if p.filter.Value() != "" {
				p.filter.SetValue("")
			}
			p.restart()
			return nil
		case tea.KeyEnter, tea.KeyDown, tea.KeyTab:
			// Keep the filter, apply it now, go back to the list.
			p.filtering = false
			p.filter.Blur()
			if p.filterSeq != 0 {
				p.filterSeq++
				p.restart()
			}
			return nil
		}
		before := p.filter.Value()
		var cmd tea.Cmd
		p.filter, cmd = p.filter.Update(msg)
		if p.filter.Value() != before {
			// Read once typing pauses, not on every key.
			p.filterSeq++
			seq := p.filterSeq
			cmd = tea.Batch(cmd, tea.Tick(filterDelay, func(time.Time) tea.Msg { return filterPauseMsg{seq} }))
		}
		return cmd
	}
	switch {
	case key.Matches(msg, p.km.Filter):
		p.filtering = true
		return p.filter.Focus()
	case key.Matches(msg, p.km.Back):
		if p.filter.Value() != "" {
			p.filterSeq++
			p.filter.SetValue("")
			p.restart()
		}
	case key.Matches(msg, p.km.Up):
		p.cursor = max(p.cursor-1, 0)
	case key.Matches(msg, p.km.Down):
		p.cursor = min(p.cursor+1, max(len(p.rows)-1, 0))
	case key.Matches(msg, p.km.NextPage):
		if p.more && len(p.rows) > 0 {
			p.stack = append(p.stack, p.after)
			p.after = p.rows[len(p.rows)-1].ID
			p.cursor = 0
			return p.load()
		}
	case key.Matches(msg, p.km.PrevPage):
		if n := len(p.stack); n > 0 {
			p.after = p.stack[n-1]
			p.stack = p.stack[:n-1]
			p.cursor = 0
			return p.load()
		}
	case key.Matches(msg, p.km.Open):
		if p.cursor < len(p.rows) {
			return p.open(p.rows[p.cursor].ID)
		}
	}
	return nil
}

func (p *usersPane) View() string {
	if p.detail != nil {
		return p.detail.View()
	}
	var b strings.Builder
	switch {
	case p.filtering:
		b.WriteString(" " + p.filter.View())
	case p.filter.Value() != "":
		b.WriteString(p.st.Title.Render(truncate(fmt.Sprintf("  Users matching %q", p.filter.Value()), p.width-15)))
		b.WriteString(p.st.Muted.Render("  esc clears"))
	default:
		b.WriteString(p.st.Title.Render("  Users"))
		b.WriteString(p.st.Muted.Render("  / to filter"))
	}
	b.WriteByte('\n')
	b.WriteString(p.st.Header.Render("  " + tableHeader(p.cols, p.widths)))
	n := pageSizeFor(p.height)
	switch {
	case !p.loaded && p.err == nil:
		b.WriteString("\n" + p.st.Muted.Render("  loading…"))
		n--
	case len(p.rows) == 0 && p.err == nil:
		msg := "  no users yet"
		if p.filter.Value() != "" {
			msg = "  no user matches"
		}
		b.WriteString("\n" + p.st.Muted.Render(msg))
		n--
	}
	for i, u := range p.rows {
		if n <= 0 {
			break
		}
		tier := u.Tier
		if u.Unlinked {
			tier = "unlinked"
		}
		line := tableRow(p.cols, p.widths, u.ID, u.Email, tier, formatCredits(u.Balance), u.CustomerID)
		var style *lipgloss.Style
		if u.Balance < 0 {
			style = &p.st.Danger
		}
		writeRow(&b, p.st, line, i == p.cursor && !p.filtering, style)
		n--
	}
	padLines(&b, n)
	b.WriteByte('\n')
	b.WriteString(p.st.Muted.Render(truncate("  "+pagerFooter(len(p.stack)+1, p.more), p.width)))
	return b.String()
}

func (p *usersPane) ShortHelp() []key.Binding {
	if p.detail != nil {
		return p.detail.ShortHelp()
	}
	if p.filtering {
		return []key.Binding{
			key.NewBinding(key.WithKeys("enter"), key.WithHelp("enter", "keep filter")),
			key.NewBinding(key.WithKeys("esc"), key.WithHelp("esc", "clear filter")),
		}
	}
	return []key.Binding{p.km.Filter, p.km.Open, p.km.NextPage, p.km.PrevPage}
}

func (p *usersPane) FullHelp() [][]key.Binding {
	if p.detail != nil {
		return p.detail.FullHelp()
	}
	if p.filtering {
		return [][]key.Binding{p.ShortHelp()}
	}
	return [][]key.Binding{{p.km.Up, p.km.Down, p.km.Open}, {p.km.NextPage, p.km.PrevPage}, {p.km.Filter, p.km.Back}}
}
