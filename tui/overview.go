package tui

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/NimbleMarkets/ntcharts/barchart"
	"github.com/NimbleMarkets/ntcharts/sparkline"
	"github.com/charmbracelet/bubbles/key"
	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/lipgloss"

	"creditdesk/billing"
)

// overviewDays is how many days the Overview covers: today and the 29
// before, on the console's clock.
const overviewDays = 30

// overviewRecent is how many live events the Overview's foot shows at most.
const overviewRecent = 5

// overviewWide is the narrowest terminal that lays the Overview out in two
// columns.
const overviewWide = 110

// insightLoadedMsg is the result of Backend.Insight.
type insightLoadedMsg struct {
	gen int
	in  billing.Insight
	err error
}

// overviewPane is the first tab: how the business is doing. Its figures
// come from the store's per-day rollups (one small record a day), read
// again whenever the feed says something was applied, never on a timer.
type overviewPane struct {
	*common
	b Backend

	in     billing.Insight
	loaded bool
	err    error
	// stale: something applied while a read was on its way; read again.
	refresh

	recent []liveRow

	width, height int
}

func newOverviewPane(c *common, b Backend) *overviewPane { return &overviewPane{common: c, b: b} }

func (p *overviewPane) Title() string { return "Overview" }

func (p *overviewPane) Init() tea.Cmd { return p.load() }

func (p *overviewPane) SetSize(w, h int) { p.width, p.height = w, h }

// load reads the rollups of the last overviewDays days, unless a read is
// on its way (then it reads again when that one is back).
func (p *overviewPane) load() tea.Cmd {
	if p.loading {
		p.stale = true
		return nil
	}
	gen, b, now := p.begin(), p.b, p.now()
	return func() tea.Msg {
		in, err := b.Insight(now.AddDate(0, 0, -(overviewDays-1)), now)
		return insightLoadedMsg{gen: gen, in: in, err: err}
	}
}

func (p *overviewPane) Update(msg tea.Msg) (tea.Model, tea.Cmd) {
	switch msg := msg.(type) {
	case insightLoadedMsg:
		if !p.fresh(msg.gen) {
			return p, nil
		}
		if msg.err != nil {
			p.err = msg.err
		} else {
			p.in, p.loaded, p.err = msg.in, true, nil
			p.in.Summarize()
		}
		if p.due() {
			return p, p.load()
		}
	case eventsLoadedMsg:
		// The Live tab's first page: the newest few are the foot's.
		if msg.err == nil && len(p.recent) == 0 {
			for _, e := range msg.rows {
				if len(p.recent) == overviewRecent {
					break
				}
				p.recent = append(p.recent, eventRow(e))
			}
		}
	case activityMsg:
		p.addRecent(msg.a)
		if changesFigures(msg.a) {
			return p, p.load()
		}
	}
	return p, nil
}

// changesFigures reports whether an activity may have moved money,
// credits or plans: something applied (or a missed stretch of the feed).
func changesFigures(a billing.Activity) bool {
	if a.Missed > 0 {
		return true
	}
	switch a.Kind {
	case billing.ActivityEvent:
		return a.State == billing.StateApplied
	case billing.ActivityManual, billing.ActivityAPI, billing.ActivityExpiry:
		return true
	case billing.ActivitySystem:
		return a.Type == "reattached"
	}
	return false
}

// addRecent keeps the newest few events: a state change updates the row.
func (p *overviewPane) addRecent(a billing.Activity) {
	if a.Kind == billing.ActivityDuplicate || a.Kind == billing.ActivityRejected || a.Missed > 0 && a.Seq == 0 {
		return
	}
	if a.Kind == billing.ActivityEvent && a.Seq != 0 {
		for i := range p.recent {
			if p.recent[i].seq == a.Seq && p.recent[i].kind == billing.ActivityEvent {
				p.recent[i].state, p.recent[i].detail = string(a.State), a.Reason
				if a.User != "" {
					p.recent[i].user = a.User
				}
				if a.Amount != 0 {
					p.recent[i].amount = a.Amount
				}
				return
			}
		}
	}
	p.recent = append([]liveRow{activityRow(a)}, p.recent...)
	if len(p.recent) > overviewRecent {
		p.recent = p.recent[:overviewRecent]
	}
}

// ShortHelp and FullHelp: the Overview has no keys of its own; the root's
// (tabs, help, quit) are all it takes.
func (p *overviewPane) ShortHelp() []key.Binding { return nil }

