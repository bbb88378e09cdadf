package safetext

import (
	"testing"
	"unicode/utf8"
)

func TestCleanRemovesTerminalControl(t *testing.T) {
	for in, want := range map[string]string{
		"plain text":                          "plain text",
		"\u001b]0;PWNED\u0007\u001b[2J":       "",
		"a\u001b]0;title\u001b\\b":            "ab",
		"a\u001b]52;c;ZXZpbA==\u0007b":        "ab", // clipboard write
		"\u001b[31mred\u001b[0m":              "red",
		"\u001b[?1049h\u001b[1;1H\u001b[Kx":   "x",
		"a\u001bPq#0;2;0;0;0\u001b\\b":        "ab", // DCS (sixel)
		"a\u001b_apc\u001b\\b":                "ab",
		"a\u001b7b\u001b8c":                   "abc",
		"a\u001b(Bb":                          "ab",
		"a\u009b2Jb":                          "ab", // 8-bit CSI
		"a\u009d0;t\u009cb":                   "ab", // 8-bit OSC and ST
		"a\u0085b\u0080c":                     "abc",
		"tab\there\nnew\rline":                "tab here new line",
		"bell\u0007 nul\u0000 del\u007f bs\b": "bell nul del bs",
		"lone esc\u001b":                      "lone esc",
		"user\u202egnp.exe":                   "usergnp.exe",
		"\u2066isolate\u2069":                 "isolate",
		"Zoë 山田 🙂 émoji":                      "Zoë 山田 🙂 émoji",
		"unterminated \u001b]0;title forever": "unterminated ",
		"csi cut \u001b[12":                   "csi cut ",
		"bad utf8 \xff\xfe end":               "bad utf8 \ufffd\ufffd end",
	} {
		if got := Clean(in); got != want {
			t.Errorf("Clean(%q) = %q, want %q", in, got, want)
		}
	}
}

func FuzzCleanLeavesNoControl(f *testing.F) {
	for _, s := range []string{"\u001b]0;PWNED\u0007\u001b[2J", "a\u009b2Jb", "plain", "\u001b[", "\u001bP\u001b\\"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got := Clean(s)
		if !utf8.ValidString(got) {
			t.Fatalf("Clean(%q) = %q: invalid UTF-8", s, got)
		}
		for _, r := range got {
			if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) || bidi(r) {
				t.Fatalf("Clean(%q) = %q keeps %U", s, got, r)
			}
		}
		if Clean(got) != got {
			t.Fatalf("Clean is not idempotent on %q", s)
		}
		if plain(s) && got != s {
			t.Fatalf("printable ASCII %q changed to %q", s, got)
		}
	})
}
