package tui

import (
	"time"

	"github.com/charmbracelet/bubbles/help"
	tea "github.com/charmbracelet/bubbletea"
)

// Component is a pane of the console: a model that knows its keys and its
// size. The root holds a slice of them as tabs and routes to the active one.
// Panes are pointers; Update returns the same pane.
type Component interface {
	tea.Model
	help.KeyMap
	SetSize(width, height int)
}

// titled is a pane with a name for the tab bar.
type titled interface {
	Title() string
}

// capturer is a pane that can hold the keyboard, as a focused text input
// does: while Capturing, every key but ctrl+c goes to the pane, so q types q.
type capturer interface {
	Capturing() bool
}

// paneTitle is c's tab name.
func paneTitle(c Component) string {
	if t, ok := c.(titled); ok {
		return t.Title()
	}
	return "?"
}

// capturing reports whether c holds the keyboard.
func capturing(c tea.Model) bool {
	k, ok := c.(capturer)
	return ok && k.Capturing()
}

// common is what every pane shares: the looks, the keys, the clock and the
// timer. Panes embed it, so p.st, p.km and p.now read as before.
type common struct {
	st  *Styles
	km  *KeyMap
	now func() time.Time
	// after is tea.Tick; tests replace it to fire timers when they choose.
	after func(time.Duration, func(time.Time) tea.Msg) tea.Cmd
}
