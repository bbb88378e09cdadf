package tui

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/charmbracelet/bubbles/key"
	tea "github.com/charmbracelet/bubbletea"

	"creditdesk/billing"
)

// detailPane shows one user: the record, spendable balance, plan, grants
// with what is left, purchases and the ledger. Its lines are built when the
// data or the width changes; View only slices the visible ones.
type detailPane struct {
	b   Backend
	st  *Styles
	km  *KeyMap
	now func() time.Time

	id      string
	d       billing.UserDetail
	loaded  bool
	err     error
	gen     int
	loading bool
	stale   bool

	lines  []string
	offset int

	width, height int
}

func newDetailPane(b Backend, st *Styles, km *KeyMap, now func() time.Time, id string) *detailPane {
	return &detailPane{b: b, st: st, km: km, now: now, id: id}
}

func (p *detailPane) Title() string { return "User " + p.id }

func (p *detailPane) Init() tea.Cmd { return p.load() }

func (p *detailPane) load() tea.Cmd {
	p.gen++
	p.loading, p.stale = true, false
	return loadDetailCmd(p.b, p.gen, p.id)
}

func (p *detailPane) SetSize(w, h int) {
	rebuild := w != p.width
	p.width, p.height = w, h
	if rebuild {
		p.build()
	}
	p.clamp()
}

func (p *detailPane) Update(msg tea.Msg) (tea.Model, tea.Cmd) {
	switch msg := msg.(type) {
	case detailLoadedMsg:
		if msg.gen != p.gen || msg.id != p.id {
			return p, nil
		}
		p.loading = false
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
		if p.stale && !p.loading {
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
		case key.Matches(msg, p.km.Up):
			p.offset--
		case key.Matches(msg, p.km.Down):
			p.offset++
		case key.Matches(msg, p.km.NextPage):
			p.offset += max(p.height-1, 1)
		case key.Matches(msg, p.km.PrevPage):
			p.offset -= max(p.height-1, 1)
		}
		p.clamp()
	}
	return p, nil
}

func (p *detailPane) clamp() {
	p.offset = max(min(p.offset, len(p.lines)-p.height), 0)
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
		p.lines = ls
		p.clamp()
		return
	case !p.loaded:
		text(p.st.Title.Render, "  User "+p.id)
		text(p.st.Muted.Render, "  loading…")
		p.lines = ls
		p.clamp()
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
	add("")
	text(p.st.Title.Render, fmt.Sprintf("  Grants (%d)", len(p.d.Grants)))
	gcols := []column{
		{Title: "ENTRY", Width: 6, Right: true},
		{Title: "KIND", Width: 7},
		{Title: "AMOUNT", Width: 9, Right: true},
		{Title: "LEFT", Width: 9, Right: true},
		{Title: "EXPIRES", Width: 10},
		{Title: "SOURCE", Flex: 1, Min: 6},
	}
	gw := layoutColumns(w-4, gcols)
	if len(p.d.Grants) == 0 {
		text(p.st.Muted.Render, "    none with credits left")
	} else {
		add(p.st.Header.Render("    " + tableHeader(gcols, gw)))
		for _, g := range p.d.Grants {
			exp := "never"
			if g.Expires() {
				exp = formatDate(g.ExpiresAt)
			}
			line := "    " + tableRow(gcols, gw, strconv.FormatUint(g.EntryID, 10), g.Kind,
				formatCredits(g.Amount), formatCredits(g.Remaining), exp, g.Source)
			if g.Expires() && !g.ExpiresAt.After(now) {
				add(p.st.Muted.Render(line))
			} else {
				add(line)
			}
		}
	}

	// Purchases.
	add("")
	text(p.st.Title.Render, fmt.Sprintf("  Purchases (%d)", len(p.d.Purchases)))
	pcols := []column{
		{Title: "TIME", Width: 10},
		{Title: "PURCHASE", Flex: 1, Min: 8},
		{Title: "KIND", Width: 4},
		{Title: "STATUS", Width: 13},
		{Title: "CREDITS", Width: 9, Right: true},
		{Title: "TOTAL", Width: 12, Right: true},
	}
	pw := layoutColumns(w-4, pcols)
	if len(p.d.Purchases) == 0 {
		text(p.st.Muted.Render, "    none")
	} else {
		add(p.st.Header.Render("    " + tableHeader(pcols, pw)))
		for _, pu := range p.d.Purchases {
			add("    " + tableRow(pcols, pw, formatTime(pu.CreatedAt, now), pu.ID, pu.Kind, pu.Status,
				formatCredits(pu.Credits), formatMoney(pu.AmountTotal, pu.Currency)))
		}
	}

	// Ledger.
	add("")
	nEntries := max(u.Entries, uint64(len(p.d.Entries)))
	text(p.st.Title.Render, fmt.Sprintf("  Ledger (%s %s, newest first)", formatCount(nEntries), plural(nEntries, "entry", "entries")))
	lcols := []column{
		{Title: "ID", Width: 6, Right: true},
		{Title: "DELTA", Width: 9, Right: true},
		{Title: "BALANCE", Width: 9, Right: true},
		{Title: "REASON", Flex: 3, Min: 6},
		{Title: "SOURCE", Flex: 2, Min: 6},
		{Title: "TIME", Width: 10},
	}
	lw := layoutColumns(w-4, lcols)
	if len(p.d.Entries) == 0 {
		text(p.st.Muted.Render, "    no entries")
	} else {
		add(p.st.Header.Render("    " + tableHeader(lcols, lw)))
		for _, e := range p.d.Entries {
			src := e.Source
			if e.Operator != "" && e.Operator != src {
				src += " by " + e.Operator
			}
			line := "    " + tableRow(lcols, lw, strconv.FormatUint(e.ID, 10), formatDelta(e.Delta),
				formatCredits(e.BalanceAfter), e.Reason, src, formatTime(e.At, now))
			if e.Delta < 0 {
				add(p.st.Warning.Render(line))
			} else {
				add(line)
			}
		}
	}
	p.lines = ls
	p.clamp()
}

func (p *detailPane) View() string {
	if len(p.lines) == 0 {
		return ""
	}
	end := min(p.offset+p.height, len(p.lines))
	return strings.Join(p.lines[p.offset:end], "\n")
}

func (p *detailPane) ShortHelp() []key.Binding {
	return []key.Binding{p.km.Grant, p.km.Revoke, p.km.Back, p.km.Down}
}

func (p *detailPane) FullHelp() [][]key.Binding {
	return [][]key.Binding{{p.km.Grant, p.km.Revoke, p.km.Reload}, {p.km.Up, p.km.Down, p.km.NextPage, p.km.PrevPage}, {p.km.Back}}
}
