package tui

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/charmbracelet/bubbles/key"
	"github.com/charmbracelet/bubbles/textinput"
	tea "github.com/charmbracelet/bubbletea"

	"creditdesk/billing"
)

// Fields of the checkout form, in tab order.
const (
	fieldUser = iota
	fieldType
	fieldPromo
	fieldTax
	fieldManual
	fieldSuccess
	fieldCancel
	checkoutFields
)

// Steps of the checkout form.
const (
	coEdit        = iota
	coConfirm     // "Create a checkout link for …? y/n"
	coConfirmLive // live mode: asked a second time
)

// checkoutPane creates Checkout links (and customer portal links): pick a
// user, a plan or pack from the catalog and the options, confirm, and the
// link is shown, copied to the clipboard with OSC 52 and noted in Live.
// While the form is open it holds the keyboard; esc lets go.
type checkoutPane struct {
	*common
	ctx  context.Context
	op   Operator
	clip clipboard

	editing bool
	step    int
	focus   int
	user    textinput.Model
	success textinput.Model
	cancel  textinput.Model
	choices []CheckoutChoice
	choice  int // len(choices) is the customer portal
	promo   bool
	tax     bool
	manual  bool

	// submission is the request being confirmed with its key: a retry
	// after a failure reuses it.
	submission
	invalid string
	last    *checkoutDoneMsg

	width, height int
}

func newCheckoutPane(ctx context.Context, c *common, op Operator, clip clipboard) *checkoutPane {
	p := &checkoutPane{common: c, ctx: ctx, op: op, clip: clip,
		user:    newInput(c.st, "", "user id, as your app knows it", 200),
		success: newInput(c.st, "", "default from CREDITDESK_SUCCESS_URL", 2000),
		cancel:  newInput(c.st, "", "default from CREDITDESK_CANCEL_URL", 2000),
	}
	if op != nil {
		p.choices = op.Choices()
	}
	return p
}

func (p *checkoutPane) Title() string { return "Checkout" }

func (p *checkoutPane) Init() tea.Cmd { return nil }

// Capturing is true while the form is open.
func (p *checkoutPane) Capturing() bool { return p.editing }

func (p *checkoutPane) SetSize(w, h int) {
	p.width, p.height = w, h
	iw := max(min(w-22, 80), 10)
	p.user.Width, p.success.Width, p.cancel.Width = iw, iw, iw
}

// portal reports whether the customer portal is chosen instead of a plan
// or pack.
func (p *checkoutPane) portal() bool { return p.choice == len(p.choices) }

func (p *checkoutPane) isPack() bool {
	return !p.portal() && p.choice < len(p.choices) && p.choices[p.choice].Kind == "pack"
}

func (p *checkoutPane) Update(msg tea.Msg) (tea.Model, tea.Cmd) {
	switch msg := msg.(type) {
	case checkoutDoneMsg:
		if !p.answer(msg.key, msg.err) || msg.err != nil {
			return p, nil
		}
		p.last = &msg
		p.editing, p.step = false, coEdit
		p.renew() // the next link is a new request
		what := "Checkout link"
		if msg.portal {
			what = "Portal link"
		}
		note := " (copy it from the screen)"
		if msg.copied {
			note = " copied to the clipboard"
		}
		return p, msgCmd(infoMsg(fmt.Sprintf("%s for %s%s", what, msg.req.UserID, note)))
	case tea.KeyMsg:
		if p.op == nil {
			return p, nil
		}
		if !p.editing {
			if key.Matches(msg, p.km.NewLink) {
				p.editing, p.step, p.invalid, p.err = true, coEdit, "", nil
				p.setFocus(fieldUser)
			}
			return p, nil
		}
		if p.step != coEdit {
			return p, p.confirmKey(msg)
		}
		return p, p.editKey(msg)
	}
	return p, nil
}

