package tui

import (
	"context"
	"fmt"
	"strings"

	"github.com/charmbracelet/bubbles/key"
	"github.com/charmbracelet/bubbles/textinput"
	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/lipgloss"

	"creditdesk/billing"
)

// Messages of the API keys pane.
type (
	apiKeysLoadedMsg struct {
		keys []billing.APIKey
		err  error
	}
	// apiKeyCreatedMsg carries a new key: the only time it exists outside
	// the app that will use it.
	apiKeyCreatedMsg struct {
		name, plain string
		err         error
	}
	apiKeyRevokedMsg struct {
		name string
		err  error
	}
)

func loadAPIKeysCmd(b Backend) tea.Cmd {
	return func() tea.Msg {
		ks, err := b.ListAPIKeys()
		return apiKeysLoadedMsg{ks, err}
	}
}

func createAPIKeyCmd(ctx context.Context, b Backend, name string) tea.Cmd {
	return func() tea.Msg {
		plain, err := b.CreateAPIKey(ctx, name)
		return apiKeyCreatedMsg{name, plain, err}
	}
}

func revokeAPIKeyCmd(ctx context.Context, b Backend, name string) tea.Cmd {
	return func() tea.Msg {
		return apiKeyRevokedMsg{name, b.RevokeAPIKey(ctx, name)}
	}
}

// apiKeysPane lists the bearer keys the founder's app uses, creates one
// (showing it once) and revokes one after a confirmation.
type apiKeysPane struct {
	*common
	ctx context.Context
	b   Backend

	rows []billing.APIKey
	list list

	naming     bool // the name input holds the keyboard
	name       textinput.Model
	confirming string // the key whose revocation waits for y
	// created is the new key, shown until dismissed; it is kept nowhere else.
	created, createdName string

	width, height int
}

func newAPIKeysPane(ctx context.Context, c *common, b Backend) *apiKeysPane {
	p := &apiKeysPane{
		common: c, ctx: ctx, b: b, name: newInput(c.st, "name: ", "backend, worker, staging…", 64),
		list: newList(c, "API keys", "no keys yet: press c to create one",
			column{Title: "NAME", Flex: 1, Min: 8},
			column{Title: "KEY", Width: 10},
			column{Title: "CREATED", Width: 10},
			column{Title: "STATUS", Width: 18},
		),
	}
	p.name.PromptStyle = c.st.Title
	return p
}

func (p *apiKeysPane) Title() string { return "API keys" }

func (p *apiKeysPane) Init() tea.Cmd { return loadAPIKeysCmd(p.b) }

// Capturing is true while the name input or the revoke confirmation is open.
func (p *apiKeysPane) Capturing() bool { return p.naming || p.confirming != "" }

func (p *apiKeysPane) SetSize(w, h int) {
	p.width, p.height = w, h
	p.name.Width = max(w-10, 1)
	p.resize()
}

// resize gives the list what the lines under it leave: the title and
// column header above, the bottom lines below.
func (p *apiKeysPane) resize() {
	p.list.setSize(p.width, p.height-2-len(p.bottom()))
}

func (p *apiKeysPane) Update(msg tea.Msg) (tea.Model, tea.Cmd) {
	switch msg := msg.(type) {
	case apiKeysLoadedMsg:
		return p, take(&p.list, &p.rows, msg.keys, msg.err)
	case apiKeyCreatedMsg:
		if msg.err != nil {
			return p, reportErr(fmt.Errorf("creating API key %s: %w", msg.name, msg.err))
		}
		p.created, p.createdName = msg.plain, msg.name
		p.resize()
		return p, tea.Batch(loadAPIKeysCmd(p.b), msgCmd(infoMsg("Created API key "+msg.name+": copy it now, it is shown only once")))
	case apiKeyRevokedMsg:
		if msg.err != nil {
			return p, reportErr(fmt.Errorf("revoking API key %s: %w", msg.name, msg.err))
		}
		return p, tea.Batch(loadAPIKeysCmd(p.b), msgCmd(infoMsg("Revoked API key "+msg.name+": requests with it now get 401")))
	case tea.KeyMsg:
		cmd := p.key(msg)
		p.resize()
		return p, cmd
	}
	if p.naming {
		var cmd tea.Cmd
		p.name, cmd = p.name.Update(msg)
		return p, cmd
	}
	return p, nil
}