func (p *overviewPane) FullHelp() [][]key.Binding { return nil }

// byGross lists d's currencies, the most gross first (ties by name).
func byGross(d billing.DayRollup) []string {
	curs := d.Currencies()
	sort.SliceStable(curs, func(i, j int) bool { return d.Revenue[curs[i]].Gross > d.Revenue[curs[j]].Gross })
	return curs
}

// mainCurrency is the currency the chart shows: the one with the most
// gross in the period.
func mainCurrency(in billing.Insight) string {
	if curs := byGross(in.Total); len(curs) > 0 {
		return curs[0]
	}
	return ""
}

func (p *overviewPane) View() string {
	w, h := max(p.width, 20), max(p.height, 1)
	if !p.loaded {
		msg := "reading the figures…"
		if p.err != nil {
			msg = "figures unavailable: " + p.err.Error()
		}
		return p.st.Muted.Render(truncate(msg, w))
	}
	recent := p.recentView(w, min(overviewRecent, max(0, (h-12)/2))+1)
	recentH := lipgloss.Height(recent)
	if recent == "" {
		recentH = 0
	}
	room := h - recentH
	var top string
	if w >= overviewWide {
		left := max(w*11/20, 60)
		right := w - left - 2
		rightView := strings.Join([]string{p.creditsView(right, true), p.plansView(right), p.topView(right, 5)}, "\n\n")
		revenue := p.revenueView(left)
		chartH := room - lipgloss.Height(revenue) - 1
		leftView := revenue
		if c := p.chartView(left, chartH); c != "" {
			leftView += "\n\n" + c
		}
		top = lipgloss.JoinHorizontal(lipgloss.Top, fitBlock(leftView, left, room, p.st.Fit), "  ", fitBlock(rightView, right, room, p.st.Fit))
	} else {
		parts := []string{p.revenueView(w), p.creditsView(w, false), p.plansView(w), p.topView(w, 3)}
		top = strings.Join(parts, "\n")
		if c := p.chartView(w, room-lipgloss.Height(top)-1); c != "" {
			top = strings.Join([]string{parts[0], c, parts[1], parts[2], parts[3]}, "\n")
		}
	}
	if recentH == 0 {
		return fitBlock(top, w, h, p.st.Fit)
	}
	return fitBlock(top, w, room, p.st.Fit) + "\n" + recent
}

// revenueView is revenue today, in 7 and in 30 days per currency: net,
// then refunds and lost disputes apart.
func (p *overviewPane) revenueView(w int) string {
	var b strings.Builder
	write := lineWriter(&b, w)
	curs := byGross(p.in.Total)
	if len(curs) == 0 {
		write(p.st.Title, "Revenue")
		write(p.st.Muted, "nothing paid in the last 30 days")
		return b.String()
	}
	windows := []billing.DayRollup{p.in.Window(1), p.in.Window(7), p.in.Window(overviewDays)}
	cols := []column{{Title: "NET REVENUE", Width: 16}, {Title: "TODAY", Flex: 1, Min: 10, Right: true},
		{Title: "7 DAYS", Flex: 1, Min: 10, Right: true}, {Title: "30 DAYS", Flex: 1, Min: 10, Right: true}}
	widths := layoutColumns(w, cols)
	write(p.st.Header, tableHeader(cols, widths))
	for _, cur := range curs {
		cells := []string{strings.ToUpper(cur)}
		for _, d := range windows {
			cells = append(cells, billing.FormatAmount(d.Revenue[cur].Net(), cur))
		}
		write(p.st.Money, tableRow(cols, widths, cells...))
		back := []string{"  refund/dispute"}
		any := false
		for _, d := range windows {
			m := d.Revenue[cur]
			any = any || m.Refunded != 0 || m.Disputed != 0
			back = append(back, shortAmount(m.Refunded, cur)+"/"+shortAmount(m.Disputed, cur))
		}
		if any {
			write(p.st.Muted, tableRow(cols, widths, back...))
		}
	}
	return b.String()
}

// shortAmount is an amount without its currency code ("12.50", "1,500").
func shortAmount(minor int64, cur string) string {
	s := billing.FormatAmount(minor, cur)
	return strings.TrimSuffix(s, " "+strings.ToUpper(cur))
}

