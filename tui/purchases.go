package tui

import (
	"fmt"
	"strings"
	"time"

	"github.com/charmbracelet/bubbles/key"
	tea "github.com/charmbracelet/bubbletea"

	"creditdesk/billing"
)

// purchasesPane lists purchases newest first, one page the height of the
// pane at a time. Going forward pushes the current cursor on a stack; going
// back pops it, so no page is ever read twice to find where it started.
type purchasesPane struct {
	b   Backend
	st  *Styles
	km  *KeyMap
	now func() time.Time

	rows   []billing.Purchase
	more   bool
	cursor int
	before uint64   // cursor of the page shown (0: newest)
	stack  []uint64 // cursors of the pages before it
	limit  int
	gen    int
	// loading is set while a page read is out; stale asks for a reload of
	// the current page at the next tick because activity arrived.
	loading bool
	stale   bool
	pending bool // the page size changed; read the page again
	loaded  bool
	err     error

	width, height int
	cols          []column
	widths        []int
}

func newPurchasesPane(b Backend, st *Styles, km *KeyMap, now func() time.Time) *purchasesPane {
	return &purchasesPane{
		b: b, st: st, km: km, now: now,
		cols: []column{
			{Title: "TIME", Width: 10},
			{Title: "PURCHASE", Flex: 1, Min: 8},
			{Title: "USER", Width: 12},
			{Title: "KIND", Width: 4},
			{Title: "STATUS", Width: 13},
			{Title: "CREDITS", Width: 9, Right: true},
			{Title: "TOTAL", Width: 12, Right: true},
		},
	}
}

func (p *purchasesPane) Title() string { return "Purchases" }

// Init does nothing: the first page is read at the first SetSize, when the
// page size is known.
func (p *purchasesPane) Init() tea.Cmd { return nil }

// pageSize is how many rows fit: the pane less the title, column header and
// footer lines.
func pageSizeFor(height int) int { return max(height-3, 1) }

func (p *purchasesPane) SetSize(w, h int) {
	p.width, p.height = w, h
	p.widths = layoutColumns(w-2, p.cols)
	p.resize()
}

// resize re-reads the current page when the page size changed.
func (p *purchasesPane) resize() {
	if n := pageSizeFor(p.height); n != p.limit {
		p.limit = n
		p.pending = true
	}
}

func (p *purchasesPane) load() tea.Cmd {
	p.gen++
	p.loading, p.stale, p.pending = true, false, false
	// One more than fits tells whether there is a next page.
	return loadPurchasesCmd(p.b, p.gen, p.before, p.limit+1)
}

func (p *purchasesPane) Update(msg tea.Msg) (tea.Model, tea.Cmd) {
	var cmd tea.Cmd
	switch msg := msg.(type) {
	case purchasesLoadedMsg:
		if msg.gen != p.gen {
			return p, nil
		}
		p.loading = false
		if msg.err != nil {
			p.err = msg.err
			return p, reportErr(fmt.Errorf("loading purchases: %w", msg.err))
		}
		p.err, p.loaded = nil, true
		p.more = len(msg.rows) > p.limit
		p.rows = msg.rows[:min(len(msg.rows), p.limit)]
		p.cursor = min(p.cursor, max(len(p.rows)-1, 0))
	case activityMsg:
		p.stale = true
	case tickMsg:
		if p.stale && !p.loading {
			cmd = p.load()
		}
	case tea.KeyMsg:
		switch {
		case key.Matches(msg, p.km.Up):
			p.cursor = max(p.cursor-1, 0)
		case key.Matches(msg, p.km.Down):
			p.cursor = min(p.cursor+1, max(len(p.rows)-1, 0))
		case key.Matches(msg, p.km.NextPage):
			if p.more && len(p.rows) > 0 {
				p.stack = append(p.stack, p.before)
				p.before = p.rows[len(p.rows)-1].Seq
				p.cursor = 0
				cmd = p.load()
			}
		case key.Matches(msg, p.km.PrevPage):
			if n := len(p.stack); n > 0 {
				p.before = p.stack[n-1]
				p.stack = p.stack[:n-1]
				p.cursor = 0
				cmd = p.load()
			}
		case key.Matches(msg, p.km.Open):
			if p.cursor < len(p.rows) {
				pu := p.rows[p.cursor]
				id := pu.UserID
				if id == "" {
					id = pu.CustomerID
				}
				if id != "" {
					cmd = msgCmd(openUserMsg{id})
				}
			}
		}
	}
	if p.pending && !p.loading {
		cmd = tea.Batch(cmd, p.load())
	}
	return p, cmd
}

func (p *purchasesPane) View() string {
	var b strings.Builder
	title := "Purchases, newest first"
	if len(p.stack) > 0 {
		title = fmt.Sprintf("Purchases, page %d", len(p.stack)+1)
	}
	b.WriteString(p.st.Title.Render(truncate("  "+title, p.width)))
	b.WriteByte('\n')
	b.WriteString(p.st.Header.Render("  " + tableHeader(p.cols, p.widths)))
	n := pageSizeFor(p.height)
	switch {
	case !p.loaded && p.err == nil:
		b.WriteString("\n" + p.st.Muted.Render("  loading…"))
		n--
	case len(p.rows) == 0 && p.err == nil:
		b.WriteString("\n" + p.st.Muted.Render("  no purchases yet"))
		n--
	}
	now := p.now()
	for i, pu := range p.rows {
		if n == 0 {
			break
		}
		user := pu.UserID
		if user == "" {
			user = pu.CustomerID
		}
		line := tableRow(p.cols, p.widths, formatTime(pu.CreatedAt, now), pu.ID, user, pu.Kind, pu.Status,
			formatCredits(pu.Credits), formatMoney(pu.AmountTotal, pu.Currency))
		writeRow(&b, p.st, line, i == p.cursor, nil)
		n--
	}
	padLines(&b, n)
	b.WriteByte('\n')
	b.WriteString(p.st.Muted.Render(truncate("  "+pagerFooter(len(p.stack)+1, p.more), p.width)))
	return b.String()
}

// pagerFooter says which page this is and which way there is more.
func pagerFooter(page int, more bool) string {
	s := fmt.Sprintf("page %d", page)
	if page > 1 {
		s += " · p previous"
	}
	if more {
		s += " · n next"
	}
	return s
}

func (p *purchasesPane) ShortHelp() []key.Binding {
	return []key.Binding{p.km.Up, p.km.Down, p.km.NextPage, p.km.PrevPage}
}

func (p *purchasesPane) FullHelp() [][]key.Binding {
	return [][]key.Binding{{p.km.Up, p.km.Down, p.km.Open}, {p.km.NextPage, p.km.PrevPage}}
}