func (p *apiKeysPane) key(msg tea.KeyMsg) tea.Cmd {
	switch {
	case p.naming:
		name, closed, cmd := promptKey(&p.name, p.km, msg, "a key needs a name")
		if closed {
			p.naming = false
			if name != "" {
				return createAPIKeyCmd(p.ctx, p.b, name)
			}
		}
		return cmd
	case p.confirming != "":
		name := p.confirming
		p.confirming = ""
		if key.Matches(msg, p.km.Yes) {
			return revokeAPIKeyCmd(p.ctx, p.b, name)
		}
		return nil
	case p.created != "" && (key.Matches(msg, p.km.Back) || key.Matches(msg, p.km.Submit)):
		p.created, p.createdName = "", ""
		return nil
	}
	if p.list.key(msg, false) {
		return nil
	}
	switch {
	case key.Matches(msg, p.km.Reload):
		return loadAPIKeysCmd(p.b)
	case key.Matches(msg, p.km.NewKey):
		p.created, p.createdName = "", ""
		p.naming = true
		p.name.SetValue("")
		return p.name.Focus()
	case key.Matches(msg, p.km.Revoke):
		if i, ok := p.list.selected(); ok && !p.rows[i].Revoked() {
			p.confirming = p.rows[i].Name
		}
	}
	return nil
}

func (p *apiKeysPane) View() string {
	var b strings.Builder
	b.WriteString(p.st.Title.Render(truncate("  API keys: your app sends one as Authorization: Bearer KEY", p.width)))
	now := p.now()
	p.list.view(&b, func(i int) (string, *lipgloss.Style) {
		k := p.rows[i]
		if k.Revoked() {
			return p.list.row(k.Name, k.Hint, formatTime(k.CreatedAt, now), "revoked "+formatTime(k.RevokedAt, now)), &p.st.Danger
		}
		return p.list.row(k.Name, k.Hint, formatTime(k.CreatedAt, now), "active"), &p.st.Success
	})
	for _, l := range p.bottom() {
		b.WriteByte('\n')
		b.WriteString(l)
	}
	return b.String()
}

// bottom is what sits under the list: the name input, the revoke
// question, the new key, or the keys to press.
func (p *apiKeysPane) bottom() []string {
	switch {
	case p.naming:
		return []string{p.st.Label.Render(truncate("  New key (letters, digits, - _ .); enter creates, esc cancels", p.width)),
			"  " + p.name.View()}
	case p.confirming != "":
		return []string{p.st.Warning.Render(truncate("  Revoke "+p.confirming+"? Apps using it get 401 at once. y revokes, any other key keeps it", p.width))}
	case p.created != "":
		out := []string{p.st.Warning.Render(truncate("  New key "+p.createdName+". Copy it now: it is shown only this once.", p.width))}
		// The key is never truncated: on a narrow screen it wraps.
		w := max(p.width-4, 8)
		for s := p.created; s != ""; {
			n := min(w, len(s))
			out = append(out, "  "+p.st.Money.Render(s[:n]))
			s = s[n:]
		}
		return append(out, p.st.Muted.Render(truncate("  "+keyOf(p.km.Submit)+" or "+keyOf(p.km.Back)+" hides it", p.width)))
	}
	return []string{p.st.Muted.Render(truncate("  "+hints(hint(p.km.NewKey, "new key"), hint(p.km.Revoke, "revoke"), hint(p.km.Reload, "reload")), p.width))}
}

func (p *apiKeysPane) ShortHelp() []key.Binding {
	if p.naming {
		return []key.Binding{p.km.Submit, p.km.Cancel}
	}
	return []key.Binding{p.km.Up, p.km.Down, p.km.NewKey, p.km.Revoke}
}

func (p *apiKeysPane) FullHelp() [][]key.Binding {
	return [][]key.Binding{p.list.listHelp(), {p.km.NewKey, p.km.Revoke, p.km.Reload}}
}
