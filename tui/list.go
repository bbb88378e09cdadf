package tui

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/charmbracelet/bubbles/key"
	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/lipgloss"
)

// list is what every list pane shares: a column header, rows under it, a
// cursor kept on screen, and the line shown instead of rows while they load,
// when there are none, or when the first read failed. The pane keeps its
// rows; the list knows only how many there are and how to lay one out.
type list struct {
	*common
	cols   []column
	widths []int
	width  int
	lines  int // lines for rows, under the column header

	n      int // rows
	cursor int
	offset int // first row on screen

	what   string // what the list lists, for its errors: "purchases"
	loaded bool
	err    error // the first read failed; shown until a read works
	// empty is what a loaded list without rows says, in emptyStyle (nil:
	// muted).
	empty      string
	emptyStyle *lipgloss.Style
}

func newList(c *common, what, empty string, cols ...column) list {
	return list{common: c, cols: cols, what: what, empty: empty}
}

// setSize lays the columns out for a pane w cells wide with lines lines for
// rows (less the column header).
func (l *list) setSize(w, lines int) {
	l.width, l.lines = w, max(lines, 1)
	l.widths = layoutColumns(w-2, l.cols)
	l.clamp()
}

// setColumns replaces the columns, as a pane that shows more at a width.
func (l *list) setColumns(cols ...column) {
	l.cols = cols
	l.widths = layoutColumns(l.width-2, l.cols)
}

// setRows says how many rows there are now and that they are loaded.
func (l *list) setRows(n int) {
	l.n, l.loaded, l.err = n, true, nil
	l.clamp()
}

// readFailed takes the error of a read (nil: none) and reports it to the
// status line. A list never loaded says so instead of "loading…"; one that
// was loaded keeps its rows.
func (l *list) readFailed(err error) tea.Cmd {
	if err == nil {
		return nil
	}
	if !l.loaded {
		l.err = err
	}
	return reportErr(fmt.Errorf("loading %s: %w", l.what, err))
}

// take puts the rows read in *rows and tells l how many there are, or
// reports err (see readFailed) and keeps the rows shown.
func take[R any](l *list, rows *[]R, read []R, err error) tea.Cmd {
	if err != nil {
		return l.readFailed(err)
	}
	*rows = read
	l.setRows(len(read))
	return nil
}

// insertedAbove keeps the cursor on the row it was on after n rows were
// added on top, unless it was on the top row, which follows the newest.
func (l *list) insertedAbove(n int) {
	l.n += n
	if l.cursor > 0 {
		l.cursor += n
		l.offset += n
	}
	l.clamp()
}

// reset puts the cursor back on the first row.
func (l *list) reset() { l.cursor, l.offset = 0, 0 }

func (l *list) clamp() {
	l.cursor = min(max(l.cursor, 0), max(l.n-1, 0))
	if l.cursor < l.offset {
		l.offset = l.cursor
	}
	if l.cursor >= l.offset+l.lines {
		l.offset = l.cursor - l.lines + 1
	}
	l.offset = max(min(l.offset, l.n-l.lines), 0)
}

// selected returns the cursor's row, false when there is none.
func (l *list) selected() (int, bool) { return l.cursor, l.cursor < l.n }

// key moves the cursor for Up and Down, and a screen at a time for
// NextPage and PrevPage unless paged (a pane that reads pages handles
// those). It reports whether the key was one of them.
func (l *list) key(msg tea.KeyMsg, paged bool) bool {
	switch {
	case key.Matches(msg, l.km.Up):
		l.cursor--
	case key.Matches(msg, l.km.Down):
		l.cursor++
	case paged:
		return false
	case key.Matches(msg, l.km.NextPage):
		l.cursor += l.lines
	case key.Matches(msg, l.km.PrevPage):
		l.cursor -= l.lines
	default:
		return false
	}
	l.clamp()
	return true
}

// row lays out plain-text cells in the columns.
func (l *list) row(cells ...string) string { return tableRow(l.cols, l.widths, cells...) }