// chartView is the daily net revenue of the main currency over the 30
// days, as bars (ntcharts), in at most h lines; "" when there is no room
// or nothing to draw, and the numbers above stand alone.
func (p *overviewPane) chartView(w, h int) string {
	cur := mainCurrency(p.in)
	if cur == "" || h < 4 || w < overviewDays+12 {
		return ""
	}
	h = min(h, 16)
	var peak int64
	data := make([]barchart.BarData, 0, len(p.in.Days))
	for _, d := range p.in.Days {
		net := max(d.Revenue[cur].Net(), 0)
		peak = max(peak, net)
		data = append(data, barchart.BarData{Values: []barchart.BarValue{{Name: d.Day, Value: float64(net), Style: p.st.Money}}})
	}
	scale := "peak " + billing.FormatAmount(peak, cur)
	chartW := w - lipgloss.Width(scale) - 1
	barW := max(1, min(3, (chartW+1)/len(data)-1))
	gap := 1
	if barW == 1 && (chartW+1)/len(data) < 2 {
		gap = 0
	}
	chartW = len(data)*(barW+gap) - gap
	bc := barchart.New(chartW, h-1, barchart.WithNoAxis(), barchart.WithNoAutoBarWidth(), barchart.WithBarWidth(barW),
		barchart.WithBarGap(gap), barchart.WithDataSet(data))
	bc.Draw()
	title := fmt.Sprintf("Daily net revenue, %s, %s to %s", strings.ToUpper(cur), shortDay(p.in.From), shortDay(p.in.Until))
	lines := strings.Split(bc.View(), "\n")
	if len(lines) > 0 {
		lines[0] += " " + p.st.Muted.Render(scale)
	}
	return p.st.Title.Render(truncate(title, w)) + "\n" + strings.Join(lines, "\n")
}

// shortDay writes a rollup day as "Nov 3".
func shortDay(day string) string {
	t, err := time.Parse(billing.DayLayout, day)
	if err != nil {
		return day
	}
	return t.Format("Jan 2")
}

// creditsView is credits granted, spent, expired and clawed back in the 30
// days, with sparklines of granted and spent per day when there is room.
func (p *overviewPane) creditsView(w int, tall bool) string {
	c := p.in.Total.Credits
	var b strings.Builder
	write := lineWriter(&b, w)
	granted := make([]float64, len(p.in.Days))
	spent := make([]float64, len(p.in.Days))
	var peak float64
	for i, d := range p.in.Days {
		granted[i], spent[i] = float64(d.Credits.Granted), float64(d.Credits.Spent)
		peak = max(peak, granted[i], spent[i])
	}
	spark := func(vals []float64, st lipgloss.Style) string {
		if peak == 0 {
			return ""
		}
		sl := sparkline.New(len(vals), 1, sparkline.WithStyle(st), sparkline.WithMaxValue(peak), sparkline.WithNoAutoMaxValue())
		sl.PushAll(vals)
		sl.Draw()
		return sl.View()
	}
	label := func(name string, n int64) string { return fmt.Sprintf("%-8s %9s", name, formatCredits(n)) }
	if !tall {
		line := fmt.Sprintf("Credits 30d: %s granted · %s spent · %s expired · %s clawed back", formatCredits(c.Granted),
			formatCredits(c.Spent), formatCredits(c.Expired), formatCredits(c.ClawedBack))
		write(p.st.Plain, line)
		if w >= len(p.in.Days)*2+18 && peak > 0 {
			b.WriteString("\n" + p.st.Muted.Render("granted ") + spark(granted, p.st.Success) + p.st.Muted.Render("  spent ") + spark(spent, p.st.Warning))
		}
		return b.String()
	}
	write(p.st.Title, "Credits, 30 days")
	if w >= len(p.in.Days)+20 && peak > 0 {
		b.WriteString("\n" + label("granted", c.Granted) + "  " + spark(granted, p.st.Success))
		b.WriteString("\n" + label("spent", c.Spent) + "  " + spark(spent, p.st.Warning))
	} else {
		write(p.st.Plain, label("granted", c.Granted))
		write(p.st.Plain, label("spent", c.Spent))
	}
	write(p.st.Plain, label("expired", c.Expired))
	write(p.st.Plain, label("clawback", c.ClawedBack))
	if c.Revoked != 0 {
		write(p.st.Plain, label("revoked", c.Revoked))
	}
	return b.String()
}

