package tui

import (
	"github.com/charmbracelet/bubbles/help"
	"github.com/charmbracelet/lipgloss"
)

// Styles are the console's looks, built once from a renderer so that the
// console can later be served over SSH with the client's colour profile.
// Views only apply them; they never build a style.
type Styles struct {
	Product   lipgloss.Style
	Demo      lipgloss.Style
	Counters  lipgloss.Style
	URL       lipgloss.Style
	TabActive lipgloss.Style
	Tab       lipgloss.Style

	Plain    lipgloss.Style
	Title    lipgloss.Style
	Header   lipgloss.Style // column headings
	Selected lipgloss.Style
	Muted    lipgloss.Style
	Danger   lipgloss.Style
	Warning  lipgloss.Style
	Success  lipgloss.Style
	Money    lipgloss.Style

	Status    lipgloss.Style
	StatusErr lipgloss.Style

	Form      lipgloss.Style
	FormTitle lipgloss.Style
	Label     lipgloss.Style

	// Fit is a base for clamping an over-wide line; it is only used with
	// MaxWidth on the rare line a pane did not truncate itself.
	Fit lipgloss.Style

	Help help.Styles
}

// DefaultStyles builds the console's styles for renderer r.
func DefaultStyles(r *lipgloss.Renderer) Styles {
	var (
		muted   = lipgloss.AdaptiveColor{Light: "#8A8A8A", Dark: "#7A7A7A"}
		accent  = lipgloss.AdaptiveColor{Light: "#5A3FD6", Dark: "#A78BFA"}
		danger  = lipgloss.AdaptiveColor{Light: "#C62828", Dark: "#FF6B6B"}
		warning = lipgloss.AdaptiveColor{Light: "#B26A00", Dark: "#FFB454"}
		success = lipgloss.AdaptiveColor{Light: "#2E7D32", Dark: "#7BD88F"}
		money   = lipgloss.AdaptiveColor{Light: "#00695C", Dark: "#5EEAD4"}
	)
	s := Styles{
		Product:   r.NewStyle().Bold(true).Foreground(accent),
		Demo:      r.NewStyle().Bold(true).Foreground(lipgloss.Color("#1A1A1A")).Background(lipgloss.Color("#FFB454")),
		Counters:  r.NewStyle().Foreground(muted),
		URL:       r.NewStyle().Foreground(muted),
		TabActive: r.NewStyle().Bold(true).Foreground(accent),
		Tab:       r.NewStyle().Foreground(muted),

		Plain:    r.NewStyle(),
		Title:    r.NewStyle().Bold(true),
		Header:   r.NewStyle().Bold(true).Foreground(muted),
		Selected: r.NewStyle().Reverse(true),
		Muted:    r.NewStyle().Foreground(muted),
		Danger:   r.NewStyle().Foreground(danger),
		Warning:  r.NewStyle().Foreground(warning),
		Success:  r.NewStyle().Foreground(success),
		Money:    r.NewStyle().Foreground(money),

		Status:    r.NewStyle().Foreground(muted),
		StatusErr: r.NewStyle().Bold(true).Foreground(danger),

		Form:      r.NewStyle().Border(lipgloss.RoundedBorder()).BorderForeground(accent).Padding(0, 1),
		FormTitle: r.NewStyle().Bold(true).Foreground(accent),
		Label:     r.NewStyle().Foreground(muted),

		Fit: r.NewStyle(),
	}
	keyStyle := r.NewStyle().Foreground(lipgloss.AdaptiveColor{Light: "#606060", Dark: "#9A9A9A"})
	descStyle := r.NewStyle().Foreground(muted)
	sepStyle := r.NewStyle().Foreground(lipgloss.AdaptiveColor{Light: "#C0C0C0", Dark: "#505050"})
	s.Help = help.Styles{
		Ellipsis:       sepStyle,
		ShortKey:       keyStyle,
		ShortDesc:      descStyle,
		ShortSeparator: sepStyle,
		FullKey:        keyStyle,
		FullDesc:       descStyle,
		FullSeparator:  sepStyle,
	}
	return s
}
