package tui

import (
	"fmt"
	"strings"

	"github.com/charmbracelet/lipgloss"
)

// tabsView is the tab bar: "[1 Live]  2 Purchases  3 Users". When the
// titles do not fit, inactive tabs show them shortened ("2 Pur…"), and at
// worst their number only; the active tab always shows its whole title.
func (m *model) tabsView() string {
	n := m.tabTitleRoom()
	var b strings.Builder
	used := 0
	for i := range m.tabs {
		l := m.tabLabel(i, n)
		if used+lipgloss.Width(l)+1 > m.width {
			break
		}
		if i > 0 {
			b.WriteByte(' ')
			used++
		}
		if i == m.active {
			b.WriteString(m.st.TabActive.Render(l))
		} else {
			b.WriteString(m.st.Tab.Render(l))
		}
		used += lipgloss.Width(l)
	}
	return b.String()
}

// tabTitleRoom is how many characters of an inactive tab's title fit: the
// whole title, else 8, 6, 4, 3 or 2, else none (0).
func (m *model) tabTitleRoom() int {
	for _, try := range []int{1 << 10, 8, 6, 4, 3, 2} {
		w := len(m.tabs) - 1
		for i := range m.tabs {
			w += lipgloss.Width(m.tabLabel(i, try))
		}
		if w <= m.width {
			return try
		}
	}
	return 0
}

// tabLabel is tab i's label with at most n characters of an inactive tab's
// title.
func (m *model) tabLabel(i, n int) string {
	title := []rune(paneTitle(m.tabs[i]))
	if i == m.active {
		return fmt.Sprintf("[%d %s]", i+1, string(title))
	}
	if n <= 0 {
		return fmt.Sprintf(" %d ", i+1)
	}
	if len(title) > n {
		// Cut, and say so: "Purch…", not "Purcha" (which reads as a typo).
		title = append([]rune(strings.TrimSpace(string(title[:n-1]))), '…')
	}
	return fmt.Sprintf(" %d %s ", i+1, string(title))
}