// rowFunc returns row i's line (from l.row) and its style (nil: plain).
type rowFunc func(i int) (line string, style *lipgloss.Style)

// view writes the column header and exactly l.lines lines under it: the
// rows on screen, or what the list says instead.
func (l *list) view(b *strings.Builder, row rowFunc) {
	l.viewMarked(b, row, true)
}

// viewMarked is view with the cursor's row marked only when mark is set, as
// while a filter input has the keyboard.
func (l *list) viewMarked(b *strings.Builder, row rowFunc, mark bool) {
	if b.Len() > 0 {
		b.WriteByte('\n')
	}
	b.WriteString(l.st.Header.Render("  " + tableHeader(l.cols, l.widths)))
	left := l.lines
	if l.n == 0 {
		b.WriteByte('\n')
		b.WriteString(l.placeholder())
		padLines(b, left-1)
		return
	}
	end := min(l.offset+l.lines, l.n)
	for i := l.offset; i < end; i++ {
		line, style := row(i)
		writeRow(b, l.st, line, mark && i == l.cursor, style)
		left--
	}
	padLines(b, left)
}

// placeholder is the line a list without rows shows.
func (l *list) placeholder() string {
	switch {
	case l.err != nil:
		return l.st.Danger.Render(truncate("  "+l.err.Error(), l.width))
	case !l.loaded:
		return l.st.Muted.Render("  loading…")
	case l.emptyStyle != nil:
		return l.emptyStyle.Render(truncate("  "+l.empty, l.width))
	}
	return l.st.Muted.Render(truncate("  "+l.empty, l.width))
}

// listHelp is the list's own keys, for a pane's help.
func (l *list) listHelp() []key.Binding {
	return []key.Binding{l.km.Up, l.km.Down, l.km.NextPage, l.km.PrevPage}
}

// pager is a list read from the store one page at a time, the page the
// height of the pane. Going forward pushes the page's cursor (C) on a
// stack; going back pops it, so no page is read twice to find where it
// started. R is a row.
type pager[C comparable, R any] struct {
	list
	rows  []R
	more  bool
	at    C   // cursor of the page shown (zero: first)
	stack []C // cursors of the pages before it
	limit int
	// stale (activity arrived) asks for a reload of the page at the next
	// tick; pending asks for one now (the page size or the filter changed).
	refresh
	pending bool

	// next is the cursor of the page after the one that ends with last.
	next func(last R) C
	// id names a row; when set, a reload keeps the cursor on the same
	// row (the same user) wherever it moved, not on the same line, so a
	// grant is never aimed at whoever slid into the selected line.
	id func(R) string
	// read asks for limit rows from cursor at, answered with gen.
	read func(gen int, at C, limit int) tea.Cmd
}

// refresh is the bookkeeping of a pane that reads the same thing again and
// again, one read at a time: gen tells the answer to the latest read from
// an older one's, loading is set while a read is out, and stale asks for
// another read once none is.
type refresh struct {
	gen            int
	loading, stale bool
}

// begin starts a read and returns its generation, for the answer to carry.
func (r *refresh) begin() int {
	r.gen++
	r.loading, r.stale = true, false
	return r.gen
}

// fresh takes the answer to read gen; it reports false for an answer to an
// older read, which the pane drops.
func (r *refresh) fresh(gen int) bool {
	if gen != r.gen {
		return false
	}
	r.loading = false
	return true
}

// due reports whether the pane is stale and no read is out.
func (r *refresh) due() bool { return r.stale && !r.loading }

// pageSizeFor is how many rows fit in a paged pane: its height less the
// title, column header and footer lines.
func pageSizeFor(height int) int { return max(height-3, 1) }

// setSize lays the pager out in a pane w by h and asks for the page again
// when its size changed.
func (p *pager[C, R]) setSize(w, h int) {
	n := pageSizeFor(h)
	p.list.setSize(w, n)
	if n != p.limit {
		p.limit = n
		p.pending = true
	}
}

// load asks for the page; one row more than fits tells whether there is a
// next page.
func (p *pager[C, R]) load() tea.Cmd {
	p.pending = false
	return p.read(p.begin(), p.at, p.limit+1)
}

