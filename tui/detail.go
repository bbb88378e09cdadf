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

// detailPane shows one user: the record, spendable balance, plan, grants
// with what is left, purchases and the ledger. Its lines are built when the
// data or the width changes; View only slices the visible ones.
type detailPane struct {
	*common
	b Backend

	id     string
	d      billing.UserDetail
	loaded bool
	err    error
	refresh

	scroll scroller
	width  int
}

func newDetailPane(c *common, b Backend, id string) *detailPane {
	return &detailPane{common: c, b: b, id: id}
}

func (p *detailPane) Title() string { return "User " + p.id }

func (p *detailPane) Init() tea.Cmd { return p.load() }

func (p *detailPane) load() tea.Cmd {
	return loadDetailCmd(p.b, p.begin(), p.id)
}

func (p *detailPane) SetSize(w, h int) {
	rebuild := w != p.width
	p.width = w
	p.scroll.setHeight(h)
	if rebuild {
		p.build()
	}
}

func (p *detailPane) Update(msg tea.Msg) (tea.Model, tea.Cmd) {
	switch msg := msg.(type) {
	case detailLoadedMsg:
		if msg.id != p.id || !p.fresh(msg.gen) {
			return p, nil
		}
		if msg.err != nil {
			p.err = msg.err
			p.build()
			return p, reportErr(fmt.Errorf("loading user %s: %w", p.id, msg.err))
		}
		p.d, p.loaded, p.err = msg.detail, true, nil
		p.build()
	case adjustDoneMsg:
		if msg.user != p.id || msg.err != nil {
			return p, nil
		}
		// Show the new balance at once, then read everything again.
		if p.loaded {
			p.d.Spendable += msg.entry.BalanceAfter - p.d.User.Balance
			p.d.User.Balance = msg.entry.BalanceAfter
			p.d.Entries = append([]billing.Entry{msg.entry}, p.d.Entries...)
			p.build()
		}
		return p, p.load()
	case activityMsg:
		if msg.a.User == p.id {
			p.stale = true
		}
	case tickMsg:
		if p.due() {
			return p, p.load()
		}
	case tea.KeyMsg:
		switch {
		case key.Matches(msg, p.km.Grant), key.Matches(msg, p.km.Revoke):
			if !p.loaded {
				return p, reportErr(fmt.Errorf("user %s is not loaded yet", p.id))
			}
			return p, msgCmd(openAdjustMsg{user: p.id, grant: key.Matches(msg, p.km.Grant), balance: p.d.User.Balance})
		case key.Matches(msg, p.km.Reload):
			return p, p.load()
		}
		p.scroll.key(p.km, msg)
	}
	return p, nil
}

