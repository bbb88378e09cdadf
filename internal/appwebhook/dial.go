package appwebhook

import (
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"syscall"
	"time"
)

// RefusedError is a request not made because its address is private.
type RefusedError struct{ Addr string }

func (e *RefusedError) Error() string {
	return fmt.Sprintf("refused to connect to %s: a private or loopback address (set allow_private = true for this URL to allow it)", e.Addr)
}

// privateAddr reports whether a is an address a configured URL must not
// reach: loopback, private (RFC 1918, fc00::/7), link-local (cloud
// metadata), unspecified, CGNAT, or multicast.
func privateAddr(a netip.Addr) bool {
	a = a.Unmap()
	return a.IsLoopback() || a.IsPrivate() || a.IsLinkLocalUnicast() || a.IsLinkLocalMulticast() ||
		a.IsUnspecified() || a.IsMulticast() || a.IsInterfaceLocalMulticast() ||
		netip.MustParsePrefix("100.64.0.0/10").Contains(a) || netip.MustParsePrefix("0.0.0.0/8").Contains(a)
}

// guardDial is a net.Dialer Control function: it sees the address being
// dialed after name resolution, so a name that resolves to a private
// address (or changes to one between checks) is refused all the same.
func guardDial(_, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return &RefusedError{Addr: address}
	}
	if privateAddr(ap.Addr()) {
		return &RefusedError{Addr: address}
	}
	return nil
}

// newClient is the HTTP client of one endpoint: no proxy (a proxy would
// dial for us, past the guard), no redirects followed (a 3xx is an
// answer that is not 2xx: retried), the guard on every connection unless
// allowPrivate.
func newClient(allowPrivate bool, timeout time.Duration) *http.Client {
	d := &net.Dialer{Timeout: timeout, KeepAlive: 30 * time.Second}
	if !allowPrivate {
		d.Control = guardDial
	}
	tr := &http.Transport{
		Proxy:                 nil,
		DialContext:           d.DialContext,
		ForceAttemptHTTP2:     true,
		MaxIdleConnsPerHost:   16,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   timeout,
		ResponseHeaderTimeout: timeout,
	}
	return &http.Client{Transport: tr, Timeout: timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}