// loaded takes a page read (an answer to an older ask is dropped) and
// reports a failed one.
func (p *pager[C, R]) loaded(gen int, rows []R, err error) tea.Cmd {
	if !p.fresh(gen) {
		return nil
	}
	if err != nil {
		return p.readFailed(err)
	}
	var keep string
	if i, ok := p.selected(); ok && p.id != nil && i < len(p.rows) {
		keep = p.id(p.rows[i])
	}
	p.more = len(rows) > p.limit
	p.rows = rows[:min(len(rows), p.limit)]
	p.setRows(len(p.rows))
	if keep != "" {
		for i, r := range p.rows {
			if p.id(r) == keep {
				p.cursor = i
				p.clamp()
				break
			}
		}
	}
	return nil
}

// restart goes back to the first page, as after the filter changed; a read
// still out is stale and its gen will not match.
func (p *pager[C, R]) restart() {
	var first C
	p.at, p.stack = first, nil
	p.reset()
	p.pending, p.loading = true, false
}

// tick reloads a stale page.
func (p *pager[C, R]) tick() tea.Cmd {
	if p.due() {
		return p.load()
	}
	return nil
}

// flush reads the page when its size or filter changed.
func (p *pager[C, R]) flush() tea.Cmd {
	if p.pending && !p.loading {
		return p.load()
	}
	return nil
}

// key handles the list keys and n/p for the next and previous page. It
// reports whether the key was one of them.
func (p *pager[C, R]) key(msg tea.KeyMsg) (bool, tea.Cmd) {
	if p.list.key(msg, true) {
		return true, nil
	}
	switch {
	case key.Matches(msg, p.km.NextPage):
		if p.more && len(p.rows) > 0 {
			p.stack = append(p.stack, p.at)
			p.at = p.next(p.rows[len(p.rows)-1])
			p.reset()
			return true, p.load()
		}
		return true, nil
	case key.Matches(msg, p.km.PrevPage):
		if n := len(p.stack); n > 0 {
			p.at = p.stack[n-1]
			p.stack = p.stack[:n-1]
			p.reset()
			return true, p.load()
		}
		return true, nil
	}
	return false, nil
}

// page is the page number shown, from 1.
func (p *pager[C, R]) page() int { return len(p.stack) + 1 }

// footer says which page this is and which way there is more: "page 2 ·
// p previous · n next".
func (p *pager[C, R]) footer() string {
	s := "page " + strconv.Itoa(p.page())
	if p.page() > 1 {
		s += " · " + hint(p.km.PrevPage, "previous")
	}
	if p.more {
		s += " · " + hint(p.km.NextPage, "next")
	}
	return p.st.Muted.Render(truncate("  "+s, p.width))
}

// scroller is a pane of prepared lines scrolled by the list keys: the user
// detail and the catalog.
type scroller struct {
	lines  []string
	offset int
	height int
}

// key scrolls for Up, Down, NextPage and PrevPage (a screen less a line).
func (s *scroller) key(km *KeyMap, msg tea.KeyMsg) {
	switch {
	case key.Matches(msg, km.Up):
		s.offset--
	case key.Matches(msg, km.Down):
		s.offset++
	case key.Matches(msg, km.NextPage):
		s.offset += max(s.height-1, 1)
	case key.Matches(msg, km.PrevPage):
		s.offset -= max(s.height-1, 1)
	}
	s.clamp()
}

func (s *scroller) setHeight(h int) {
	s.height = h
	s.clamp()
}

func (s *scroller) setLines(ls []string) {
	s.lines = ls
	s.clamp()
}

func (s *scroller) clamp() {
	s.offset = max(min(s.offset, len(s.lines)-s.height), 0)
}

// view is the lines on screen.
func (s *scroller) view() string {
	end := min(s.offset+max(s.height, 1), len(s.lines))
	if s.offset >= end {
		return ""
	}
	return strings.Join(s.lines[s.offset:end], "\n")
}
