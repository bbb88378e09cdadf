package webhook

import (
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// MaxHeaderBytes bounds the request line and headers of one request on the
// public server. Stripe's deliveries and the app's API calls carry a few
// kilobytes; Go's default (1 MiB) let a thousand unfinished headers take
// gigabytes.
const MaxHeaderBytes = 64 << 10

// EnvMaxConns sets how many connections the public server holds open at
// once.
const EnvMaxConns = "CREDITDESK_MAX_CONNS"

// DefaultMaxConns is the connection cap for a small server: well under the
// usual descriptor limit of 1024 + what the store and the console need, and
// far above what Stripe and one app open.
const DefaultMaxConns = 1024

// MaxConnsFromEnv reads CREDITDESK_MAX_CONNS: a positive number of
// connections, DefaultMaxConns when unset.
func MaxConnsFromEnv(getenv func(string) string) (int, error) {
	s := strings.TrimSpace(getenv(EnvMaxConns))
	if s == "" {
		return DefaultMaxConns, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n <= 0 {
		return 0, fmt.Errorf("%s %q: want a positive number of connections, such as %d", EnvMaxConns, s, DefaultMaxConns)
	}
	return n, nil
}

// maxConnsOrDefault is MaxConnsFromEnv of the process's environment, with
// the default for a value LimitsFromEnv has already refused at start.
func maxConnsOrDefault() int {
	n, err := MaxConnsFromEnv(os.Getenv)
	if err != nil {
		return DefaultMaxConns
	}
	return n
}

// connLimit is a listener that holds at most cap connections open, like
// golang.org/x/net/netutil.LimitListener, and that makes room for a new
// connection by closing a keep-alive connection sitting idle between
// requests: idle connections are the cheapest to lose (the client reconnects)
// and the easiest to hoard. A connection arriving when every slot is busy
// waits in Accept until one closes; the server's header and read timeouts
// bound how long that is.
type connLimit struct {
	net.Listener
	slots chan struct{}
	done  chan struct{}
	once  sync.Once

	mu   sync.Mutex
	idle map[net.Conn]struct{}
	open int
	high int
}

func newConnLimit(ln net.Listener, n int) *connLimit {
	return &connLimit{Listener: ln, slots: make(chan struct{}, n), done: make(chan struct{}), idle: map[net.Conn]struct{}{}}
}

// Accept returns the next connection once it has a slot.
func (l *connLimit) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	select {
	case l.slots <- struct{}{}:
	default:
		l.shedIdle()
		select {
		case l.slots <- struct{}{}:
		case <-l.done:
			c.Close()
			return nil, net.ErrClosed
		}
	}
	l.mu.Lock()
	l.open++
	l.high = max(l.high, l.open)
	l.mu.Unlock()
	return &limitedConn{Conn: c, l: l}, nil
}

// Close stops Accept, including one waiting for a slot.
func (l *connLimit) Close() error {
	l.once.Do(func() { close(l.done) })
	return l.Listener.Close()
}

// shedIdle closes one idle keep-alive connection, if there is one.
func (l *connLimit) shedIdle() {
	l.mu.Lock()
	var victim net.Conn
	for c := range l.idle {
		victim = c
		delete(l.idle, c)
		break
	}
	l.mu.Unlock()
	if victim != nil {
		victim.Close()
	}
}

// connState is the server's ConnState hook: it keeps the set of idle
// connections shedIdle may close.
func (l *connLimit) connState(c net.Conn, s http.ConnState) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if s == http.StateIdle {
		l.idle[c] = struct{}{}
	} else {
		delete(l.idle, c)
	}
}

func (l *connLimit) release() {
	l.mu.Lock()
	l.open--
	l.mu.Unlock()
	<-l.slots
}

// stats is the number of connections open now and the most ever open at once.
func (l *connLimit) stats() (open, high int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.open, l.high
}

type limitedConn struct {
	net.Conn
	l    *connLimit
	once sync.Once
}

func (c *limitedConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.l.release)
	return err
}

// maxFailAddrs bounds the addresses failLimiter remembers; past it, the
// addresses with a full bucket (nothing failed lately) are forgotten, and
// if that is not enough every new address shares one bucket.
const maxFailAddrs = 16384

// failLimiter is a token bucket per client address for requests that fail
// the signature check.
type failLimiter struct {
	lim      Limit
	mu       sync.Mutex
	addrs    map[string]*addrFails
	overflow *addrFails
}

type addrFails struct {
	l       *rate.Limiter
	limited bool
}

func newFailLimiter(lim Limit) *failLimiter {
	return &failLimiter{lim: lim, addrs: map[string]*addrFails{}, overflow: &addrFails{l: rate.NewLimiter(lim.Rate, lim.Burst)}}
}

// fail takes a token for one failed request from addr. allowed says whether
// it gets a full answer; first, when it does not, says it is the first
// refusal since addr was last allowed (so it is noted once).
func (f *failLimiter) fail(addr string, now time.Time) (allowed, first bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	a, ok := f.addrs[addr]
	if !ok {
		if len(f.addrs) >= maxFailAddrs {
			for k, v := range f.addrs {
				if v.l.TokensAt(now) >= float64(f.lim.Burst) {
					delete(f.addrs, k)
				}
			}
		}
		if len(f.addrs) >= maxFailAddrs {
			a = f.overflow
		} else {
			a = &addrFails{l: rate.NewLimiter(f.lim.Rate, f.lim.Burst)}
			f.addrs[addr] = a
		}
	}
	if a.l.AllowN(now, 1) {
		a.limited = false
		return true, false
	}
	first = !a.limited
	a.limited = true
	return false, first
}

// clientAddr is the address a failure is counted against: the peer's IP,
// or for IPv6 its /64, which one host usually holds whole.
func clientAddr(remote string) string {
	host, _, err := net.SplitHostPort(remote)
	if err != nil {
		host = remote
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return host
	}
	ip = ip.Unmap()
	if ip.Is6() {
		p, _ := ip.Prefix(64)
		return p.String()
	}
	return ip.String()
}
