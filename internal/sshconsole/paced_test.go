package sshconsole

import (
	"fmt"
	"testing"
	"time"

	tea "github.com/charmbracelet/bubbletea"

	"creditdesk/billing"
)

// counter is a console that counts the messages it got and its frames.
type counter struct {
	msgs, views int
}

type tickMsg struct{}

func (c *counter) Init() tea.Cmd { return nil }
func (c *counter) Update(msg tea.Msg) (tea.Model, tea.Cmd) {
	c.msgs++
	return c, nil
}
func (c *counter) View() string {
	c.views++
	return fmt.Sprintf("%d messages", c.msgs)
}

func TestPacedDrawsFeedAtMostOncePerInterval(t *testing.T) {
	c := &counter{}
	p := newPaced(c)
	if v := p.View(); v != "0 messages" {
		t.Fatalf("first frame %q", v)
	}
	timers := 0
	for range 1000 {
		_, cmd := p.Update(tickMsg{})
		if cmd != nil {
			timers++
		}
		p.View()
	}
	if c.msgs != 1000 {
		t.Fatalf("the console got %d of 1000 messages", c.msgs)
	}
	if c.views > 2 || timers != 1 {
		t.Fatalf("1000 feed messages in a burst: %d frames, %d redraws scheduled; want 1 or 2 and 1", c.views, timers)
	}
	// The held-back frame comes with the redraw.
	time.Sleep(frameInterval)
	p.Update(redrawMsg{})
	if v := p.View(); v != "1000 messages" {
		t.Fatalf("after the redraw the frame is %q", v)
	}
	// A key draws at once, however recent the last frame.
	p.Update(tea.KeyMsg{Type: tea.KeyRunes, Runes: []rune("3")})
	if v := p.View(); v != "1001 messages" {
		t.Fatalf("after a key the frame is %q", v)
	}
	p.Update(tea.WindowSizeMsg{Width: 40, Height: 10})
	if v := p.View(); v != "1002 messages" {
		t.Fatalf("after a resize the frame is %q", v)
	}
	// Nothing changed: no new frame is computed.
	n := c.views
	p.View()
	if c.views != n {
		t.Error("View drew an unchanged console again")
	}
}

func TestSharedStatsReadsOncePerTTL(t *testing.T) {
	reads := 0
	s := NewSharedStats(func() billing.Stats {
		reads++
		return billing.Stats{Received: uint64(reads), Rejected: map[string]uint64{"signature": 1}}
	}, 50*time.Millisecond)
	for range 100 {
		if st := s.Stats(); st.Received != 1 {
			t.Fatalf("got %d", st.Received)
		}
	}
	st := s.Stats()
	st.Rejected["signature"] = 99 // a console's copy
	if reads != 1 || s.Stats().Rejected["signature"] != 1 {
		t.Fatalf("%d reads, shared map changed: %v", reads, s.Stats().Rejected)
	}
	time.Sleep(60 * time.Millisecond)
	if st := s.Stats(); st.Received != 2 {
		t.Errorf("after the ttl: %d", st.Received)
	}
}
