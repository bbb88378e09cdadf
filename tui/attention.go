package tui

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/charmbracelet/bubbles/key"
	"github.com/charmbracelet/bubbles/textinput"
	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/lipgloss"

	"creditdesk/billing"
)

// attentionPane lists what needs the operator, each with its fix: retry a
// waiting or failed event, assign a type to an unresolved purchase, link an
// unlinked purchase to a user. Past-due plans and disputes are fixed in the
// Stripe Dashboard; the pane says so.
type attentionPane struct {
	*common
	ctx context.Context
	b   Backend

	rows []billing.AttentionItem
	list list
	refresh
	// ticks counts refresh ticks: what is wrong with the process (a backup,
	// the disk) can clear with no activity, so the list reloads every
	// attentionEvery ticks anyway.
	ticks int

	// prompt asks for the assign type or the user to link to.
	prompt     textinput.Model
	promptFor  string // "assign" or "link"; "" when closed
	promptItem billing.AttentionItem
}

type (
	attentionLoadedMsg struct {
		gen  int
		rows []billing.AttentionItem
		err  error
	}
	attentionDoneMsg struct {
		info string
		err  error
	}
)

// attentionTimeout bounds one operator action.
const attentionTimeout = 10 * time.Second

func newAttentionPane(ctx context.Context, c *common, b Backend) *attentionPane {
	p := &attentionPane{
		common: c, ctx: ctx, b: b, prompt: newInput(c.st, "> ", "", 120),
		list: newList(c, "attention items", "nothing needs you: every event is applied and every purchase resolved",
			column{Title: "SINCE", Width: 10},
			column{Title: "KIND", Width: 10},
			column{Title: "ID", Width: 16},
			column{Title: "USER", Width: 12},
			column{Title: "WHAT", Flex: 1, Min: 10},
			column{Title: "FIX", Width: 12},
		),
	}
	p.list.emptyStyle = &c.st.Success
	return p
}

func (p *attentionPane) Title() string { return "Attention" }

func (p *attentionPane) Init() tea.Cmd { return p.load() }

func (p *attentionPane) SetSize(w, h int) {
	// A title above the list, a line about the cursor's item below.
	p.list.setSize(w, h-3)
	p.prompt.Width = max(w-30, 10)
}

// Capturing holds the keyboard while the prompt is open.
func (p *attentionPane) Capturing() bool { return p.promptFor != "" }

func (p *attentionPane) load() tea.Cmd {
	b, gen := p.b, p.begin()
	return func() tea.Msg {
		rows, err := b.Attention()
		return attentionLoadedMsg{gen, rows, err}
	}
}

// act runs one operator action with a timeout and reports the outcome.
func (p *attentionPane) act(info string, fn func(ctx context.Context) error) tea.Cmd {
	parent := p.ctx
	return func() tea.Msg {
		ctx, cancel := context.WithTimeout(parent, attentionTimeout)
		defer cancel()
		if err := fn(ctx); err != nil {
			return attentionDoneMsg{err: err}
		}
		return attentionDoneMsg{info: info}
	}
}

// attentionEvery is how many ticks (statsEvery each) pass between reloads
// of the Attention list when nothing arrives on the feed.
const attentionEvery = 5

// fixLabel is the FIX column: the key that fixes the item, or where.
func (p *attentionPane) fixLabel(it billing.AttentionItem) string {
	switch it.Action {
	case "retry":
		return hint(p.km.Retry, "retry")
	case "assign":
		return hint(p.km.Assign, "assign")
	case "link":
		return hint(p.km.Link, "link")
	}
	switch it.Kind {
	case billing.AttnBackup:
		return "backup dir"
	case billing.AttnStore:
		return "the disk"
	}
	return "in Stripe"
}

func (p *attentionPane) Update(msg tea.Msg) (tea.Model, tea.Cmd) {
	switch msg := msg.(type) {
	case attentionLoadedMsg:
		if !p.fresh(msg.gen) {
			return p, nil
		}
		return p, take(&p.list, &p.rows, msg.rows, msg.err)
	case attentionDoneMsg:
		if msg.err != nil {
			return p, tea.Batch(reportErr(msg.err), p.load())
		}
		return p, tea.Batch(msgCmd(infoMsg(msg.info)), p.load())
	case activityMsg:
		p.stale = true
	case tickMsg:
		p.ticks++
		if (p.stale || p.ticks%attentionEvery == 0) && !p.loading {
			return p, p.load()
		}
	case tea.KeyMsg:
		if p.promptFor != "" {
			return p, p.promptKey(msg)
		}
		return p, p.listKey(msg)
	}
	if p.promptFor != "" {
		var cmd tea.Cmd
		p.prompt, cmd = p.prompt.Update(msg)
		return p, cmd
	}
	return p, nil
}

