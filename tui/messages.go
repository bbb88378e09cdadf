package tui

import (
	"context"
	"time"

	tea "github.com/charmbracelet/bubbletea"

	"creditdesk/billing"
)

// Messages. Each result names what it answers so that the pane that asked
// can drop a stale one.
type (
	// activityMsg is one line of the live feed.
	activityMsg struct{ a billing.Activity }
	// feedClosedMsg: the live feed's channel was closed.
	feedClosedMsg struct{}
	// statsMsg carries fresh counters.
	statsMsg struct{ s billing.Stats }
	// tickMsg comes every statsEvery; counters refresh and stale lists reload.
	tickMsg time.Time

	eventsLoadedMsg struct {
		rows []billing.EventRecord
		err  error
	}
	purchasesLoadedMsg struct {
		gen  int
		rows []billing.Purchase
		err  error
	}
	usersLoadedMsg struct {
		gen  int
		rows []billing.User
		err  error
	}
	detailLoadedMsg struct {
		gen    int
		id     string
		detail billing.UserDetail
		err    error
	}

	// openUserMsg asks the Users tab to show one user's detail.
	openUserMsg struct{ id string }
	// openAdjustMsg asks the root to open the grant or revoke form.
	openAdjustMsg struct {
		user    string
		grant   bool
		balance int64
	}
	// adjustDoneMsg is the result of Backend.Adjust.
	adjustDoneMsg struct {
		user  string
		delta int64
		force bool
		key   string
		entry billing.Entry
		err   error
	}

	// errMsg and infoMsg go to the status line.
	errMsg  struct{ err error }
	infoMsg string
)

const (
	// statsEvery is how often the header counters refresh without activity.
	statsEvery = 2 * time.Second
	// adjustTimeout bounds one Adjust call.
	adjustTimeout = 10 * time.Second
	// liveCapacity is how many rows the Live tab keeps.
	liveCapacity = 500
	// livePage is how many stored events the Live tab starts with.
	livePage = 200
)

// waitForActivity blocks on the feed and returns its next activity, or
// feedClosedMsg when the channel is closed. Update re-arms it.
func waitForActivity(ch <-chan billing.Activity) tea.Cmd {
	if ch == nil {
		return nil
	}
	return func() tea.Msg {
		a, ok := <-ch
		if !ok {
			return feedClosedMsg{}
		}
		return activityMsg{a}
	}
}

func loadStatsCmd(b Backend) tea.Cmd {
	return func() tea.Msg { return statsMsg{b.Stats()} }
}

func loadEventsCmd(b Backend, limit int) tea.Cmd {
	return func() tea.Msg {
		rows, err := b.EventsPage(0, limit)
		return eventsLoadedMsg{rows, err}
	}
}

func loadPurchasesCmd(b Backend, gen int, before uint64, limit int) tea.Cmd {
	return func() tea.Msg {
		rows, err := b.PurchasesPage(before, limit)
		return purchasesLoadedMsg{gen, rows, err}
	}
}

func loadUsersCmd(b Backend, gen int, after, filter string, limit int) tea.Cmd {
	return func() tea.Msg {
		rows, err := b.UsersPage(after, filter, limit)
		return usersLoadedMsg{gen, rows, err}
	}
}

func loadDetailCmd(b Backend, gen int, id string) tea.Cmd {
	return func() tea.Msg {
		d, err := b.UserDetail(id)
		return detailLoadedMsg{gen, id, d, err}
	}
}

// adjustCmd calls Backend.Adjust with a timeout under ctx.
func adjustCmd(ctx context.Context, b Backend, user string, delta int64, reason string, force bool, key string) tea.Cmd {
	return func() tea.Msg {
		ctx, cancel := context.WithTimeout(ctx, adjustTimeout)
		defer cancel()
		e, err := b.Adjust(ctx, billing.Adjustment{User: user, Delta: delta, Reason: reason, Force: force, Key: key})
		return adjustDoneMsg{user: user, delta: delta, force: force, key: key, entry: e, err: err}
	}
}

// timed is a command that calls call with timeout under ctx and reports
// what it returned as the message done makes of it.
func timed[T any](ctx context.Context, timeout time.Duration, call func(context.Context) (T, error), done func(T, error) tea.Msg) tea.Cmd {
	return func() tea.Msg {
		ctx, cancel := context.WithTimeout(ctx, timeout)
		defer cancel()
		return done(call(ctx))
	}
}

func msgCmd(m tea.Msg) tea.Cmd { return func() tea.Msg { return m } }

func reportErr(err error) tea.Cmd {
	if err == nil {
		return nil
	}
	return msgCmd(errMsg{err})
}

// newIdempotencyKey is billing.NewKey, prefixed so the ledger shows where
// it came from.
func newIdempotencyKey() string { return "console:" + billing.NewKey() }