func (p *checkoutPane) editKey(msg tea.KeyMsg) tea.Cmd {
	switch {
	case key.Matches(msg, p.km.Cancel):
		p.editing = false
		p.user.Blur()
		p.success.Blur()
		p.cancel.Blur()
		return nil
	case key.Matches(msg, p.km.Submit):
		if err := p.validate(); err != nil {
			p.invalid = err.Error()
			return nil
		}
		p.invalid = ""
		req := p.request()
		p.prepare(fmt.Sprintf("%+v", req))
		p.step = coConfirm
		return nil
	case key.Matches(msg, p.km.NextField):
		p.setFocus((p.focus + 1) % checkoutFields)
		return nil
	case key.Matches(msg, p.km.PrevField):
		p.setFocus((p.focus - 1 + checkoutFields) % checkoutFields)
		return nil
	}
	switch p.focus {
	case fieldType:
		if n := len(p.choices) + 1; key.Matches(msg, p.km.ChoosePrev, p.km.ChooseNext) {
			if key.Matches(msg, p.km.ChoosePrev) {
				p.choice = (p.choice - 1 + n) % n
			} else {
				p.choice = (p.choice + 1) % n
			}
			if !p.isPack() {
				p.manual = false
			}
			p.invalid = ""
		}
		return nil
	case fieldPromo, fieldTax, fieldManual:
		if key.Matches(msg, p.km.Toggle) {
			switch p.focus {
			case fieldPromo:
				p.promo = !p.promo
			case fieldTax:
				p.tax = !p.tax
			case fieldManual:
				if !p.isPack() {
					p.invalid = "manual capture is for one-time payments (packs)"
					return nil
				}
				p.manual = !p.manual
			}
			p.invalid = ""
		}
		return nil
	}
	var cmd tea.Cmd
	switch p.focus {
	case fieldUser:
		p.user, cmd = p.user.Update(msg)
	case fieldSuccess:
		p.success, cmd = p.success.Update(msg)
	case fieldCancel:
		p.cancel, cmd = p.cancel.Update(msg)
	}
	p.invalid = ""
	return cmd
}

func (p *checkoutPane) confirmKey(msg tea.KeyMsg) tea.Cmd {
	switch {
	case key.Matches(msg, p.km.Yes):
		if p.pending {
			return nil
		}
		if p.op.Live() && p.step == coConfirm {
			p.step = coConfirmLive
			return nil
		}
		p.start()
		req := p.request()
		req.IdempotencyKey = p.key
		return checkoutCmd(p.ctx, p.op, p.clip, req, p.portal())
	case key.Matches(msg, p.km.No), key.Matches(msg, p.km.Cancel):
		if !p.pending {
			p.step = coEdit
		}
	}
	return nil
}

func (p *checkoutPane) setFocus(i int) {
	p.focus = i
	p.user.Blur()
	p.success.Blur()
	p.cancel.Blur()
	switch i {
	case fieldUser:
		p.user.Focus()
	case fieldSuccess:
		p.success.Focus()
	case fieldCancel:
		p.cancel.Focus()
	}
}

func (p *checkoutPane) validate() error {
	u := strings.TrimSpace(p.user.Value())
	switch {
	case u == "":
		p.setFocus(fieldUser)
		return errors.New("enter the user id the link is for")
	case strings.ContainsAny(u, " \t"):
		p.setFocus(fieldUser)
		return fmt.Errorf("%q: a user id has no spaces", u)
	case len(p.choices) == 0 && !p.portal():
		return errors.New("the catalog has no plans or packs: add them to creditdesk.toml")
	case p.manual && !p.isPack():
		return errors.New("manual capture is for one-time payments (packs)")
	}
	for _, f := range []textinput.Model{p.success, p.cancel} {
		if v := strings.TrimSpace(f.Value()); v != "" && !strings.HasPrefix(v, "https://") && !strings.HasPrefix(v, "http://") {
			return fmt.Errorf("%q is not a URL", v)
		}
	}
	return nil
}

func (p *checkoutPane) request() billing.CheckoutRequest {
	req := billing.CheckoutRequest{UserID: strings.TrimSpace(p.user.Value())}
	if p.portal() {
		return req
	}
	req.Type = p.choices[p.choice].Type
	req.AllowPromotionCodes, req.AutomaticTax, req.ManualCapture = p.promo, p.tax, p.manual && p.isPack()
	req.SuccessURL, req.CancelURL = strings.TrimSpace(p.success.Value()), strings.TrimSpace(p.cancel.Value())
	return req
}

func (p *checkoutPane) choiceLabel(i int) string {
	if i == len(p.choices) {
		return "customer portal (manage plan and payment methods)"
	}
	c := p.choices[i]
	per := ""
	if c.Kind == "plan" {
		per = " a month"
	}
	s := fmt.Sprintf("%s · %s · %s credits%s", c.Type, c.Kind, formatCredits(c.Credits), per)
	if c.Price != "" {
		s += " · " + c.Price
	}
	return s
}

