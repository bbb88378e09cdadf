package tui

import (
	"context"
	"fmt"

	"github.com/charmbracelet/bubbles/key"
	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/lipgloss"
)

// catalogPane shows the configured plans and packs with their payment
// links, and Stripe's prices and coupons as last synced; s syncs.
type catalogPane struct {
	*common
	stripeReads

	view   CatalogView
	loaded bool
	err    error
	scroll scroller

	width int
}

func newCatalogPane(ctx context.Context, c *common, op Operator) *catalogPane {
	return &catalogPane{common: c, stripeReads: stripeReads{ctx: ctx, op: op}}
}

func (p *catalogPane) Title() string { return "Catalog" }

func (p *catalogPane) Init() tea.Cmd { return p.load(false) }

func (p *catalogPane) load(sync bool) tea.Cmd {
	return p.read(func(ctx context.Context, op Operator) tea.Cmd { return loadCatalogCmd(ctx, op, sync) })
}

func (p *catalogPane) SetSize(w, h int) {
	p.width = w
	p.scroll.setHeight(h)
	p.build()
}

func (p *catalogPane) Update(msg tea.Msg) (tea.Model, tea.Cmd) {
	switch msg := msg.(type) {
	case catalogLoadedMsg:
		p.loading = false
		if msg.err != nil {
			p.err = msg.err
			return p, reportErr(fmt.Errorf("catalog: %w", msg.err))
		}
		p.view, p.err, p.loaded = msg.view, nil, true
		p.build()
		if msg.synced {
			return p, msgCmd(infoMsg(fmt.Sprintf("catalog synced: %d prices, %d coupons", len(msg.view.Prices), len(msg.view.Coupons))))
		}
	case tea.KeyMsg:
		if key.Matches(msg, p.km.Sync) {
			return p, p.load(true)
		}
		p.scroll.key(p.km, msg)
	}
	return p, nil
}

// build lays the catalog out as lines for the scroller, when the catalog
// or the width changes.
func (p *catalogPane) build() {
	p.scroll.setLines(p.lines())
}

func (p *catalogPane) lines() []string {
	var out []string
	add := func(st lipgloss.Style, s string) { out = append(out, st.Render(truncate(s, max(p.width, 10)))) }
	v := p.view
	add(p.st.Title, "  Plans and packs (creditdesk.toml)")
	if len(v.Types) == 0 {
		add(p.st.Muted, "  none: add [plans.NAME] or [packs.NAME] to creditdesk.toml")
	}
	for _, t := range v.Types {
		per := ""
		if t.Kind == "plan" {
			per = "/month"
		}
		s := fmt.Sprintf("  %-12s %-4s %9s credits%s · %s", t.Name, t.Kind, formatCredits(t.Credits), per, t.SoldWith)
		if t.PaymentLink != "" {
			s += " · payment link " + t.PaymentLink
		}
		add(p.st.Plain, s)
	}
	add(p.st.Plain, "")
	synced := "never synced: press " + keyOf(p.km.Sync)
	if !v.SyncedAt.IsZero() {
		synced = "synced " + v.SyncedAt.Local().Format("2006-01-02 15:04")
	}
	add(p.st.Title, "  Stripe prices ("+synced+")")
	if v.Note != "" {
		add(p.st.Muted, "  "+v.Note)
	}
	if len(v.Prices) == 0 {
		add(p.st.Muted, "  no prices cached")
	}
	for _, pr := range v.Prices {
		typ := pr.Type
		if typ == "" {
			typ = "— not in the catalog"
		} else {
			typ = "→ " + typ
		}
		st := p.st.Plain
		if !pr.Active {
			st = p.st.Muted
		}
		add(st, fmt.Sprintf("  %-32s %-20s %14s %-9s %s", pr.ID, truncate(pr.Product, 20), pr.Amount, pr.Billing, typ))
	}
	if len(v.Coupons) > 0 {
		add(p.st.Plain, "")
		add(p.st.Title, "  Coupons")
		for _, c := range v.Coupons {
			st := p.st.Plain
			if !c.Valid {
				st = p.st.Muted
			}
			add(st, fmt.Sprintf("  %-20s %-20s %-16s %s", c.ID, truncate(c.Name, 20), c.Off, c.Duration))
		}
	}
	return out
}

func (p *catalogPane) View() string {
	if p.op == nil {
		return p.st.Title.Render("  Catalog") + "\n" + p.st.Muted.Render(truncate("  "+noOperator, max(p.width, 10)))
	}
	switch {
	case !p.loaded && p.err != nil:
		return p.st.Danger.Render(truncate("  "+p.err.Error(), max(p.width, 10)))
	case !p.loaded:
		return p.st.Muted.Render("  loading…")
	}
	return p.scroll.view()
}

func (p *catalogPane) ShortHelp() []key.Binding {
	if p.op == nil {
		return nil
	}
	return []key.Binding{p.km.Sync, p.km.Up, p.km.Down}
}

func (p *catalogPane) FullHelp() [][]key.Binding {
	if p.op == nil {
		return nil
	}
	return [][]key.Binding{{p.km.Sync}, {p.km.Up, p.km.Down, p.km.NextPage, p.km.PrevPage}}
}
