package tui

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/charmbracelet/bubbles/key"
	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/lipgloss"
)

// capturesPane is the capture queue: one-time payments authorized and not
// yet charged, soonest deadline first. c captures, x cancels, each after a
// confirmation, and a second one in live mode. Credits follow Stripe's
// event for the capture, never the authorization.
type capturesPane struct {
	ctx context.Context
	op  Operator
	st  *Styles
	km  *KeyMap
	now func() time.Time

	rows    []Authorization
	cursor  int
	loaded  bool
	loading bool
	err     error

	// verb is "capture" or "cancel" while a confirmation is open; step 2 is
	// the live-mode second confirmation; target is the payment asked about.
	verb    string
	step    int
	target  Authorization
	key     string
	pending bool
	failed  error

	width, height int
	cols          []column
	widths        []int
}

func newCapturesPane(ctx context.Context, op Operator, st *Styles, km *KeyMap, now func() time.Time) *capturesPane {
	return &capturesPane{ctx: ctx, op: op, st: st, km: km, now: now,
		cols: []column{
			{Title: "PAYMENT INTENT", Flex: 1, Min: 12},
			{Title: "USER", Width: 14},
			{Title: "TYPE", Width: 10},
			{Title: "AMOUNT", Width: 14, Right: true},
			{Title: "CAPTURE BY", Width: 22},
		}}
}

func (p *capturesPane) Title() string { return "Captures" }

func (p *capturesPane) Init() tea.Cmd { return p.load() }

func (p *capturesPane) load() tea.Cmd {
	if p.op == nil || p.loading {
		return nil
	}
	p.loading = true
	return loadCapturesCmd(p.ctx, p.op)
}

// Capturing is true while a confirmation is open.
func (p *capturesPane) Capturing() bool { return p.verb != "" }

func (p *capturesPane) SetSize(w, h int) {
	p.width, p.height = w, h
	p.widths = layoutColumns(w-2, p.cols)
}

func (p *capturesPane) Update(msg tea.Msg) (tea.Model, tea.Cmd) {
	switch msg := msg.(type) {
	case capturesLoadedMsg:
		p.loading = false
		if msg.err != nil {
			p.err = msg.err
			return p, reportErr(fmt.Errorf("loading the capture queue: %w", msg.err))
		}
		p.rows, p.err, p.loaded = msg.rows, nil, true
		p.cursor = min(p.cursor, max(len(p.rows)-1, 0))
	case captureDoneMsg:
		if msg.key != p.key || !p.pending {
			return p, nil
		}
		p.pending = false
		if msg.err != nil {
			p.failed = msg.err
			return p, nil
		}
		p.verb, p.step, p.failed = "", 0, nil
		info := msg.summary
		if msg.verb == "capture" {
			info += " · credits follow when Stripe's event arrives"
		}
		return p, tea.Batch(msgCmd(infoMsg(info)), p.load())
	case tea.KeyMsg:
		if p.op == nil {
			return p, nil
		}
		if p.verb != "" {
			return p, p.confirmKey(msg)
		}
		switch {
		case key.Matches(msg, p.km.Up):
			p.cursor = max(p.cursor-1, 0)
		case key.Matches(msg, p.km.Down):
			p.cursor = min(p.cursor+1, max(len(p.rows)-1, 0))
		case key.Matches(msg, p.km.Reload):
			return p, p.load()
		case key.Matches(msg, p.km.Capture), key.Matches(msg, p.km.CancelAuth):
			if p.cursor < len(p.rows) {
				p.verb = "capture"
				if key.Matches(msg, p.km.CancelAuth) {
					p.verb = "cancel"
				}
				p.step, p.target, p.key, p.failed = 1, p.rows[p.cursor], newIdempotencyKey(), nil
			}
		}
	}
	return p, nil
}

func (p *capturesPane) confirmKey(msg tea.KeyMsg) tea.Cmd {
	switch {
	case key.Matches(msg, p.km.Yes):
		if p.pending {
			return nil
		}
		if p.op.Live() && p.step == 1 {
			p.step = 2
			return nil
		}
		p.pending, p.failed = true, nil
		return captureCmd(p.ctx, p.op, p.verb, p.target.PaymentIntent, p.key)
	case key.Matches(msg, p.km.No), key.Matches(msg, p.km.Cancel):
		if !p.pending {
			p.verb, p.step, p.failed = "", 0, nil
		}
	}
	return nil
}

func (p *capturesPane) deadline(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	left := t.Sub(p.now())
	s := t.Local().Format("Jan 2 15:04")
	switch {
	case left <= 0:
		return s + " lapsed"
	case left < 48*time.Hour:
		return fmt.Sprintf("%s (%dh left)", s, int(left.Hours()))
	}
	return fmt.Sprintf("%s (%dd left)", s, int(left.Hours()/24))
}

