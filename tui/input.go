package tui

import (
	"github.com/charmbracelet/bubbles/cursor"
	"github.com/charmbracelet/bubbles/textinput"
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
