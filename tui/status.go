package tui

import (
	"fmt"
	"time"
)

// statusTTL is how long an info message stays on the status line; an error
// stays four times as long.
const statusTTL = 8 * time.Second

func (m *model) setStatus(err error) {
	m.status, m.statusErr, m.statusAt = err.Error(), true, m.now()
}

func (m *model) setInfo(s string) {
	m.status, m.statusErr, m.statusAt = s, false, m.now()
}

// expireStatus clears a message that has been up long enough.
func (m *model) expireStatus() {
	if m.status == "" {
		return
	}
	ttl := statusTTL
	if m.statusErr {
		ttl *= 4
	}
	if m.now().Sub(m.statusAt) > ttl {
		m.status = ""
	}
}

// adjustedText is the status line after a grant or revoke went through.
func adjustedText(msg adjustDoneMsg) string {
	verb, prep := "Granted", "to"
	if msg.delta < 0 {
		verb, prep = "Revoked", "from"
	}
	return fmt.Sprintf("%s %s credits %s %s · balance %s", verb, formatCredits(abs(msg.delta)), prep, msg.user, formatCredits(msg.entry.BalanceAfter))
}

// statusView is the one status line: the last error or message, else the
// store totals.
func (m *model) statusView() string {
	if m.status != "" {
		if m.statusErr {
			return m.st.StatusErr.Render(truncate("! "+m.status, m.width))
		}
		return m.st.Status.Render(truncate(m.status, m.width))
	}
	s := m.stats
	feed := "live"
	if m.feedEnded {
		feed = "feed closed"
	}
	if at, ok := m.b.(Attached); ok {
		if _, up := at.Attachment(); !up {
			feed = "detached"
		}
	}
	line := fmt.Sprintf("%s · %s events · %s users · %s purchases", feed,
		formatCount(s.Events), formatCount(s.Users), formatCount(s.Purchases))
	switch {
	case s.BackupFailing:
		line += " · backup failing (Attention)"
	case !s.LastBackup.IsZero():
		line += " · backup " + formatAge(m.now().Sub(s.LastBackup)) + " ago"
	}
	if m.help.ShowAll && m.opt.DBPath != "" {
		line += " · " + m.opt.DBPath
	}
	return m.st.Status.Render(truncate(line, m.width))
}