func (p *capturesPane) View() string {
	w := max(p.width, 10)
	var b strings.Builder
	line := lineWriter(&b, w)
	if p.op == nil {
		line(p.st.Title, "  Capture queue")
		line(p.st.Muted, "  "+noOperator)
		return b.String()
	}
	if p.verb != "" {
		a := p.target
		what := "Capture"
		effect := "the money is charged; " + a.User + " gets the credits when Stripe's event arrives"
		if p.verb == "cancel" {
			what, effect = "Cancel", "the authorization is released; nothing is charged and no credits are granted"
		}
		line(p.st.Title, fmt.Sprintf("  %s %s from %s (%s)? y/n", what, a.Amount, orNone(a.User), a.PaymentIntent))
		line(p.st.Muted, "  "+effect)
		if p.step == 2 {
			line(p.st.Danger, "  LIVE MODE: this moves real money. Press y again to "+p.verb+", n to go back.")
		}
		switch {
		case p.pending:
			line(p.st.Muted, "  sending…")
		case p.failed != nil:
			line(p.st.Danger, "  failed: "+p.failed.Error())
			line(p.st.Muted, "  y retry (same request, done at most once) · n back")
		}
		return b.String()
	}
	b.WriteString(p.st.Header.Render("  " + tableHeader(p.cols, p.widths)))
	switch {
	case !p.loaded && p.err != nil:
		line(p.st.Danger, "  "+p.err.Error())
		return b.String()
	case !p.loaded:
		line(p.st.Muted, "  loading…")
		return b.String()
	case len(p.rows) == 0:
		line(p.st.Muted, "  no payments waiting for capture (checkouts made with manual capture appear here)")
		return b.String()
	}
	visible := max(p.height-2, 1)
	start := max(0, p.cursor-visible+1)
	for i := start; i < len(p.rows) && i < start+visible; i++ {
		a := p.rows[i]
		row := tableRow(p.cols, p.widths, a.PaymentIntent, a.User, a.Type, a.Amount, p.deadline(a.Deadline))
		b.WriteByte('\n')
		switch {
		case i == p.cursor:
			b.WriteString(p.st.Selected.Render("› " + row))
		case !a.Deadline.IsZero() && a.Deadline.Sub(p.now()) < 24*time.Hour:
			b.WriteString(p.st.Warning.Render("  " + row))
		default:
			b.WriteString("  " + row)
		}
	}
	return b.String()
}

func orNone(s string) string {
	if s == "" {
		return "an unknown user"
	}
	return s
}

func (p *capturesPane) ShortHelp() []key.Binding {
	switch {
	case p.op == nil:
		return nil
	case p.verb != "":
		return []key.Binding{p.km.Yes, p.km.No}
	}
	return []key.Binding{p.km.Up, p.km.Down, p.km.Capture, p.km.CancelAuth, p.km.Reload}
}

func (p *capturesPane) FullHelp() [][]key.Binding { return [][]key.Binding{p.ShortHelp()} }

// catalogPane shows the configured plans and packs with their payment
// links, and Stripe's prices and coupons as last synced; s syncs.
type catalogPane struct {
	ctx context.Context
	op  Operator
	st  *Styles
	km  *KeyMap

	view    CatalogView
	loaded  bool
	loading bool
	err     error
	offset  int

	width, height int
}

func newCatalogPane(ctx context.Context, op Operator, st *Styles, km *KeyMap) *catalogPane {
	return &catalogPane{ctx: ctx, op: op, st: st, km: km}
}

func (p *catalogPane) Title() string { return "Catalog" }

func (p *catalogPane) Init() tea.Cmd { return p.load(false) }

func (p *catalogPane) load(sync bool) tea.Cmd {
	if p.op == nil || p.loading {
		return nil
	}
	p.loading = true
	return loadCatalogCmd(p.ctx, p.op, sync)
}

func (p *catalogPane) SetSize(w, h int) { p.width, p.height = w, h }

