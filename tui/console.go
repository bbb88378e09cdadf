package tui

import (
	"context"
	"errors"
	"io"
	"time"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/lipgloss"
)

// Options configure the console.
type Options struct {
	// Demo shows a banner saying the events are simulated.
	Demo bool
	// WebhookURL is where Stripe should send events, shown in the header.
	WebhookURL string
	// DBPath is the store's file, shown in full help.
	DBPath string
	// Renderer renders the styles; nil uses lipgloss's default renderer.
	Renderer *lipgloss.Renderer
	// Notice is a standing warning for the header, such as a missing
	// webhook secret; empty shows nothing.
	Notice string
	// Operator acts through the Stripe API for the Checkout, Captures,
	// Catalog and Health tabs; nil (no STRIPE_SECRET_KEY) makes them say so.
	Operator Operator
	// Clipboard receives OSC 52 clipboard writes; nil is the terminal
	// (stderr).
	Clipboard io.Writer
	// Who is the operator this console acts as, shown in the header when
	// it is not the machine's own user (an SSH session: "ssh:laptop").
	Who string
}

// New returns the console as a Bubble Tea model. It subscribes to the live
// feed at once; quitting ends the subscription.
func New(b Backend, opt Options) tea.Model {
	return newModel(context.Background(), b, opt, time.Now)
}

// NewSession returns a console for a terminal that is not this process's
// own, such as an SSH session: ctx is the session's (it names the operator,
// see billing.WithOperator) and opt.Renderer should be the session's, so
// colours fit its terminal. end ends its live feed subscription; call it
// when the session ends, however it ends.
func NewSession(ctx context.Context, b Backend, opt Options) (m tea.Model, end func()) {
	cm := newModel(ctx, b, opt, time.Now)
	return cm, cm.close
}

// Run shows the console full screen until the operator quits or ctx ends.
// The terminal is restored either way. It returns nil on a normal quit and
// when ctx was cancelled.
func Run(ctx context.Context, b Backend, opt Options) error {
	m := newModel(ctx, b, opt, time.Now)
	defer m.close()
	_, err := tea.NewProgram(m, tea.WithAltScreen(), tea.WithContext(ctx)).Run()
	if err != nil && ctx.Err() != nil && errors.Is(err, tea.ErrProgramKilled) {
		return nil
	}
	return err
}
