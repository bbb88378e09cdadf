package tui

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/charmbracelet/bubbles/key"
	"github.com/charmbracelet/bubbles/textinput"
	tea "github.com/charmbracelet/bubbletea"

	"creditdesk/billing"
)

// adjustStep is where the grant/revoke form is.
type adjustStep int

const (
	stepEdit    adjustStep = iota // typing amount and reason
	stepConfirm                   // "Grant 500 credits to u_42? y/n"
)

// adjustForm is the modal form for a manual grant or revoke. While open it
// receives every key. Its idempotency key (submission) is made for the
// first amount and reason confirmed and kept for every submission of the
// same ones, so a retried submission (after a timeout, a double y) is a
// no-op in the ledger; a new form has a new key.
type adjustForm struct {
	ctx context.Context
	b   Backend
	st  *Styles
	km  *KeyMap

	user    string
	grant   bool
	balance int64

	amount textinput.Model
	reason textinput.Model
	focus  int // 0 amount, 1 reason
	step   adjustStep

	// delta and why are what the confirmation step submits.
	delta int64
	why   string

	submission
	invalid  string // why the form was not accepted
	canForce bool   // the last Adjust was a revoke refused for the balance
	overdraw bool   // the revoke asked for takes the balance below zero

	width int
}

func newAdjustForm(ctx context.Context, b Backend, st *Styles, km *KeyMap, m openAdjustMsg) *adjustForm {
	f := &adjustForm{
		ctx: ctx, b: b, st: st, km: km,
		user: m.user, grant: m.grant, balance: m.balance,
		amount: newInput(st, "", "e.g. 500", 20),
		reason: newInput(st, "", "required: why, for the ledger", 200),
	}
	f.amount.Focus()
	return f
}

func (f *adjustForm) verb() string {
	if f.grant {
		return "Grant"
	}
	return "Revoke"
}

// SetSize sets the width the form may use.
func (f *adjustForm) SetSize(w, _ int) {
	f.width = w
	inner := max(min(w-8, 60)-10, 8)
	f.amount.Width = inner
	f.reason.Width = inner
}

// Capturing is always true: a form holds the keyboard.
func (f *adjustForm) Capturing() bool { return true }

func (f *adjustForm) Init() tea.Cmd { return nil }

// closeFormMsg asks the root to close the form.
type closeFormMsg struct{}

func (f *adjustForm) Update(msg tea.Msg) (tea.Model, tea.Cmd) {
	switch msg := msg.(type) {
	case adjustDoneMsg:
		if !f.answer(msg.key, msg.err) {
			return f, nil
		}
		f.canForce = msg.err != nil && !f.grant && !msg.force && isInsufficient(msg.err)
		return f, nil
	case tea.KeyMsg:
		if f.step == stepConfirm {
			return f, f.confirmKey(msg)
		}
		return f, f.editKey(msg)
	}
	return f, nil
}

func (f *adjustForm) editKey(msg tea.KeyMsg) tea.Cmd {
	switch {
	case key.Matches(msg, f.km.Cancel):
		return msgCmd(closeFormMsg{})
	case key.Matches(msg, f.km.NextField), key.Matches(msg, f.km.PrevField):
		f.setFocus(1 - f.focus)
		return nil
	case key.Matches(msg, f.km.Submit):
		if f.focus == 0 && strings.TrimSpace(f.reason.Value()) == "" {
			// Check the amount, then ask for the reason.
			if _, err := f.validateAmount(); err != nil {
				f.invalid = err.Error()
				return nil
			}
			f.setFocus(1)
			return nil
		}
		delta, why, err := f.validate()
		if err != nil {
			f.invalid = err.Error()
			return nil
		}
		f.invalid = ""
		f.delta, f.why = delta, why
		if s := fmt.Sprintf("%d\x00%s", delta, why); s != f.sig {
			// A different request than the one the key was used for (the
			// operator edited after a failure) gets a key of its own.
			f.prepare(s)
			f.canForce = false
		}
		f.step = stepConfirm
		f.overdraw = !f.grant && f.balance+f.delta < 0
		return nil
	}
	var cmd tea.Cmd
	if f.focus == 0 {
		f.amount, cmd = f.amount.Update(msg)
	} else {
		f.reason, cmd = f.reason.Update(msg)
	}
	f.invalid = ""
	return cmd
}

func (f *adjustForm) confirmKey(msg tea.KeyMsg) tea.Cmd {
	switch {
	case key.Matches(msg, f.km.Yes):
		return f.submit(false)
	case key.Matches(msg, f.km.Force):
		if f.canForce || f.overdraw {
			return f.submit(true)
		}
	case key.Matches(msg, f.km.No), key.Matches(msg, f.km.Cancel):
		if !f.pending {
			f.step = stepEdit
		}
	}
	return nil
}

// submit sends the request once; while it is out, further presses do nothing.
func (f *adjustForm) submit(force bool) tea.Cmd {
	if !f.start() {
		return nil
	}
	return adjustCmd(f.ctx, f.b, f.user, f.delta, f.why, force, f.key)
}

