package tui

import (
	"context"
	"fmt"
	"strings"

	"github.com/charmbracelet/bubbles/key"
	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/lipgloss"

	"creditdesk/billing"
)

// healthPane shows the doctor's findings, each problem with its fix, and
// the background work's progress; ctrl+r runs the checks again.
type healthPane struct {
	*common
	stripeReads

	checks    []HealthCheck
	status    string
	loaded    bool
	resyncing bool
	err       error

	// The last reconciliation with Stripe: ran, running, what differs.
	reconciled  bool
	reconciling bool
	diffs       []billing.Difference
	reconErr    error

	width, height int
}

func newHealthPane(ctx context.Context, c *common, op Operator) *healthPane {
	return &healthPane{common: c, stripeReads: stripeReads{ctx: ctx, op: op}}
}

func (p *healthPane) Title() string { return "Health" }

func (p *healthPane) Init() tea.Cmd { return p.load() }

func (p *healthPane) load() tea.Cmd { return p.read(loadHealthCmd) }

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
	case reconcileDoneMsg:
		p.reconciling, p.reconciled = false, true
		p.diffs, p.reconErr = msg.diffs, msg.err
		if msg.err != nil {
			return p, reportErr(fmt.Errorf("reconcile: %w", msg.err))
		}
		return p, msgCmd(infoMsg(reconcileSummary(len(msg.diffs))))
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
		case key.Matches(msg, p.km.Reconcile) && !p.reconciling:
			p.reconciling = true
			return p, reconcileCmd(p.ctx, p.op)
		}
	}
	return p, nil
}

func (p *healthPane) View() string {
	w := max(p.width, 10)
	if p.op == nil {
		return p.noOperatorView(w, "Health")
	}
	var b strings.Builder
	line := lineWriter(&b, w)
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
	p.reconcileView(line)
	return b.String()
}

// reconcileView is the last reconciliation: each difference and its fix.
func (p *healthPane) reconcileView(line func(lipgloss.Style, string)) {
	switch {
	case p.reconciling:
		line(p.st.Plain, "")
		line(p.st.Muted, fmt.Sprintf("  reconciling the last %d days with Stripe…", reconcileDays))
		return
	case !p.reconciled:
		return
	}
	line(p.st.Plain, "")
	switch {
	case p.reconErr != nil:
		line(p.st.Danger, "  reconcile: "+p.reconErr.Error())
	case len(p.diffs) == 0:
		line(p.st.Success, "  ✓ "+reconcileSummary(0))
	default:
		line(p.st.Danger, "  ✗ "+reconcileSummary(len(p.diffs)))
		for _, d := range p.diffs {
			id := d.Stripe
			if id == "" {
				id = d.Purchase
			}
			line(p.st.Plain, fmt.Sprintf("    %-10s %s: %s", d.What, id, d.Detail))
			line(p.st.Muted, "      → "+d.Fix)
		}
	}
}

func reconcileSummary(n int) string {
	if n == 0 {
		return fmt.Sprintf("reconciled %d days with Stripe: every payment has its credits once, every refund its clawback", reconcileDays)
	}
	return fmt.Sprintf("reconciled %d days with Stripe: %d %s", reconcileDays, n, plural(uint64(n), "difference", "differences"))
}

func (p *healthPane) ShortHelp() []key.Binding {
	if p.op == nil {
		return nil
	}
	return []key.Binding{p.km.Reload, p.km.Resync, p.km.Reconcile}
}

func (p *healthPane) FullHelp() [][]key.Binding { return [][]key.Binding{p.ShortHelp()} }