func (p *catalogPane) Update(msg tea.Msg) (tea.Model, tea.Cmd) {
	switch msg := msg.(type) {
	case catalogLoadedMsg:
		p.loading = false
		if msg.err != nil {
			p.err = msg.err
			return p, reportErr(fmt.Errorf("catalog: %w", msg.err))
		}
		p.view, p.err, p.loaded = msg.view, nil, true
		if msg.synced {
			return p, msgCmd(infoMsg(fmt.Sprintf("catalog synced: %d prices, %d coupons", len(msg.view.Prices), len(msg.view.Coupons))))
		}
	case tea.KeyMsg:
		switch {
		case key.Matches(msg, p.km.Sync):
			return p, p.load(true)
		case key.Matches(msg, p.km.Up):
			p.offset = max(p.offset-1, 0)
		case key.Matches(msg, p.km.Down):
			p.offset = min(p.offset+1, max(len(p.lines())-p.height, 0))
		}
	}
	return p, nil
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
	synced := "never synced: press s"
	if !v.SyncedAt.IsZero() {
		synced = "synced " + v.SyncedAt.Local().Format("2006-01-02 15:04")
	}
	add(p.st.Title, "  Stripe prices ("+synced+")")
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
	ls := p.lines()
	off := min(p.offset, max(len(ls)-p.height, 0))
	end := min(len(ls), off+max(p.height, 1))
	return strings.Join(ls[off:end], "\n")
}

func (p *catalogPane) ShortHelp() []key.Binding {
	if p.op == nil {
		return nil
	}
	return []key.Binding{p.km.Sync, p.km.Up, p.km.Down}
}

func (p *catalogPane) FullHelp() [][]key.Binding { return [][]key.Binding{p.ShortHelp()} }

// healthPane shows the doctor's findings, each problem with its fix, and
// the background work's progress; ctrl+r runs the checks again.
type healthPane struct {
	ctx context.Context
	op  Operator
	st  *Styles
	km  *KeyMap

	checks    []HealthCheck
	status    string
	loaded    bool
	loading   bool
	resyncing bool
	err       error

	width, height int
}

func newHealthPane(ctx context.Context, op Operator, st *Styles, km *KeyMap) *healthPane {
	return &healthPane{ctx: ctx, op: op, st: st, km: km}
}

func (p *healthPane) Title() string { return "Health" }

func (p *healthPane) Init() tea.Cmd { return p.load() }

func (p *healthPane) load() tea.Cmd {
	if p.op == nil || p.loading {
		return nil
	}
	p.loading = true
	return loadHealthCmd(p.ctx, p.op)
}

func (p *healthPane) SetSize(w, h int) { p.width, p.height = w, h }

func (p *healthPane) Update(msg tea.Msg) (tea.Model, tea.Cmd) {
	switch msg := msg.(type) {
	case healthLoadedMsg:
		p.loading = false
		p.checks, p.err, p.loaded = msg.checks, msg.err, true
	case resyncDoneMsg:
		p.resyncing = false
		if msg.err != nil {
			return p, reportErr(fmt.Errorf("resync: %w", msg.err))
		}
		p.status = msg.summary
		return p, tea.Batch(msgCmd(infoMsg(msg.summary)), p.load())
	case tickMsg:
		if p.op != nil {
			p.status = p.op.Status()
		}
	case tea.KeyMsg:
		switch {
		case p.op == nil:
		case key.Matches(msg, p.km.Reload):
			return p, p.load()
		case key.Matches(msg, p.km.Resync) && !p.resyncing:
			p.resyncing = true
			p.status = "resync of the last 72h running…"
			return p, resyncCmd(p.ctx, p.op)
		}
	}
	return p, nil
}

func (p *healthPane) View() string {
	w := max(p.width, 10)
	var b strings.Builder
	line := lineWriter(&b, w)
	if p.op == nil {
		line(p.st.Title, "  Health")
		line(p.st.Muted, "  "+noOperator)
		return b.String()
	}
	problems := 0
	for _, c := range p.checks {
		if c.Level == "problem" {
			problems++
		}
	}
	switch {
	case p.loading && !p.loaded:
		line(p.st.Muted, "  checking key, account, webhook endpoints and events…")
	case p.err != nil:
		line(p.st.Danger, "  "+p.err.Error())
	case problems == 0:
		line(p.st.Success, "  all checks pass")
	default:
		line(p.st.Danger, fmt.Sprintf("  %d problem(s): each with its fix", problems))
	}
	if p.status != "" {
		line(p.st.Muted, "  background: "+p.status)
	}
	line(p.st.Plain, "")
	for _, c := range p.checks {
		st, mark := p.st.Success, "✓"
		switch c.Level {
		case "warn":
			st, mark = p.st.Warning, "!"
		case "problem":
			st, mark = p.st.Danger, "✗"
		}
		line(st, fmt.Sprintf("  %s %-16s %s", mark, c.Check, c.Text))
		if c.Fix != "" {
			line(p.st.Muted, "      → "+c.Fix)
		}
	}
	return b.String()
}

func (p *healthPane) ShortHelp() []key.Binding {
	if p.op == nil {
		return nil
	}
	return []key.Binding{p.km.Reload, p.km.Resync}
}

func (p *healthPane) FullHelp() [][]key.Binding { return [][]key.Binding{p.ShortHelp()} }
