package sshconsole

import (
	"time"

	tea "github.com/charmbracelet/bubbletea"
)

// frameInterval is the shortest time between two frames a console draws
// for what it did not ask for (the live feed, stats, timers). Keys and
// resizes draw at once.
const frameInterval = 100 * time.Millisecond

// paced draws a console at most once per frameInterval, except right after
// a key or a resize. Bubble Tea calls View after every message, and the
// live feed is one message per event: at a few thousand events a second,
// drawing each one for every SSH console took most of the CPU the receiver
// needs (see docs/PERFORMANCE.md, "SSH sessions and ingest"). The console
// still handles every message; only the drawing is paced.
type paced struct {
	m      tea.Model
	view   string
	drawn  time.Time
	stale  bool // m changed since view was drawn
	urgent bool // the next View draws whatever the time
	timer  bool // a redrawMsg is on its way
}

// redrawMsg asks for the frame that pacing held back.
type redrawMsg struct{}

func newPaced(m tea.Model) *paced { return &paced{m: m, stale: true, urgent: true} }

func (p *paced) Init() tea.Cmd { return p.m.Init() }

func (p *paced) Update(msg tea.Msg) (tea.Model, tea.Cmd) {
	if _, ok := msg.(redrawMsg); ok {
		p.timer = false
		return p, nil // frameInterval has passed: View draws
	}
	switch msg.(type) {
	case tea.KeyMsg, tea.WindowSizeMsg, tea.MouseMsg:
		p.urgent = true
	}
	var cmd tea.Cmd
	p.m, cmd = p.m.Update(msg)
	p.stale = true
	if wait := frameInterval - time.Since(p.drawn); !p.urgent && !p.timer && wait > 0 {
		p.timer = true
		cmd = tea.Batch(cmd, tea.Tick(wait, func(time.Time) tea.Msg { return redrawMsg{} }))
	}
	return p, cmd
}

func (p *paced) View() string {
	if p.stale && (p.urgent || time.Since(p.drawn) >= frameInterval) {
		p.view = p.m.View()
		p.drawn = time.Now()
		p.stale, p.urgent = false, false
	}
	return p.view
}