// build lays the user out as lines of at most width cells.
func (p *detailPane) build() {
	w := max(p.width, 10)
	var ls []string
	add := func(s string) { ls = append(ls, s) }
	text := func(st func(...string) string, s string) { add(st(truncate(s, w))) }
	now := p.now()
	u := p.d.User

	switch {
	case p.err != nil && !p.loaded:
		text(p.st.Title.Render, "  User "+p.id)
		text(p.st.Danger.Render, "  "+p.err.Error())
		p.scroll.setLines(ls)
		return
	case !p.loaded:
		text(p.st.Title.Render, "  User "+p.id)
		text(p.st.Muted.Render, "  loading…")
		p.scroll.setLines(ls)
		return
	}

	title := "  User " + u.ID
	for _, s := range []string{u.Email, u.Name} {
		if s != "" {
			title += " · " + s
		}
	}
	text(p.st.Title.Render, title)
	tier := u.Tier
	if tier == "" {
		tier = "free"
	}
	facts := []string{"tier " + tier}
	if u.CustomerID != "" {
		facts = append(facts, "customer "+u.CustomerID)
	}
	if u.Unlinked {
		facts = append(facts, "unlinked (no user id known)")
	}
	text(p.st.Plain.Render, "  "+strings.Join(facts, " · "))
	money := fmt.Sprintf("  balance %s · spendable %s", formatCredits(u.Balance), formatCredits(p.d.Spendable))
	if !u.NextExpiry.IsZero() {
		money += " · next expiry " + formatDate(u.NextExpiry)
	}
	if u.Balance < 0 {
		text(p.st.Danger.Render, money+" · in debt")
	} else {
		text(p.st.Money.Render, money)
	}
	if s := p.d.Plan; s != nil {
		plan := "  plan " + s.Plan + " · " + s.Status
		switch {
		case s.Deleted || s.Status == "canceled":
			if !s.DeletedAt.IsZero() {
				plan += " · ended " + formatDate(s.DeletedAt)
			}
		case s.PeriodEnd.IsZero():
		case s.CancelAtPeriodEnd:
			plan += " · ends " + formatDate(s.PeriodEnd)
		default:
			plan += " · renews " + formatDate(s.PeriodEnd)
		}
		if s.ID != "" {
			plan += " · " + s.ID
		}
		text(p.st.Plain.Render, plan)
	} else {
		text(p.st.Muted.Render, "  no plan")
	}

	// Grants.
	ls = append(ls, "")
	text(p.st.Title.Render, fmt.Sprintf("  Grants (%d)", len(p.d.Grants)))
	ls = p.table(ls, w, "none with credits left", len(p.d.Grants), []column{
		{Title: "ENTRY", Width: 6, Right: true},
		{Title: "KIND", Width: 7},
		{Title: "AMOUNT", Width: 9, Right: true},
		{Title: "LEFT", Width: 9, Right: true},
		{Title: "EXPIRES", Width: 10},
		{Title: "SOURCE", Flex: 1, Min: 6},
	}, func(i int) ([]string, *lipgloss.Style) {
		g := p.d.Grants[i]
		exp := "never"
		if g.Expires() {
			exp = formatDate(g.ExpiresAt)
		}
		cells := []string{strconv.FormatUint(g.EntryID, 10), string(g.Kind), formatCredits(g.Amount), formatCredits(g.Remaining), exp, g.Source}
		if g.Expires() && !g.ExpiresAt.After(now) {
			return cells, &p.st.Muted
		}
		return cells, nil
	})

	// Purchases.
	ls = append(ls, "")
	text(p.st.Title.Render, fmt.Sprintf("  Purchases (%d)", len(p.d.Purchases)))
	ls = p.table(ls, w, "none", len(p.d.Purchases), []column{
		{Title: "TIME", Width: 10},
		{Title: "PURCHASE", Flex: 1, Min: 8},
		{Title: "KIND", Width: 4},
		{Title: "STATUS", Width: 13},
		{Title: "CREDITS", Width: 9, Right: true},
		{Title: "TOTAL", Width: 12, Right: true},
	}, func(i int) ([]string, *lipgloss.Style) {
		pu := p.d.Purchases[i]
		return []string{formatTime(pu.CreatedAt, now), pu.ID, string(pu.Kind), pu.Status,
			formatCredits(pu.Credits), formatMoney(pu.AmountTotal, pu.Currency)}, nil
	})

	// Ledger.
	ls = append(ls, "")
	nEntries := max(u.Entries, uint64(len(p.d.Entries)))
	text(p.st.Title.Render, fmt.Sprintf("  Ledger (%s %s, newest first)", formatCount(nEntries), plural(nEntries, "entry", "entries")))
	ls = p.table(ls, w, "no entries", len(p.d.Entries), []column{
		{Title: "ID", Width: 6, Right: true},
		{Title: "DELTA", Width: 9, Right: true},
		{Title: "BALANCE", Width: 9, Right: true},
		{Title: "REASON", Flex: 3, Min: 6},
		{Title: "SOURCE", Flex: 2, Min: 6},
		{Title: "TIME", Width: 10},
	}, func(i int) ([]string, *lipgloss.Style) {
		e := p.d.Entries[i]
		src := e.Source
		if e.Operator != "" && e.Operator != src {
			src += " by " + e.Operator
		}
		cells := []string{strconv.FormatUint(e.ID, 10), formatDelta(e.Delta), formatCredits(e.BalanceAfter), e.Reason, src, formatTime(e.At, now)}
		if e.Delta < 0 {
			return cells, &p.st.Warning
		}
		return cells, nil
	})
	p.scroll.setLines(ls)
}

// table adds to ls a table of n rows indented under a section title in a
// pane w wide: the column header and a line a row, or empty when n is 0.
func (p *detailPane) table(ls []string, w int, empty string, n int, cols []column, row func(i int) ([]string, *lipgloss.Style)) []string {
	if n == 0 {
		return append(ls, p.st.Muted.Render(truncate("    "+empty, w)))
	}
	widths := layoutColumns(w-4, cols)
	ls = append(ls, p.st.Header.Render("    "+tableHeader(cols, widths)))
	for i := range n {
		cells, style := row(i)
		line := "    " + tableRow(cols, widths, cells...)
		if style != nil {
			line = style.Render(line)
		}
		ls = append(ls, line)
	}
	return ls
}

func (p *detailPane) View() string { return p.scroll.view() }

func (p *detailPane) ShortHelp() []key.Binding {
	return []key.Binding{p.km.Grant, p.km.Revoke, p.km.Back, p.km.Down}
}

func (p *detailPane) FullHelp() [][]key.Binding {
	return [][]key.Binding{{p.km.Grant, p.km.Revoke, p.km.Reload}, {p.km.Up, p.km.Down, p.km.NextPage, p.km.PrevPage}, {p.km.Back}}
}