func (p *checkoutPane) View() string {
	w := max(p.width-2, 10)
	if p.op == nil {
		return p.noOperatorView(w, "Checkout and portal links")
	}
	var b strings.Builder
	line := lineWriter(&b, w)
	mode := "test mode"
	if p.op.Live() {
		mode = "LIVE mode: links charge real money"
	}
	title := p.st.Title
	line(title, "  Checkout and portal links · "+mode)
	if !p.editing {
		if r := p.last; r != nil {
			line(p.st.Plain, "")
			what := "Checkout link"
			if r.portal {
				what = "Portal link"
			}
			line(p.st.Success, fmt.Sprintf("  %s for %s", what, r.req.UserID))
			b.WriteString("\n  " + p.st.URL.Render(r.link.URL)) // never cut: it is copied from here
			if r.link.SessionID != "" {
				exp := ""
				if !r.link.ExpiresAt.IsZero() {
					exp = " · expires " + formatTime(r.link.ExpiresAt, p.now())
				}
				line(p.st.Muted, fmt.Sprintf("  session %s · %s%s · follow it in Live", r.link.SessionID, r.req.Type, exp))
			}
			if r.copied {
				line(p.st.Muted, "  copied to the clipboard (OSC 52)")
			}
		}
		line(p.st.Plain, "")
		line(p.st.Muted, "  "+keyOf(p.km.NewLink)+": new checkout or portal link")
		return b.String()
	}
	line(p.st.Plain, "")
	field := func(i int, label, value string) {
		marker := "  "
		if p.focus == i && p.step == coEdit {
			marker = "› "
		}
		b.WriteString("\n" + marker + p.st.Label.Render(fmt.Sprintf("%-16s", label)) + value)
	}
	box := func(on bool) string {
		if on {
			return "[x]"
		}
		return "[ ]"
	}
	field(fieldUser, "user", p.user.View())
	field(fieldType, "sell", "‹ "+truncate(p.choiceLabel(p.choice), max(w-24, 8))+" ›")
	if !p.portal() {
		field(fieldPromo, "promotion codes", box(p.promo))
		field(fieldTax, "automatic tax", box(p.tax))
		manual := box(p.manual)
		if !p.isPack() {
			manual = p.st.Muted.Render("n/a for plans")
		} else if p.manual {
			manual += p.st.Muted.Render(" authorize now; credits when captured (Captures tab)")
		}
		field(fieldManual, "manual capture", manual)
		field(fieldSuccess, "success URL", p.success.View())
		field(fieldCancel, "cancel URL", p.cancel.View())
	}
	line(p.st.Plain, "")
	switch p.step {
	case coEdit:
		if p.invalid != "" {
			line(p.st.Danger, "  "+p.invalid)
		} else {
			line(p.st.Muted, "  "+hints(hint(p.km.Submit, "create"), hint(p.km.NextField, "next field"), p.km.Choose.Help().Key+" choose",
				hint(p.km.Toggle, "toggle"), hint(p.km.Cancel, "close")))
		}
	case coConfirm, coConfirmLive:
		q := fmt.Sprintf("  Create a checkout link for %s: %s? y/n", p.request().UserID, p.choiceLabel(p.choice))
		if p.portal() {
			q = fmt.Sprintf("  Create a customer portal link for %s? y/n", p.request().UserID)
		}
		line(p.st.Title, q)
		if p.step == coConfirmLive {
			line(p.st.Danger, "  LIVE MODE: this link takes real money. Press y again to create it, n to go back.")
		}
		p.sendLines(line, p.pending, p.err, "creating…", "retry (same request, one link at most)", "edit")
	}
	return b.String()
}

func (p *checkoutPane) ShortHelp() []key.Binding {
	switch {
	case p.op == nil:
		return nil
	case !p.editing:
		return []key.Binding{p.km.NewLink}
	case p.step != coEdit:
		return []key.Binding{p.km.Yes, p.km.No}
	}
	return []key.Binding{p.km.Submit, p.km.NextField, p.km.Choose, p.km.Toggle, p.km.Cancel}
}

func (p *checkoutPane) FullHelp() [][]key.Binding { return [][]key.Binding{p.ShortHelp()} }
