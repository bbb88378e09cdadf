package tui

import (
	"strings"

	"github.com/charmbracelet/bubbles/key"
)

// KeyMap is every key the console answers to, in one place. Panes pick the
// bindings they use for their help; the root handles the global ones.
type KeyMap struct {
	// Global.
	Quit key.Binding
	// Interrupt quits even while a pane or form holds the keyboard.
	Interrupt key.Binding
	Help      key.Binding
	NextTab   key.Binding
	PrevTab   key.Binding
	GotoTab   key.Binding

	// Lists.
	Up       key.Binding
	Down     key.Binding
	NextPage key.Binding
	PrevPage key.Binding
	Open     key.Binding
	Back     key.Binding
	Filter   key.Binding

	// Users filter input.
	KeepFilter  key.Binding
	ClearFilter key.Binding

	// Attention.
	Retry  key.Binding
	Assign key.Binding
	Link   key.Binding

	// User detail.
	Grant  key.Binding
	Revoke key.Binding
	Reload key.Binding

	// API keys.
	NewKey key.Binding

	// Deliveries.
	Resend    key.Binding
	ResendAll key.Binding
	Enable    key.Binding

	// Forms.
	Submit    key.Binding
	Cancel    key.Binding
	NextField key.Binding
	PrevField key.Binding
	Yes       key.Binding
	No        key.Binding
	Force     key.Binding

	// Stripe panes.
	NewLink    key.Binding
	Toggle     key.Binding
	Choose     key.Binding // help for ChoosePrev and ChooseNext
	ChoosePrev key.Binding
	ChooseNext key.Binding
	Capture    key.Binding
	CancelAuth key.Binding
	Sync       key.Binding
	Resync     key.Binding
	Reconcile  key.Binding
}

// DefaultKeyMap returns the console's keys.
func DefaultKeyMap() KeyMap {
	return KeyMap{
		Quit:      key.NewBinding(key.WithKeys("q", "ctrl+c"), key.WithHelp("q", "quit")),
		Interrupt: key.NewBinding(key.WithKeys("ctrl+c"), key.WithHelp("ctrl+c", "quit")),
		Help:      key.NewBinding(key.WithKeys("?"), key.WithHelp("?", "more keys")),
		NextTab:   key.NewBinding(key.WithKeys("tab"), key.WithHelp("tab", "next tab")),
		PrevTab:   key.NewBinding(key.WithKeys("shift+tab"), key.WithHelp("shift+tab", "prev tab")),
		GotoTab:   key.NewBinding(key.WithKeys("1", "2", "3", "4", "5", "6", "7", "8", "9", "0"), key.WithHelp("1-9,0", "go to tab")),

		Up:       key.NewBinding(key.WithKeys("up", "k"), key.WithHelp("↑/k", "up")),
		Down:     key.NewBinding(key.WithKeys("down", "j"), key.WithHelp("↓/j", "down")),
		NextPage: key.NewBinding(key.WithKeys("pgdown", "n"), key.WithHelp("n/pgdn", "next page")),
		PrevPage: key.NewBinding(key.WithKeys("pgup", "p"), key.WithHelp("p/pgup", "prev page")),
		Open:     key.NewBinding(key.WithKeys("enter"), key.WithHelp("enter", "open user")),
		Back:     key.NewBinding(key.WithKeys("esc"), key.WithHelp("esc", "back")),
		Filter:   key.NewBinding(key.WithKeys("/"), key.WithHelp("/", "filter")),

		KeepFilter:  key.NewBinding(key.WithKeys("enter", "down", "tab"), key.WithHelp("enter", "keep filter")),
		ClearFilter: key.NewBinding(key.WithKeys("esc"), key.WithHelp("esc", "clear filter")),

		Retry:  key.NewBinding(key.WithKeys("r"), key.WithHelp("r", "retry now")),
		Assign: key.NewBinding(key.WithKeys("a"), key.WithHelp("a", "assign type")),
		Link:   key.NewBinding(key.WithKeys("l"), key.WithHelp("l", "link to user")),

		Grant:  key.NewBinding(key.WithKeys("g"), key.WithHelp("g", "grant")),
		Revoke: key.NewBinding(key.WithKeys("r"), key.WithHelp("r", "revoke")),
		Reload: key.NewBinding(key.WithKeys("ctrl+r"), key.WithHelp("ctrl+r", "reload")),

		NewKey: key.NewBinding(key.WithKeys("c"), key.WithHelp("c", "new key")),

		Resend:    key.NewBinding(key.WithKeys("r"), key.WithHelp("r", "resend")),
		ResendAll: key.NewBinding(key.WithKeys("R"), key.WithHelp("R", "resend failed")),
		Enable:    key.NewBinding(key.WithKeys("e"), key.WithHelp("e", "re-enable endpoint")),

		Submit:    key.NewBinding(key.WithKeys("enter"), key.WithHelp("enter", "continue")),
		Cancel:    key.NewBinding(key.WithKeys("esc"), key.WithHelp("esc", "cancel")),
		NextField: key.NewBinding(key.WithKeys("tab", "down"), key.WithHelp("tab", "next field")),
		PrevField: key.NewBinding(key.WithKeys("shift+tab", "up"), key.WithHelp("shift+tab", "prev field")),
		Yes:       key.NewBinding(key.WithKeys("y", "Y"), key.WithHelp("y", "confirm")),
		No:        key.NewBinding(key.WithKeys("n", "N"), key.WithHelp("n", "edit")),
		Force:     key.NewBinding(key.WithKeys("f", "F"), key.WithHelp("f", "force")),

		NewLink:    key.NewBinding(key.WithKeys("enter"), key.WithHelp("enter", "new link")),
		Toggle:     key.NewBinding(key.WithKeys(" ", "x"), key.WithHelp("space", "toggle")),
		Choose:     key.NewBinding(key.WithKeys("left", "right"), key.WithHelp("←/→", "choose")),
		ChoosePrev: key.NewBinding(key.WithKeys("left"), key.WithHelp("←", "previous choice")),
		ChooseNext: key.NewBinding(key.WithKeys("right"), key.WithHelp("→", "next choice")),
		Capture:    key.NewBinding(key.WithKeys("c"), key.WithHelp("c", "capture")),
		CancelAuth: key.NewBinding(key.WithKeys("x"), key.WithHelp("x", "cancel payment")),
		Sync:       key.NewBinding(key.WithKeys("s"), key.WithHelp("s", "sync from Stripe")),
		Resync:     key.NewBinding(key.WithKeys("s"), key.WithHelp("s", "resync missed events (72h)")),
		Reconcile:  key.NewBinding(key.WithKeys("c"), key.WithHelp("c", "reconcile with Stripe (30d)")),
	}
}

// keyOf is b's key as the help shows it, up to the first "/" ("n/pgdn" is
// "n"): what on-screen hints name, so that they follow the KeyMap.
func keyOf(b key.Binding) string {
	k := b.Help().Key
	if before, _, ok := strings.Cut(k, "/"); ok && before != "" {
		return before
	}
	return k
}

// hint is "KEY what" for b: "c new key".
func hint(b key.Binding, what string) string { return keyOf(b) + " " + what }

// hints joins hints as a pane's bottom line does: "c new key · r revoke".
func hints(hs ...string) string { return strings.Join(hs, " · ") }
