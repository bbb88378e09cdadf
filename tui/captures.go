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
	*common
	stripeReads

	rows []Authorization
	list list

	// verb is "capture" or "cancel" while a confirmation is open; step 2 is
	// the live-mode second confirmation; target is the payment asked about.
	verb   string
	step   int
	target Authorization
	submission

	width int
}

func newCapturesPane(ctx context.Context, c *common, op Operator) *capturesPane {
	return &capturesPane{common: c, stripeReads: stripeReads{ctx: ctx, op: op},
		list: newList(c, "the capture queue", "no payments waiting for capture (checkouts made with manual capture appear here)",
			column{Title: "PAYMENT INTENT", Flex: 1, Min: 12},
			column{Title: "USER", Width: 14},
			column{Title: "TYPE", Width: 10},
			column{Title: "AMOUNT", Width: 14, Right: true},
			column{Title: "CAPTURE BY", Width: 22},
		)}
}

func (p *capturesPane) Title() string { return "Captures" }

func (p *capturesPane) Init() tea.Cmd { return p.load() }

func (p *capturesPane) load() tea.Cmd { return p.read(loadCapturesCmd) }

// Capturing is true while a confirmation is open.
func (p *capturesPane) Capturing() bool { return p.verb != "" }

func (p *capturesPane) SetSize(w, h int) {
	p.width = w
	p.list.setSize(w, h-2)
}

func (p *capturesPane) Update(msg tea.Msg) (tea.Model, tea.Cmd) {
	switch msg := msg.(type) {
	case capturesLoadedMsg:
		p.loading = false
		return p, take(&p.list, &p.rows, msg.rows, msg.err)
	case captureDoneMsg:
		if !p.answer(msg.key, msg.err) || msg.err != nil {
			return p, nil
		}
		p.verb, p.step, p.err = "", 0, nil
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
		if p.list.key(msg, false) {
			return p, nil
		}
		switch {
		case key.Matches(msg, p.km.Reload):
			return p, p.load()
		case key.Matches(msg, p.km.Capture), key.Matches(msg, p.km.CancelAuth):
			if i, ok := p.list.selected(); ok {
				p.verb = "capture"
				if key.Matches(msg, p.km.CancelAuth) {
					p.verb = "cancel"
				}
				// Each confirmation is a request of its own.
				p.step, p.target = 1, p.rows[i]
				p.renew()
				p.prepare(p.verb + " " + p.target.PaymentIntent)
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
		p.start()
		return captureCmd(p.ctx, p.op, p.verb, p.target.PaymentIntent, p.key)
	case key.Matches(msg, p.km.No), key.Matches(msg, p.km.Cancel):
		if !p.pending {
			p.verb, p.step, p.err = "", 0, nil
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
	if p.op == nil {
		return p.noOperatorView(w, "Capture queue")
	}
	var b strings.Builder
	line := lineWriter(&b, w)
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
		p.sendLines(line, p.pending, p.err, "sending…", "retry (same request, done at most once)", "back")
		return b.String()
	}
	now := p.now()
	p.list.view(&b, func(i int) (string, *lipgloss.Style) {
		a := p.rows[i]
		row := p.list.row(a.PaymentIntent, a.User, a.Type, a.Amount, p.deadline(a.Deadline))
		if !a.Deadline.IsZero() && a.Deadline.Sub(now) < 24*time.Hour {
			return row, &p.st.Warning
		}
		return row, nil
	})
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

func (p *capturesPane) FullHelp() [][]key.Binding {
	if p.op == nil || p.verb != "" {
		return [][]key.Binding{p.ShortHelp()}
	}
	return [][]key.Binding{p.list.listHelp(), {p.km.Capture, p.km.CancelAuth, p.km.Reload}}
}
