// Package safetext makes text that came from outside (reasons, names,
// emails, metadata, Stripe's error messages) safe to put on a terminal: it
// cannot move the cursor, clear the screen, set the window title, write
// the clipboard or reorder what is shown. JSON output keeps the original;
// only what a terminal draws goes through Clean.
package safetext

import (
	"strings"
	"unicode/utf8"
)

// Clean returns s without terminal control:
//   - escape sequences, whole: CSI (ESC [ … final byte), OSC (ESC ] … BEL
//     or ST), DCS, SOS, PM and APC strings (ESC P, X, ^, _ … ST), and the
//     two- and three-byte ESC forms (ESC 7, ESC ( B);
//   - the same introduced by their 8-bit C1 forms (U+009B CSI, U+009D OSC,
//     U+0090 DCS, U+0098 SOS, U+009E PM, U+009F APC);
//   - every other C0 control, DEL and C1 control; tab, newline and carriage
//     return become a space, so words stay apart and a row stays one row;
//   - the bidirectional overrides and isolates (U+202A–U+202E,
//     U+2066–U+2069), which reorder what is displayed.
//
// Invalid UTF-8 becomes U+FFFD. Printable text, any script, is unchanged.
func Clean(s string) string {
	if plain(s) {
		return s
	}
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size <= 1:
			b.WriteRune(utf8.RuneError)
			i++
		case r == 0x1b:
			i = skipEscape(s, i+1)
		case r == 0x9b:
			i = skipCSI(s, i+size)
		case r == 0x9d || r == 0x90 || r == 0x98 || r == 0x9e || r == 0x9f:
			i = skipString(s, i+size)
		case r == '\t' || r == '\n' || r == '\r':
			b.WriteByte(' ')
			i += size
		case r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) || bidi(r):
			i += size
		default:
			b.WriteString(s[i : i+size])
			i += size
		}
	}
	return b.String()
}

// plain reports whether s is printable ASCII, the common case, which
// Clean returns as is.
func plain(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x7f {
			return false
		}
	}
	return true
}

func bidi(r rune) bool { return (r >= 0x202a && r <= 0x202e) || (r >= 0x2066 && r <= 0x2069) }

// skipEscape returns the index after the escape sequence whose ESC ended
// just before i.
func skipEscape(s string, i int) int {
	if i >= len(s) {
		return i
	}
	switch c := s[i]; {
	case c == '[':
		return skipCSI(s, i+1)
	case c == ']' || c == 'P' || c == 'X' || c == '^' || c == '_':
		return skipString(s, i+1)
	case c >= 0x20 && c <= 0x2f:
		// ESC, intermediates (ESC ( B, ESC # 8), then one final byte.
		for i < len(s) && s[i] >= 0x20 && s[i] <= 0x2f {
			i++
		}
		if i < len(s) && s[i] >= 0x30 && s[i] <= 0x7e {
			i++
		}
		return i
	case c >= 0x30 && c <= 0x7e:
		return i + 1 // ESC 7, ESC c, ESC M …
	}
	return i // a lone ESC: drop it, keep what follows
}

// skipCSI skips parameters and intermediates up to and including the final
// byte (0x40–0x7E); a CSI cut short by a control or the end stops there.
func skipCSI(s string, i int) int {
	for i < len(s) {
		c := s[i]
		switch {
		case c >= 0x40 && c <= 0x7e:
			return i + 1
		case c >= 0x20 && c <= 0x3f:
			i++
		default:
			return i
		}
	}
	return i
}

// skipString skips a control string (OSC, DCS, SOS, PM, APC) up to and
// including its terminator: BEL, ESC \ or U+009C. An unterminated string
// runs to the end of s; all of it would have been swallowed by the
// terminal too.
func skipString(s string, i int) int {
	for i < len(s) {
		switch {
		case s[i] == 0x07:
			return i + 1
		case s[i] == 0x1b && i+1 < len(s) && s[i+1] == '\\':
			return i + 2
		case s[i] == 0x1b:
			return i // ESC without \: a new sequence begins
		case strings.HasPrefix(s[i:], "\u009c"):
			return i + len("\u009c")
		}
		i++
	}
	return i
}