func (f *adjustForm) setFocus(i int) {
	f.focus = i
	if i == 0 {
		f.reason.Blur()
		f.amount.Focus()
	} else {
		f.amount.Blur()
		f.reason.Focus()
	}
}

// validate reads the form: a whole positive number of credits (separators
// allowed) and a reason. It returns the signed delta.
func (f *adjustForm) validate() (int64, string, error) {
	n, err := f.validateAmount()
	if err != nil {
		return 0, "", err
	}
	why := strings.TrimSpace(f.reason.Value())
	if why == "" {
		return 0, "", errors.New("a reason is required; it goes in the ledger")
	}
	if !f.grant {
		n = -n
	}
	return n, why, nil
}

// validateAmount reads the amount field as a positive whole number.
func (f *adjustForm) validateAmount() (int64, error) {
	raw := strings.TrimSpace(f.amount.Value())
	clean := strings.NewReplacer(",", "", "_", "", " ", "").Replace(raw)
	if clean == "" {
		return 0, errors.New("enter an amount of credits")
	}
	n, err := strconv.ParseInt(clean, 10, 64)
	switch {
	case err != nil && errors.Is(err, strconv.ErrRange):
		return 0, fmt.Errorf("%q is too large", raw)
	case err != nil:
		return 0, fmt.Errorf("%q is not a whole number of credits", raw)
	case n == 0:
		return 0, errors.New("the amount must not be zero")
	case n < 0:
		return 0, fmt.Errorf("enter a positive amount; %s decides the direction", strings.ToLower(f.verb()))
	}
	return n, nil
}

// question is the confirmation line.
func (f *adjustForm) question() string {
	n := formatCredits(abs(f.delta))
	if f.grant {
		return fmt.Sprintf("Grant %s credits to %s? y/n", n, truncate(f.user, 24))
	}
	return fmt.Sprintf("Revoke %s credits from %s? y/n", n, truncate(f.user, 24))
}

func (f *adjustForm) View() string {
	w := max(min(f.width-4, 64), 20) // inside the border and padding
	var b strings.Builder
	line := lineWriter(&b, w)
	line(f.st.FormTitle, fmt.Sprintf("%s credits · %s", f.verb(), f.user))
	line(f.st.Muted, "balance now "+formatCredits(f.balance))
	line(f.st.Plain, "")
	edit := keyOf(f.km.No) + "/" + keyOf(f.km.Cancel) + " edit"
	switch f.step {
	case stepEdit:
		b.WriteString("\n" + f.st.Label.Render("amount  ") + f.amount.View())
		b.WriteString("\n" + f.st.Label.Render("reason  ") + f.reason.View())
		line(f.st.Plain, "")
		if f.invalid != "" {
			line(f.st.Danger, f.invalid)
		} else {
			line(f.st.Muted, hints(hint(f.km.Submit, "continue"), hint(f.km.NextField, "next field"), hint(f.km.Cancel, "cancel")))
		}
	case stepConfirm:
		line(f.st.Title, f.question())
		line(f.st.Muted, fmt.Sprintf("reason: %s", f.why))
		line(f.st.Muted, fmt.Sprintf("balance %s → %s", formatCredits(f.balance), formatCredits(f.balance+f.delta)))
		line(f.st.Plain, "")
		switch {
		case f.pending:
			line(f.st.Muted, "sending…")
		case f.canForce && f.err != nil:
			line(f.st.Danger, "refused: "+f.err.Error())
			line(f.st.Warning, hints(hint(f.km.Force, "force (balance goes negative)"), edit))
		case f.err != nil:
			line(f.st.Danger, "failed: "+f.err.Error())
			line(f.st.Muted, hints(hint(f.km.Yes, "retry (same request, applied at most once)"), hint(f.km.No, "edit")))
		case f.overdraw:
			line(f.st.Warning, "this takes the balance below zero: "+keyOf(f.km.Yes)+" is refused, "+keyOf(f.km.Force)+" forces it")
			line(f.st.Muted, hints(hint(f.km.Yes, "confirm"), hint(f.km.Force, "force"), edit))
		default:
			line(f.st.Muted, hints(hint(f.km.Yes, "confirm"), edit))
		}
	}
	return f.st.Form.Render(b.String())
}

func (f *adjustForm) ShortHelp() []key.Binding {
	if f.step == stepConfirm {
		if f.canForce || f.overdraw {
			return []key.Binding{f.km.Yes, f.km.Force, f.km.No, f.km.Cancel}
		}
		return []key.Binding{f.km.Yes, f.km.No}
	}
	return []key.Binding{f.km.Submit, f.km.NextField, f.km.Cancel}
}

func (f *adjustForm) FullHelp() [][]key.Binding {
	return [][]key.Binding{f.ShortHelp()}
}

// isInsufficient reports whether err is a debit refused because the balance
// is too small.
func isInsufficient(err error) bool {
	var ins *billing.ErrInsufficient
	return errors.As(err, &ins)
}

func abs(n int64) int64 {
	if n < 0 {
		return -n
	}
	return n
}