func (p *attentionPane) listKey(msg tea.KeyMsg) tea.Cmd {
	if p.list.key(msg, false) {
		return nil
	}
	if key.Matches(msg, p.km.Reload) {
		return p.load()
	}
	i, ok := p.list.selected()
	if !ok {
		return nil
	}
	it := p.rows[i]
	switch {
	case key.Matches(msg, p.km.Retry) && it.Action == "retry":
		b := p.b
		return p.act("Queued "+it.ID+" again", func(ctx context.Context) error { return b.Retry(ctx, it.ID) })
	case key.Matches(msg, p.km.Assign) && it.Action == "assign":
		hint := "type: " + strings.Join(p.b.PurchaseTypes(), ", ")
		if len(p.b.PurchaseTypes()) == 0 {
			hint = "the catalog is empty: add plans and packs to creditdesk.toml"
		}
		return p.openPrompt("assign", it, hint)
	case key.Matches(msg, p.km.Link) && it.Action == "link":
		return p.openPrompt("link", it, "user id")
	case key.Matches(msg, p.km.Open) && it.User != "":
		return msgCmd(openUserMsg{it.User})
	case key.Matches(msg, p.km.Retry), key.Matches(msg, p.km.Assign), key.Matches(msg, p.km.Link):
		// A fix this row does not take: say where its fix is instead of
		// doing nothing.
		return msgCmd(infoMsg(fmt.Sprintf("%s %s: the fix is %s", it.Kind, it.ID, p.fixWhere(it))))
	}
	return nil
}

// fixWhere says where the fix of an item is, for a key it does not take.
func (p *attentionPane) fixWhere(it billing.AttentionItem) string {
	switch {
	case it.Action != "":
		return p.fixLabel(it)
	case it.Kind == billing.AttnBackup:
		return "in the backup directory (serve's log says why)"
	case it.Kind == billing.AttnStore:
		return "on the disk: free space, or restore the last backup"
	case it.Kind == billing.AttnAppWebhook:
		return "in your app, then the Deliveries tab: e re-enables the endpoint, R resends what failed"
	}
	return "in the Stripe Dashboard"
}

func (p *attentionPane) openPrompt(kind string, it billing.AttentionItem, placeholder string) tea.Cmd {
	p.promptFor, p.promptItem = kind, it
	p.prompt.SetValue("")
	p.prompt.Placeholder = placeholder
	return p.prompt.Focus()
}

func (p *attentionPane) promptKey(msg tea.KeyMsg) tea.Cmd {
	v, closed, cmd := promptKey(&p.prompt, p.km, msg, "type a value, or esc to cancel")
	if !closed {
		return cmd
	}
	kind, it, b := p.promptFor, p.promptItem, p.b
	p.promptFor = ""
	switch {
	case v == "":
		return nil
	case kind == "assign":
		return p.act(fmt.Sprintf("Assigned %s to %s; applying it now", v, it.ID),
			func(ctx context.Context) error { return b.AssignType(ctx, it.ID, v) })
	}
	return p.act(fmt.Sprintf("Linked %s to %s", it.ID, v),
		func(ctx context.Context) error { return b.LinkUser(ctx, it.ID, v) })
}

func (p *attentionPane) View() string {
	var b strings.Builder
	title := "  Needs attention"
	if p.list.loaded {
		title = fmt.Sprintf("  Needs attention: %d", len(p.rows))
	}
	b.WriteString(p.st.Title.Render(truncate(title, p.list.width)))
	now := p.now()
	p.list.view(&b, func(i int) (string, *lipgloss.Style) {
		it := p.rows[i]
		return p.list.row(formatTime(it.At, now), string(it.Kind), it.ID, it.User, it.Detail, p.fixLabel(it)), nil
	})
	b.WriteByte('\n')
	if p.promptFor != "" {
		id := truncate(p.promptItem.ID, 24)
		label := "  assign " + id + " as "
		if p.promptFor == "link" {
			label = "  link " + id + " to "
		}
		b.WriteString(truncate(label+p.prompt.View(), p.list.width))
	} else if i, ok := p.list.selected(); ok {
		b.WriteString(p.st.Muted.Render(truncate("  "+p.rows[i].Detail, p.list.width)))
	}
	return b.String()
}

func (p *attentionPane) ShortHelp() []key.Binding {
	if p.promptFor != "" {
		return []key.Binding{p.km.Submit, p.km.Cancel}
	}
	return []key.Binding{p.km.Up, p.km.Down, p.km.Retry, p.km.Assign, p.km.Link}
}

func (p *attentionPane) FullHelp() [][]key.Binding {
	return [][]key.Binding{append(p.list.listHelp(), p.km.Open, p.km.Reload), {p.km.Retry, p.km.Assign, p.km.Link}}
}