// plansView is every plan: active subscriptions, MRR, new and churned
// this month.
func (p *overviewPane) plansView(w int) string {
	var b strings.Builder
	write := lineWriter(&b, w)
	month := p.monthFlows()
	names := map[string]bool{}
	for _, pt := range p.in.Plans {
		names[pt.Plan] = true
	}
	for n := range month {
		names[n] = true
	}
	if len(names) == 0 {
		write(p.st.Muted, "Plans: no subscriptions")
		return b.String()
	}
	cols := []column{{Title: "PLAN", Flex: 1, Min: 6}, {Title: "ACTIVE", Width: 6, Right: true}, {Title: "MRR", Flex: 2, Min: 14, Right: true},
		{Title: "NEW", Width: 4, Right: true}, {Title: "LOST", Width: 4, Right: true}}
	widths := layoutColumns(w, cols)
	write(p.st.Header, tableHeader(cols, widths))
	totals := map[string]billing.PlanTotals{}
	for _, pt := range p.in.Plans {
		totals[pt.Plan] = pt
	}
	for _, n := range sortedKeys(names) {
		pt, f := totals[n], month[n]
		write(p.st.Plain, tableRow(cols, widths, n, formatCredits(pt.Active), mrrText(pt.MRR), formatCredits(f.New), formatCredits(f.Churned)))
	}
	write(p.st.Muted, "new and lost: this month")
	return b.String()
}

// monthFlows sums new and churned subscriptions over the days of the
// current calendar month (UTC).
func (p *overviewPane) monthFlows() map[string]billing.PlanFlow {
	prefix := billing.DayOf(p.now())[:8] // "2006-01-"
	out := map[string]billing.PlanFlow{}
	for _, d := range p.in.Days {
		if !strings.HasPrefix(d.Day, prefix) {
			continue
		}
		for n, f := range d.Plans {
			s := out[n]
			s.New += f.New
			s.Churned += f.Churned
			out[n] = s
		}
	}
	return out
}

func mrrText(m map[string]int64) string {
	if len(m) == 0 {
		return "–"
	}
	var parts []string
	for _, cur := range sortedKeys(m) {
		parts = append(parts, billing.FormatAmount(m[cur], cur))
	}
	return strings.Join(parts, ", ")
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	for i := 1; i < len(out); i++ {
		for j := i; j > 0 && out[j] < out[j-1]; j-- {
			out[j], out[j-1] = out[j-1], out[j]
		}
	}
	return out
}

// topView is the users who paid most, at most n.
func (p *overviewPane) topView(w, n int) string {
	var b strings.Builder
	write := lineWriter(&b, w)
	if len(p.in.TopUsers) == 0 {
		write(p.st.Muted, "Top users: nobody has paid yet")
		return b.String()
	}
	write(p.st.Title, "Top users by spend (all time, net)")
	for i, u := range p.in.TopUsers {
		if i == n {
			break
		}
		amount := billing.FormatAmount(u.Net, u.Currency)
		name := truncate(u.User, max(w-lipgloss.Width(amount)-4, 4))
		write(p.st.Plain, "  "+name+strings.Repeat(" ", max(1, w-2-lipgloss.Width(name)-lipgloss.Width(amount)))+amount)
	}
	return b.String()
}

// recentView is the last few live events, in at most h lines (a title and
// h-1 events); "" when h leaves room for none.
func (p *overviewPane) recentView(w, h int) string {
	if h < 2 {
		return ""
	}
	var b strings.Builder
	write := lineWriter(&b, w)
	write(p.st.Title, "Latest events")
	if len(p.recent) == 0 {
		write(p.st.Muted, "none yet; they appear here as they arrive")
		return b.String()
	}
	cols := []column{{Title: "TIME", Width: 10}, {Title: "TYPE", Flex: 1, Min: 8}, {Title: "USER", Width: 14},
		{Title: "CREDITS", Width: 9, Right: true}, {Title: "STATE", Width: 9}}
	widths := layoutColumns(w, cols)
	now := p.now()
	for i, r := range p.recent {
		if i == h-1 {
			break
		}
		amount := ""
		if r.amount != 0 {
			amount = formatDelta(r.amount)
		}
		write(p.st.Plain, tableRow(cols, widths, formatTime(r.at, now), r.typ, r.user, amount, r.state))
	}
	return b.String()
}
