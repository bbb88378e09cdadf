package tui

import (
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/charmbracelet/lipgloss"

	"creditdesk/billing"
	"creditdesk/internal/safetext"
)

// formatCredits writes n with thousands separators: 2500 → "2,500"
// (billing.Credits, the one number formatter).
func formatCredits(n int64) string { return billing.Credits(n) }

// formatDelta is formatCredits with an explicit sign: "+500", "-2,500".
func formatDelta(n int64) string {
	if n > 0 {
		return "+" + formatCredits(n)
	}
	return formatCredits(n)
}

// formatCount formats a counter with thousands separators.
func formatCount(n uint64) string {
	if n > 1<<62 {
		return strconv.FormatUint(n, 10)
	}
	return formatCredits(int64(n))
}

// formatMoney writes an amount in a currency's smallest unit as
// billing.FormatAmount does (500 jpy → "500 JPY"); blank for no amount.
func formatMoney(minor int64, currency string) string {
	if minor == 0 && currency == "" {
		return ""
	}
	return billing.FormatAmount(minor, currency)
}

// formatTime shows t as local HH:MM:SS when it falls on today (as of now),
// else as a date. Zero times are blank.
func formatTime(t, now time.Time) string {
	if t.IsZero() {
		return ""
	}
	t = t.Local()
	now = now.Local()
	y1, m1, d1 := t.Date()
	y2, m2, d2 := now.Date()
	if y1 == y2 && m1 == m2 && d1 == d2 {
		return t.Format("15:04:05")
	}
	return t.Format("2006-01-02")
}

// formatDate is a plain local date, blank for the zero time.
func formatDate(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.Local().Format("2006-01-02")
}

// truncate cuts plain text s to at most w cells, ending in "…" when cut.
// It is where text reaches the screen (fit, tableRow, lineWriter and the
// panes' lines all go through it), so it also strips control characters and
// escape sequences: a reason, name or email from outside cannot set the
// window title or clear the screen.
func truncate(s string, w int) string {
	if w <= 0 {
		return ""
	}
	if !isASCII(s) {
		s = safetext.Clean(s)
	}
	if isASCII(s) {
		if len(s) <= w {
			return s
		}
		if w == 1 {
			return "…"
		}
		return s[:w-1] + "…"
	}
	if lipgloss.Width(s) <= w {
		return s
	}
	var b strings.Builder
	used := 0
	for _, r := range s {
		rw := lipgloss.Width(string(r))
		if used+rw > w-1 {
			break
		}
		b.WriteRune(r)
		used += rw
	}
	b.WriteString("…")
	return b.String()
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf || s[i] < 0x20 || s[i] == 0x7f {
			return false
		}
	}
	return true
}

// fit truncates plain text s to w cells and pads it with spaces to exactly
// w cells, on the left when right is set.
func fit(s string, w int, right bool) string {
	s = truncate(s, w)
	n := w - lipgloss.Width(s)
	if n <= 0 {
		return s
	}
	if right {
		return strings.Repeat(" ", n) + s
	}
	return s + strings.Repeat(" ", n)
}

// column is one column of a hand-rolled table. A column with Flex > 0 shares
// what the fixed columns leave, in proportion to Flex.
type column struct {
	Title string
	Width int
	Flex  int
	Min   int
	Right bool
}

// layoutColumns returns the widths of cols for a table total cells wide,
// with one space between columns.
func layoutColumns(total int, cols []column) []int {
	widths := make([]int, len(cols))
	fixed, flex := len(cols)-1, 0
	for i, c := range cols {
		if c.Flex > 0 {
			flex += c.Flex
			continue
		}
		widths[i] = c.Width
		fixed += c.Width
	}
	left := max(total-fixed, 0)
	for i, c := range cols {
		if c.Flex > 0 {
			widths[i] = max(left*c.Flex/flex, c.Min)
		}
	}
	// If the minimums pushed the row over, take it back from the widest.
	sum := len(cols) - 1
	for _, w := range widths {
		sum += w
	}
	for sum > total {
		wi := 0
		for i := range widths {
			if widths[i] > widths[wi] {
				wi = i
			}
		}
		if widths[wi] <= 1 {
			break
		}
		widths[wi]--
		sum--
	}
	return widths
}

// tableRow lays out plain-text cells in columns of the given widths.
func tableRow(cols []column, widths []int, cells ...string) string {
	var b strings.Builder
	for i, c := range cols {
		if i > 0 {
			b.WriteByte(' ')
		}
		cell := ""
		if i < len(cells) {
			cell = cells[i]
		}
		b.WriteString(fit(cell, widths[i], c.Right))
	}
	return b.String()
}

// tableHeader is the row of column titles.
func tableHeader(cols []column, widths []int) string {
	titles := make([]string, len(cols))
	for i, c := range cols {
		titles[i] = c.Title
	}
	return tableRow(cols, widths, titles...)
}

// fitBlock makes s exactly h lines, each at most w cells: extra lines are
// dropped, missing ones are blank, and an over-wide line is cut with st.
func fitBlock(s string, w, h int, st lipgloss.Style) string {
	if h <= 0 {
		return ""
	}
	lines := strings.SplitN(s, "\n", h+1)
	if len(lines) > h {
		lines = lines[:h]
	}
	for i, l := range lines {
		if lipgloss.Width(l) > w {
			lines[i] = st.MaxWidth(w).Render(l)
		}
	}
	for len(lines) < h {
		lines = append(lines, "")
	}
	return strings.Join(lines, "\n")
}

// writeRow writes one list row on a new line: marked and highlighted on the
// cursor's row, in style (nil: plain) otherwise.
func writeRow(b *strings.Builder, st *Styles, line string, selected bool, style *lipgloss.Style) {
	b.WriteByte('\n')
	switch {
	case selected:
		b.WriteString(st.Selected.Render("› " + line))
	case style != nil:
		b.WriteString(style.Render("  " + line))
	default:
		b.WriteString("  " + line)
	}
}

// padLines writes n empty lines, so a short list keeps the pane's height.
func padLines(b *strings.Builder, n int) {
	for ; n > 0; n-- {
		b.WriteByte('\n')
	}
}

// plural picks the word for n.
func plural(n uint64, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// lineWriter returns a function that adds a line to b, in a style and
// truncated to w: how the form and Stripe panes build their views.
func lineWriter(b *strings.Builder, w int) func(lipgloss.Style, string) {
	return func(st lipgloss.Style, s string) {
		if b.Len() > 0 {
			b.WriteByte('\n')
		}
		b.WriteString(st.Render(truncate(s, w)))
	}
}

// formatAge is a duration as a person says it: "40s", "12m", "3h", "2d".
func formatAge(d time.Duration) string {
	switch {
	case d < time.Minute:
		return strconv.Itoa(max(int(d/time.Second), 0)) + "s"
	case d < time.Hour:
		return strconv.Itoa(int(d/time.Minute)) + "m"
	case d < 48*time.Hour:
		return strconv.Itoa(int(d/time.Hour)) + "h"
	}
	return strconv.Itoa(int(d/(24*time.Hour))) + "d"
}
