package tui

import (
	"context"
	"io"
	"os"
	"strings"
	"time"

	"github.com/aymanbagabas/go-osc52/v2"
	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/lipgloss"

	"creditdesk/billing"
)

// Operator is what the console's Stripe panes (Checkout, Captures, Catalog,
// Health) ask of the Stripe API. The real one is an adapter over
// internal/stripeapi; tests use a fake. A nil Operator in Options means no
// STRIPE_SECRET_KEY: the panes say so instead of failing.
type Operator interface {
	// Live reports a live-mode key: actions move real money, and the
	// console asks a second time before each.
	Live() bool
	// Choices lists what a checkout link can sell: the catalog's plans and
	// packs.
	Choices() []CheckoutChoice
	// CreateCheckout creates a Checkout session; req.IdempotencyKey makes a
	// retried submission the same session.
	CreateCheckout(ctx context.Context, req billing.CheckoutRequest) (billing.CheckoutLink, error)
	// CreatePortal creates a customer portal link; billing.ErrNoCustomer
	// for a user who has never bought anything.
	CreatePortal(ctx context.Context, userID string) (string, error)
	// Captures lists payments authorized and waiting for capture.
	Captures(ctx context.Context) ([]Authorization, error)
	// Capture and Cancel act on one authorized payment; key makes a retry
	// one action. They return a one-line summary.
	Capture(ctx context.Context, paymentIntent, key string) (string, error)
	Cancel(ctx context.Context, paymentIntent, key string) (string, error)
	// Catalog returns the cached Stripe catalog, listing it from Stripe
	// first when sync is set.
	Catalog(ctx context.Context, sync bool) (CatalogView, error)
	// Health runs the doctor's checks.
	Health(ctx context.Context) ([]HealthCheck, error)
	// Resync lists the events of the last since from Stripe's Events API
	// and feeds them through the inbox; duplicates are dropped by id. It
	// returns a one-line summary.
	Resync(ctx context.Context, since time.Duration) (string, error)
	// Reconcile lists from Stripe what was paid and given back in the
	// last since (checkouts, invoices, refunds, lost disputes) and
	// compares it with the purchases and the ledger: one difference each,
	// with its fix; none when they agree.
	Reconcile(ctx context.Context, since time.Duration) ([]billing.Difference, error)
	// Status is the last line of background work (catalog sync, resync at
	// start), "" when there is none.
	Status() string
}

// stripeReads is what the panes that read through the Operator (Captures,
// Catalog, Health) share: the Operator (nil without a Stripe key), the
// context its calls run in, and one read out at a time.
type stripeReads struct {
	ctx     context.Context
	op      Operator
	loading bool
}

// read starts cmd's read unless there is no Operator or a read is out
// already; the pane clears loading when the answer arrives.
func (s *stripeReads) read(cmd func(context.Context, Operator) tea.Cmd) tea.Cmd {
	if s.op == nil || s.loading {
		return nil
	}
	s.loading = true
	return cmd(s.ctx, s.op)
}

// CheckoutChoice is a plan or pack a checkout link can sell.
type CheckoutChoice struct {
	Type    string
	Kind    string // plan or pack
	Credits int64
	// Price is how it is sold, formatted: "20.00 USD", "price_123".
	Price string
}

// Authorization is a payment authorized and waiting for capture.
type Authorization struct {
	PaymentIntent string
	User          string
	Type          string
	// Amount is formatted in its currency.
	Amount   string
	Status   string
	Deadline time.Time
}

// CatalogView is the Catalog tab's content.
type CatalogView struct {
	Types   []CatalogType
	Prices  []CatalogPrice
	Coupons []CatalogCoupon
	// SyncedAt is when the catalog was last listed from Stripe.
	SyncedAt time.Time
	// Note is a one-line summary of the last sync, "" when none.
	Note string
}

// CatalogType is a plan or pack of the configured catalog.
type CatalogType struct {
	Name        string
	Kind        string
	Credits     int64
	SoldWith    string
	PaymentLink string
}

// CatalogPrice is a Stripe price with the catalog type it maps to.
type CatalogPrice struct {
	ID      string
	Product string
	Amount  string
	Billing string // one-time or recurring
	Active  bool
	Type    string
}

// CatalogCoupon is a Stripe coupon.
type CatalogCoupon struct {
	ID, Name, Off, Duration string
	Valid                   bool
}

// HealthCheck is one finding of the doctor.
type HealthCheck struct {
	Check string
	Level string // ok, warn, problem
	Text  string
	Fix   string
}

// Timeouts of the Stripe panes' calls.
const (
	opTimeout   = 30 * time.Second
	syncTimeout = 2 * time.Minute
)

// noOperator is what a Stripe pane shows without a key.
const noOperator = "set STRIPE_SECRET_KEY to use this (the secret key from Stripe Dashboard → Developers → API keys, in .env)"

