package tui

import (
	"fmt"
	"strings"

	"github.com/charmbracelet/lipgloss"
)

const (
	productName = "creditdesk"
	demoBanner  = "DEMO — simulated Stripe events, no real money"
)

// headerView is two lines: the product, the demo banner, a store fault,
// who the console acts as, the attachment and the standing notice; then the
// webhook URL and the counters.
func (m *model) headerView() string {
	w := m.width
	line1 := m.st.Product.Render(truncate(productName, w))
	used := len(productName)
	// add puts one more item on the first line while it fits.
	add := func(style lipgloss.Style, text string) {
		if w <= used+4 {
			return
		}
		text = truncate(text, w-used-2)
		line1 += "  " + style.Render(text)
		used += 2 + lipgloss.Width(text)
	}
	if m.opt.Demo && w > used+3 {
		banner := truncate(" "+demoBanner+" ", w-used-2)
		line1 += "  " + m.st.Demo.Render(banner)
		used += 2 + lipgloss.Width(banner)
	}
	if f := m.stats.StoreFault; f != "" {
		add(m.st.Danger, "! writes fail, events wait: "+f)
	}
	if m.opt.Who != "" {
		add(m.st.Muted, "as "+m.opt.Who)
	}
	if at, ok := m.b.(Attached); ok {
		text, up := at.Attachment()
		style := m.st.Muted
		if !up {
			style = m.st.Warning
		}
		add(style, text)
	}
	if m.opt.Notice != "" {
		add(m.st.Warning, m.opt.Notice)
	}

	counters := truncate(m.countersText(), w)
	url := m.opt.WebhookURL
	if url == "" {
		url = "(no webhook url)"
	}
	room := w - lipgloss.Width(counters) - 2
	var line2 string
	if room >= 12 {
		u := truncate("webhook "+url, room)
		line2 = m.st.URL.Render(u) + strings.Repeat(" ", w-lipgloss.Width(u)-lipgloss.Width(counters)) + m.st.Counters.Render(counters)
	} else {
		line2 = m.st.Counters.Render(counters)
	}
	return line1 + "\n" + line2
}

// countersText is the receiver's and processor's counters, as of the last
// stats read.
func (m *model) countersText() string {
	s := m.stats
	var rejected uint64
	for _, n := range s.Rejected {
		rejected += n
	}
	return fmt.Sprintf("recv %s · dup %s · rej %s · failed %s · attention %s",
		formatCount(s.Received), formatCount(s.Duplicates), formatCount(rejected),
		formatCount(s.Failed), formatCount(s.Attention))
}
