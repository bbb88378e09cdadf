// Package sshterm is a test client for the SSH console: a session with a
// PTY whose screen the test reads and types into. Tests only.
package sshterm

import (
	"bytes"
	"io"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/charmbracelet/x/ansi"
	gossh "golang.org/x/crypto/ssh"
)

// Dial logs in to addr with signer. received counts the bytes the
// connection brings, read or not.
func Dial(addr string, signer gossh.Signer) (client *gossh.Client, received *atomic.Int64, err error) {
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return nil, nil, err
	}
	cc := &countingConn{Conn: conn}
	c, chans, reqs, err := gossh.NewClientConn(cc, addr, &gossh.ClientConfig{
		User:            "founder",
		Auth:            []gossh.AuthMethod{gossh.PublicKeys(signer)},
		HostKeyCallback: gossh.InsecureIgnoreHostKey(),
	})
	if err != nil {
		conn.Close()
		return nil, nil, err
	}
	return gossh.NewClient(c, chans, reqs), &cc.n, nil
}

type countingConn struct {
	net.Conn
	n atomic.Int64
}

func (c *countingConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.n.Add(int64(n))
	return n, err
}

// Terminal is an SSH session with a PTY whose output the test reads.
type Terminal struct {
	t      testing.TB
	Client *gossh.Client
	Sess   *gossh.Session
	// Received counts the bytes the connection brought, read or not.
	Received *atomic.Int64
	// Closed is closed when the session's output ends.
	Closed chan struct{}

	stdin io.WriteCloser
	mu    sync.Mutex
	out   bytes.Buffer
}

// Open logs in to addr with signer and starts a shell on a w×h PTY; the
// test's cleanup closes the connection. When read is false nothing reads
// its output: the client stalls once the channel's window is full.
func Open(t testing.TB, addr string, signer gossh.Signer, w, h int, read bool) *Terminal {
	t.Helper()
	client, received, err := Dial(addr, signer)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { client.Close() })
	sess, err := client.NewSession()
	if err != nil {
		t.Fatal(err)
	}
	if err := sess.RequestPty("xterm-256color", h, w, gossh.TerminalModes{gossh.ECHO: 0}); err != nil {
		t.Fatal(err)
	}
	term := &Terminal{t: t, Client: client, Sess: sess, Received: received, Closed: make(chan struct{})}
	if term.stdin, err = sess.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	stdout, err := sess.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := sess.Shell(); err != nil {
		t.Fatal(err)
	}
	if read {
		go term.read(stdout)
	}
	return term
}

func (term *Terminal) read(stdout io.Reader) {
	defer close(term.Closed)
	buf := make([]byte, 32<<10)
	answered := false
	for {
		n, err := stdout.Read(buf)
		term.mu.Lock()
		term.out.Write(buf[:n])
		// Answer the background query as a dark terminal does.
		ask := !answered && bytes.Contains(term.out.Bytes(), []byte("\x1b]11;?\a\x1b[c"))
		term.mu.Unlock()
		if ask {
			answered = true
			_, _ = io.WriteString(term.stdin, "\x1b]11;rgb:1c1c/1c1c/1c1c\x1b\\\x1b[?62;22c")
		}
		if err != nil {
			return
		}
	}
}

// Screen is everything the session printed so far, without escape codes.
func (term *Terminal) Screen() string {
	term.mu.Lock()
	defer term.mu.Unlock()
	return ansi.Strip(term.out.String())
}

// Reset forgets what was printed so far.
func (term *Terminal) Reset() {
	term.mu.Lock()
	defer term.mu.Unlock()
	term.out.Reset()
}

// WaitFor waits until the output holds every one of want, for 10 s at most.
func (term *Terminal) WaitFor(want ...string) {
	term.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		s := term.Screen()
		missing := ""
		for _, w := range want {
			if !strings.Contains(s, w) {
				missing = w
				break
			}
		}
		if missing == "" {
			return
		}
		if time.Now().After(deadline) {
			term.t.Fatalf("no %q on the screen after 10s; it shows:\n%s", missing, lastBytes(s, 3000))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Send types keys.
func (term *Terminal) Send(keys string) {
	term.t.Helper()
	if _, err := io.WriteString(term.stdin, keys); err != nil {
		term.t.Fatal(err)
	}
}

func lastBytes(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}
