package sshconsole

import (
	"io"
	"strings"
	"testing"
	"time"
)

func TestDarkBackground(t *testing.T) {
	for _, tc := range []struct {
		name, reply string
		dark, ok    bool
		left        string
	}{
		{"dark, ST", "\x1b]11;rgb:1c1c/1c1c/1c1c\x1b\\\x1b[?62;22c", true, true, ""},
		{"light, BEL, 2 digits", "\x1b]11;rgb:ff/fa/f0\x07\x1b[?1;2c", false, true, ""},
		{"no OSC 11, DA1 only", "\x1b[?6c", false, false, ""},
		{"keys around the answer stay", "ab\x1b]11;rgb:0000/0000/0000\x07\x1b[?62cq", true, true, "abq"},
		{"no answer", "", false, false, ""},
		{"keys but no answer", "q", false, false, "q"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pr, pw := io.Pipe()
			defer pw.Close()
			in := newInput(pr)
			defer in.close()
			go func() {
				if tc.reply != "" {
					// Split the reply to test reassembly.
					h := len(tc.reply) / 2
					_, _ = io.WriteString(pw, tc.reply[:h])
					_, _ = io.WriteString(pw, tc.reply[h:])
				}
			}()
			var asked strings.Builder
			start := time.Now()
			dark, ok := in.darkBackground(&asked, 200*time.Millisecond)
			if dark != tc.dark || ok != tc.ok {
				t.Errorf("dark=%v ok=%v, want %v %v", dark, ok, tc.dark, tc.ok)
			}
			if asked.String() != "\x1b]11;?\a\x1b[c" {
				t.Errorf("query %q", asked.String())
			}
			if tc.reply != "" && strings.Contains(tc.reply, "c") && time.Since(start) > 150*time.Millisecond {
				t.Errorf("waited %v although the terminal answered", time.Since(start))
			}
			if got := string(in.pending); got != tc.left {
				t.Errorf("left for the console %q, want %q", got, tc.left)
			}
		})
	}
}