// sendLines writes where a confirmed Stripe request is: doing while it is
// pending, else its error with the keys to retry it or go back.
func (c *common) sendLines(line func(lipgloss.Style, string), pending bool, err error, doing, retry, back string) {
	switch {
	case pending:
		line(c.st.Muted, "  "+doing)
	case err != nil:
		line(c.st.Danger, "  failed: "+err.Error())
		line(c.st.Muted, "  "+hints(hint(c.km.Yes, retry), hint(c.km.No, back)))
	}
}

// noOperatorView is a Stripe pane without a key, w wide: its heading, and
// noOperator.
func (c *common) noOperatorView(w int, heading string) string {
	var b strings.Builder
	line := lineWriter(&b, w)
	line(c.st.Title, "  "+heading)
	line(c.st.Muted, "  "+noOperator)
	return b.String()
}

// Messages of the Stripe panes.
type (
	checkoutDoneMsg struct {
		key    string
		req    billing.CheckoutRequest
		portal bool
		link   billing.CheckoutLink
		copied bool
		err    error
	}
	capturesLoadedMsg struct {
		rows []Authorization
		err  error
	}
	captureDoneMsg struct {
		verb, key string
		summary   string
		err       error
	}
	catalogLoadedMsg struct {
		view   CatalogView
		synced bool
		err    error
	}
	healthLoadedMsg struct {
		checks []HealthCheck
		err    error
	}
	resyncDoneMsg struct {
		summary string
		err     error
	}
	reconcileDoneMsg struct {
		diffs []billing.Difference
		err   error
	}
)

// clipboard is where a link is copied to with OSC 52, which the terminal
// (and tmux, when wrapped) turns into a clipboard write.
type clipboard struct {
	w    io.Writer
	tmux bool
}

func (c clipboard) copy(s string) bool {
	if c.w == nil {
		return false
	}
	seq := osc52.New(s)
	if c.tmux {
		seq = seq.Tmux()
	}
	_, err := seq.WriteTo(c.w)
	return err == nil
}

func checkoutCmd(ctx context.Context, op Operator, clip clipboard, req billing.CheckoutRequest, portal bool) tea.Cmd {
	return func() tea.Msg {
		ctx, cancel := context.WithTimeout(ctx, opTimeout)
		defer cancel()
		msg := checkoutDoneMsg{key: req.IdempotencyKey, req: req, portal: portal}
		if portal {
			msg.link.URL, msg.err = op.CreatePortal(ctx, req.UserID)
		} else {
			msg.link, msg.err = op.CreateCheckout(ctx, req)
		}
		if msg.err == nil && msg.link.URL != "" {
			msg.copied = clip.copy(msg.link.URL)
		}
		return msg
	}
}

func loadCapturesCmd(ctx context.Context, op Operator) tea.Cmd {
	return timed(ctx, opTimeout, op.Captures, func(rows []Authorization, err error) tea.Msg { return capturesLoadedMsg{rows, err} })
}

func captureCmd(ctx context.Context, op Operator, verb, pi, key string) tea.Cmd {
	return func() tea.Msg {
		ctx, cancel := context.WithTimeout(ctx, opTimeout)
		defer cancel()
		var s string
		var err error
		if verb == "capture" {
			s, err = op.Capture(ctx, pi, key)
		} else {
			s, err = op.Cancel(ctx, pi, key)
		}
		return captureDoneMsg{verb: verb, key: key, summary: s, err: err}
	}
}

func loadCatalogCmd(ctx context.Context, op Operator, sync bool) tea.Cmd {
	return timed(ctx, syncTimeout, func(ctx context.Context) (CatalogView, error) { return op.Catalog(ctx, sync) },
		func(v CatalogView, err error) tea.Msg { return catalogLoadedMsg{v, sync, err} })
}

// reconcileDays is how far back the Health tab's reconciliation goes.
const reconcileDays = 30

func reconcileCmd(ctx context.Context, op Operator) tea.Cmd {
	return timed(ctx, syncTimeout, func(ctx context.Context) ([]billing.Difference, error) {
		return op.Reconcile(ctx, reconcileDays*24*time.Hour)
	}, func(d []billing.Difference, err error) tea.Msg { return reconcileDoneMsg{d, err} })
}

func loadHealthCmd(ctx context.Context, op Operator) tea.Cmd {
	return timed(ctx, opTimeout, op.Health, func(cs []HealthCheck, err error) tea.Msg { return healthLoadedMsg{cs, err} })
}

// newClipboard writes to w, or to the terminal's stderr when w is nil,
// wrapped for tmux when running inside it.
func newClipboard(w io.Writer) clipboard {
	if w == nil {
		return clipboard{w: os.Stderr, tmux: os.Getenv("TMUX") != ""}
	}
	return clipboard{w: w}
}

// resyncWindow is how far back the Health tab's resync reaches: Stripe's
// retry window for webhooks.
const resyncWindow = 72 * time.Hour

func resyncCmd(ctx context.Context, op Operator) tea.Cmd {
	return timed(ctx, syncTimeout, func(ctx context.Context) (string, error) { return op.Resync(ctx, resyncWindow) },
		func(s string, err error) tea.Msg { return resyncDoneMsg{s, err} })
}
