package tui

import (
	"errors"
	"strings"

	"github.com/charmbracelet/bubbles/cursor"
	"github.com/charmbracelet/bubbles/key"
	"github.com/charmbracelet/bubbles/textinput"
	tea "github.com/charmbracelet/bubbletea"
)

// newInput is a text input as the console's forms and prompts use it: a
// cursor that does not blink (nothing redraws the screen to blink it), the
// placeholder muted, at most limit characters.
func newInput(st *Styles, prompt, placeholder string, limit int) textinput.Model {
	ti := textinput.New()
	ti.Prompt = prompt
	ti.Placeholder = placeholder
	ti.CharLimit = limit
	ti.Cursor.SetMode(cursor.CursorStatic)
	ti.PlaceholderStyle = st.Muted
	return ti
}

// promptKey is a key for a one-line prompt that holds the keyboard: Cancel
// closes it; Submit closes it with its trimmed value, or keeps it open and
// reports empty when there is none; any other key edits it. closed is true
// once the prompt is closed (value is "" when it was cancelled).
func promptKey(in *textinput.Model, km *KeyMap, msg tea.KeyMsg, empty string) (value string, closed bool, cmd tea.Cmd) {
	switch {
	case key.Matches(msg, km.Cancel):
		in.Blur()
		return "", true, nil
	case key.Matches(msg, km.Submit):
		v := strings.TrimSpace(in.Value())
		if v == "" {
			return "", false, reportErr(errors.New(empty))
		}
		in.Blur()
		return v, true, nil
	}
	*in, cmd = in.Update(msg)
	return "", false, cmd
}
