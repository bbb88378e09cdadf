package sshconsole

import (
	"io"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/charmbracelet/lipgloss"
	"github.com/charmbracelet/ssh"
	"github.com/muesli/termenv"
)

// input is a session's keyboard: one goroutine reads the channel and hands
// each chunk over, so a read can wait with a timeout (the terminal query)
// and what it read but did not use goes on to the console.
//
// wish's bubbletea.MakeRenderer is not used because its background query
// cannot time out on an SSH channel: a terminal that does not answer holds
// the session until a key is pressed, and that key is lost.
type input struct {
	chunks  chan []byte
	done    chan struct{}
	pending []byte
}

func newInput(r io.Reader) *input {
	in := &input{chunks: make(chan []byte), done: make(chan struct{})}
	go func() {
		defer close(in.chunks)
		for {
			buf := make([]byte, 4096)
			n, err := r.Read(buf)
			if n > 0 {
				select {
				case in.chunks <- buf[:n]:
				case <-in.done:
					return
				}
			}
			if err != nil {
				return
			}
		}
	}()
	return in
}

// close lets the reading goroutine go once the console no longer reads;
// it ends when the channel does.
func (in *input) close() { close(in.done) }

// Read gives the console what the client typed.
func (in *input) Read(p []byte) (int, error) {
	if len(in.pending) == 0 {
		chunk, ok := <-in.chunks
		if !ok {
			return 0, io.EOF
		}
		in.pending = chunk
	}
	n := copy(p, in.pending)
	in.pending = in.pending[n:]
	return n, nil
}

// queryTimeout is how long a terminal has to answer the background query.
// Terminals answer at once; the wait is the network's round trip.
const queryTimeout = time.Second

var (
	// bgReply is the answer to OSC 11: the background as rgb:R/G/B, each
	// 1 to 4 hex digits, ended by BEL or ST.
	bgReply = regexp.MustCompile(`\x1b\]11;rgb:([0-9a-fA-F]{1,4})/([0-9a-fA-F]{1,4})/([0-9a-fA-F]{1,4})(?:\x07|\x1b\\)`)
	// da1Reply is the answer to the primary device attributes request,
	// which every terminal sends, so it ends the wait.
	da1Reply = regexp.MustCompile(`\x1b\[\?[0-9;]*c`)
)

// darkBackground asks the terminal on w for its background colour and
// reads the answer from in. ok is false when it did not say in time. Keys
// typed meanwhile stay in in for the console.
func (in *input) darkBackground(w io.Writer, timeout time.Duration) (dark, ok bool) {
	if _, err := io.WriteString(w, "\x1b]11;?\a\x1b[c"); err != nil {
		return false, false
	}
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	var got []byte
wait:
	for !da1Reply.Match(got) {
		select {
		case chunk, open := <-in.chunks:
			if !open {
				break wait
			}
			got = append(got, chunk...)
		case <-timer.C:
			break wait
		}
	}
	if m := bgReply.FindSubmatch(got); m != nil {
		l := 0.2126*component(m[1]) + 0.7152*component(m[2]) + 0.0722*component(m[3])
		dark, ok = l < 0.5, true
	}
	got = bgReply.ReplaceAll(got, nil)
	got = da1Reply.ReplaceAll(got, nil)
	in.pending = append(got, in.pending...)
	return dark, ok
}

// component is one hex colour component scaled to 0..1.
func component(hex []byte) float64 {
	v, _ := strconv.ParseUint(string(hex), 16, 16)
	return float64(v) / float64(uint64(1)<<(4*len(hex))-1)
}

// sshEnviron is the session's environment for termenv, TERM included.
type sshEnviron []string

func (e sshEnviron) Environ() []string { return e }

func (e sshEnviron) Getenv(k string) string {
	for _, v := range e {
		if strings.HasPrefix(v, k+"=") {
			return v[len(k)+1:]
		}
	}
	return ""
}

// newRenderer is the session's renderer: colours by the client's TERM,
// light or dark by what the terminal says of its background (dark when it
// does not say).
func newRenderer(sess ssh.Session, in *input) *lipgloss.Renderer {
	pty, _, _ := sess.Pty()
	if pty.Term == "" || pty.Term == "dumb" {
		return lipgloss.NewRenderer(sess, termenv.WithProfile(termenv.Ascii))
	}
	env := sshEnviron(append(sess.Environ(), "TERM="+pty.Term))
	r := lipgloss.NewRenderer(sess, termenv.WithEnvironment(env), termenv.WithUnsafe(), termenv.WithColorCache(true))
	dark, ok := in.darkBackground(sess, queryTimeout)
	r.SetHasDarkBackground(dark || !ok)
	return r
}
