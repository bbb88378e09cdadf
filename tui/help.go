package tui

import (
	"github.com/charmbracelet/bubbles/help"
	"github.com/charmbracelet/bubbles/key"
)

// helpKeys is what the help line describes: the form's keys while it is
// open, else the active pane's followed by the global ones.
type helpKeys struct {
	pane   help.KeyMap
	global []key.Binding
	more   []key.Binding
}

func (h helpKeys) ShortHelp() []key.Binding {
	return append(append([]key.Binding{}, h.pane.ShortHelp()...), h.global...)
}

func (h helpKeys) FullHelp() [][]key.Binding {
	return append(append([][]key.Binding{}, h.pane.FullHelp()...), h.more)
}

func (m *model) helpKeys() help.KeyMap {
	if m.form != nil {
		return m.form
	}
	pane := m.tabs[m.active]
	if capturing(pane) {
		return pane
	}
	return helpKeys{
		pane:   pane,
		global: []key.Binding{m.km.NextTab, m.km.Help, m.km.Quit},
		more:   []key.Binding{m.km.NextTab, m.km.PrevTab, m.km.GotoTab, m.km.Help, m.km.Quit},
	}
}
