package tui

import (
	"fmt"
	"strings"
	"time"

	"github.com/charmbracelet/bubbles/key"
	"github.com/charmbracelet/bubbles/textinput"
	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/lipgloss"

	"creditdesk/billing"
)

// usersPane lists users in id order, one page the height of the pane at a
// time, optionally filtered; a page's cursor is the id of its last row.
// Enter opens a user's detail on top of it.
type usersPane struct {
	*common
	b     Backend
	pager pager[string, billing.User]

	filter    textinput.Model
	filtering bool
	filterSeq int // counts edits; a pause message for an older edit is dropped

	detail *detailPane
	width  int
	height int
}

func newUsersPane(c *common, b Backend) *usersPane {
	p := &usersPane{common: c, b: b, filter: newInput(c.st, "/", "id, email or customer", 120)}
	p.filter.PromptStyle = c.st.Title
	p.pager = pager[string, billing.User]{
		list: newList(c, "users", "no users yet",
			column{Title: "USER", Flex: 1, Min: 8},
			column{Title: "EMAIL", Flex: 1, Min: 6},
			column{Title: "TIER", Width: 10},
			column{Title: "BALANCE", Width: 11, Right: true},
			column{Title: "CUSTOMER", Width: 18},
		),
		next: func(last billing.User) string { return last.ID },
		id:   func(u billing.User) string { return u.ID },
		read: func(gen int, after string, limit int) tea.Cmd {
			return loadUsersCmd(b, gen, after, p.filter.Value(), limit)
		},
	}
	return p
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
	p.pager.setSize(w, h)
	p.filter.Width = max(w-4, 1)
	if p.detail != nil {
		p.detail.SetSize(w, h)
	}
}

// filterDelay is how long typing must pause before the filter is applied.
const filterDelay = 150 * time.Millisecond

// filterPauseMsg says typing paused after edit seq.
type filterPauseMsg struct{ seq int }

func (p *usersPane) Update(msg tea.Msg) (tea.Model, tea.Cmd) {
	var cmds []tea.Cmd
	switch msg := msg.(type) {
	case usersLoadedMsg:
		cmds = append(cmds, p.pager.loaded(msg.gen, msg.rows, msg.err))
	case filterPauseMsg:
		if msg.seq == p.filterSeq && msg.seq != 0 {
			p.pager.restart()
		}
	case openUserMsg:
		cmds = append(cmds, p.open(msg.id))
	case activityMsg:
		p.pager.stale = true
		cmds = append(cmds, p.toDetail(msg))
	case tickMsg:
		cmds = append(cmds, p.pager.tick(), p.toDetail(msg))
	case detailLoadedMsg, adjustDoneMsg:
		cmds = append(cmds, p.toDetail(msg))
		if m, ok := msg.(adjustDoneMsg); ok && m.err == nil {
			p.pager.stale = true
		}
	case tea.KeyMsg:
		cmds = append(cmds, p.key(msg))
	}
	p.pager.empty = "no users yet"
	if p.filter.Value() != "" {
		p.pager.empty = "no user matches"
	}
	cmds = append(cmds, p.pager.flush())
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
	p.detail = newDetailPane(p.common, p.b, id)
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
		switch {
		case key.Matches(msg, p.km.ClearFilter):
			// Esc clears the filter and leaves the input.
			p.filtering = false
			p.filter.Blur()
			p.filterSeq++
			if p.filter.Value() != "" {
				p.filter.SetValue("")
			}
			p.pager.restart()
			return nil
		case key.Matches(msg, p.km.KeepFilter):
			// Keep the filter, apply it now, go back to the list.
			p.filtering = false
			p.filter.Blur()
			if p.filterSeq != 0 {
				p.filterSeq++
				p.pager.restart()
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
			cmd = tea.Batch(cmd, p.after(filterDelay, func(time.Time) tea.Msg { return filterPauseMsg{seq} }))
		}
		return cmd
	}
	if ok, cmd := p.pager.key(msg); ok {
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
			p.pager.restart()
		}
	case key.Matches(msg, p.km.Open):
		if i, ok := p.pager.selected(); ok {
			return p.open(p.pager.rows[i].ID)
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
		b.WriteString(p.st.Muted.Render("  " + hint(p.km.Back, "clears")))
	default:
		b.WriteString(p.st.Title.Render("  Users"))
		b.WriteString(p.st.Muted.Render("  " + hint(p.km.Filter, "to filter")))
	}
	p.pager.viewMarked(&b, func(i int) (string, *lipgloss.Style) {
		u := p.pager.rows[i]
		tier := u.Tier
		if u.Unlinked {
			tier = "unlinked"
		}
		line := p.pager.row(u.ID, u.Email, tier, formatCredits(u.Balance), u.CustomerID)
		if u.Balance < 0 {
			return line, &p.st.Danger
		}
		return line, nil
	}, !p.filtering)
	b.WriteByte('\n')
	b.WriteString(p.pager.footer())
	return b.String()
}

func (p *usersPane) ShortHelp() []key.Binding {
	if p.detail != nil {
		return p.detail.ShortHelp()
	}
	if p.filtering {
		return []key.Binding{p.km.KeepFilter, p.km.ClearFilter}
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
