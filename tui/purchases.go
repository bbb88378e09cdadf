package tui

import (
	"fmt"
	"strings"

	"github.com/charmbracelet/bubbles/key"
	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/lipgloss"

	"creditdesk/billing"
)

// purchasesPane lists purchases newest first, one page the height of the
// pane at a time; a page's cursor is the sequence below its last row.
type purchasesPane struct {
	*common
	b     Backend
	pager pager[uint64, billing.Purchase]
}

func newPurchasesPane(c *common, b Backend) *purchasesPane {
	p := &purchasesPane{common: c, b: b}
	p.pager = pager[uint64, billing.Purchase]{
		list: newList(c, "purchases", "no purchases yet",
			column{Title: "TIME", Width: 10},
			column{Title: "PURCHASE", Flex: 1, Min: 8},
			column{Title: "USER", Width: 12},
			column{Title: "KIND", Width: 4},
			column{Title: "STATUS", Width: 13},
			column{Title: "CREDITS", Width: 9, Right: true},
			column{Title: "TOTAL", Width: 12, Right: true},
		),
		next: func(last billing.Purchase) uint64 { return last.Seq },
		id:   func(p billing.Purchase) string { return p.ID },
		read: func(gen int, before uint64, limit int) tea.Cmd { return loadPurchasesCmd(b, gen, before, limit) },
	}
	return p
}

func (p *purchasesPane) Title() string { return "Purchases" }

// Init does nothing: the first page is read at the first SetSize, when the
// page size is known.
func (p *purchasesPane) Init() tea.Cmd { return nil }

func (p *purchasesPane) SetSize(w, h int) { p.pager.setSize(w, h) }

// buyer is who a purchase is for: the user, else the Stripe customer.
func buyer(pu billing.Purchase) string {
	if pu.UserID != "" {
		return pu.UserID
	}
	return pu.CustomerID
}

func (p *purchasesPane) Update(msg tea.Msg) (tea.Model, tea.Cmd) {
	var cmd tea.Cmd
	switch msg := msg.(type) {
	case purchasesLoadedMsg:
		cmd = p.pager.loaded(msg.gen, msg.rows, msg.err)
	case activityMsg:
		p.pager.stale = true
	case tickMsg:
		cmd = p.pager.tick()
	case tea.KeyMsg:
		var ok bool
		if ok, cmd = p.pager.key(msg); ok {
			break
		}
		if i, ok := p.pager.selected(); ok && key.Matches(msg, p.km.Open) {
			if id := buyer(p.pager.rows[i]); id != "" {
				cmd = msgCmd(openUserMsg{id})
			}
		}
	}
	return p, tea.Batch(cmd, p.pager.flush())
}

func (p *purchasesPane) View() string {
	var b strings.Builder
	title := "Purchases, newest first"
	if n := p.pager.page(); n > 1 {
		title = fmt.Sprintf("Purchases, page %d", n)
	}
	b.WriteString(p.st.Title.Render(truncate("  "+title, p.pager.width)))
	now := p.now()
	p.pager.view(&b, func(i int) (string, *lipgloss.Style) {
		pu := p.pager.rows[i]
		return p.pager.row(formatTime(pu.CreatedAt, now), pu.ID, buyer(pu), string(pu.Kind), pu.Status,
			formatCredits(pu.Credits), formatMoney(pu.AmountTotal, pu.Currency)), nil
	})
	b.WriteByte('\n')
	b.WriteString(p.pager.footer())
	return b.String()
}

func (p *purchasesPane) ShortHelp() []key.Binding {
	return []key.Binding{p.km.Up, p.km.Down, p.km.NextPage, p.km.PrevPage}
}

func (p *purchasesPane) FullHelp() [][]key.Binding {
	return [][]key.Binding{{p.km.Up, p.km.Down, p.km.Open}, {p.km.NextPage, p.km.PrevPage}}
}
