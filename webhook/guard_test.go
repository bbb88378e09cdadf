package webhook

import (
	"bufio"
	"bytes"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"testing"
	"time"

	"golang.org/x/time/rate"

	"creditdesk/billing"
	"creditdesk/internal/testkit"
)

// served is a real Server (its http.Server settings and listener, not
// httptest's) over a store in a temp dir.
type served struct {
	t   *testing.T
	srv *Server
	rc  *Receiver
	svc *billing.Service
	url string
}

func serve(t *testing.T, maxConns int) *served {
	t.Helper()
	svc, st := testkit.SampleService(t)
	rc := NewReceiver(svc, []string{oldSecret})
	s := NewServer(DefaultPath, rc, func() error { return nil })
	s.MaxConns = maxConns
	if err := s.Listen("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- s.Serve() }()
	t.Cleanup(func() {
		s.http.Close()
		<-done
		st.Close()
	})
	return &served{t: t, srv: s, rc: rc, svc: svc, url: "http://" + s.Addr()}
}

// signedPost sends a signed webhook on a connection of its own and returns
// the status.
func (s *served) signedPost(id string, timeout time.Duration) (int, error) {
	body := event(id, "2023-10-16")
	req, _ := http.NewRequest(http.MethodPost, s.url+DefaultPath, bytes.NewReader(body))
	req.Header.Set("Stripe-Signature", sign(body, oldSecret, time.Now()))
	c := &http.Client{Timeout: timeout, Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := c.Do(req)
	if err != nil {
		return 0, err
	}
	resp.Body.Close()
	return resp.StatusCode, nil
}

func (s *served) dial() net.Conn {
	s.t.Helper()
	c, err := net.Dial("tcp", s.srv.Addr())
	if err != nil {
		s.t.Fatal(err)
	}
	s.t.Cleanup(func() { c.Close() })
	return c
}

func TestHeadersOver64KiBAre431(t *testing.T) {
	s := serve(t, 0)
	c := s.dial()
	fmt.Fprintf(c, "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Pad: %s\r\n\r\n", strings.Repeat("a", 100<<10))
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
		t.Fatalf("100 KiB of headers: %d, want 431", resp.StatusCode)
	}
	// A normal request is still fine.
	if code, err := s.signedPost("evt_after_431", 5*time.Second); err != nil || code != 200 {
		t.Fatalf("signed webhook: %d %v", code, err)
	}
}

func TestConnectionCapMakesRoomByClosingIdleConnections(t *testing.T) {
	s := serve(t, 3)
	// Three clients finish a request each and keep their connection idle.
	for range 3 {
		c := s.dial()
		fmt.Fprint(c, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("healthz: %v %v", resp, err)
		}
	}
	// Stripe still gets in: an idle connection gives up its slot.
	for i := range 3 {
		if code, err := s.signedPost(fmt.Sprint("evt_cap_", i), 5*time.Second); err != nil || code != 200 {
			t.Fatalf("signed webhook at the cap: %d %v", code, err)
		}
	}
	if _, high := s.srv.Conns(); high > 3 {
		t.Fatalf("%d connections open at once, cap is 3", high)
	}
}

func TestConnectionCapHoldsNewConnectionsUntilOneCloses(t *testing.T) {
	s := serve(t, 3)
	var hung []net.Conn
	for range 3 {
		c := s.dial()
		fmt.Fprint(c, "POST "+DefaultPath+" HTTP/1.1\r\nHost: x\r\n") // never finished
		hung = append(hung, c)
	}
	// Wait until the server holds all three (each is accepted and reading).
	deadline := time.Now().Add(5 * time.Second)
	for open, _ := s.srv.Conns(); open < 3; open, _ = s.srv.Conns() {
		if time.Now().After(deadline) {
			t.Fatalf("server holds %d connections, want 3", open)
		}
		time.Sleep(5 * time.Millisecond)
	}
	got := make(chan error, 1)
	go func() {
		code, err := s.signedPost("evt_waits", 10*time.Second)
		if err == nil && code != 200 {
			err = fmt.Errorf("status %d", code)
		}
		got <- err
	}()
	select {
	case err := <-got:
		t.Fatalf("a 4th connection was served while 3 unfinished ones held the cap (err %v)", err)
	case <-time.After(300 * time.Millisecond):
	}
	hung[0].Close()
	if err := <-got; err != nil {
		t.Fatalf("after a slot freed: %v", err)
	}
	if _, high := s.srv.Conns(); high > 3 {
		t.Fatalf("%d connections open at once, cap is 3", high)
	}
}

func TestMaxConnsFromEnv(t *testing.T) {
	env := func(v string) func(string) string {
		return func(k string) string { return map[string]string{EnvMaxConns: v}[k] }
	}
	if n, err := MaxConnsFromEnv(env("")); err != nil || n != DefaultMaxConns {
		t.Fatalf("unset: %d %v", n, err)
	}
	if l, err := LimitsFromEnv(env("50")); err != nil || l.MaxConns != 50 {
		t.Fatalf("50: %+v %v", l, err)
	}
	for _, bad := range []string{"0", "-1", "many"} {
		if _, err := LimitsFromEnv(env(bad)); err == nil || !strings.Contains(err.Error(), EnvMaxConns) {
			t.Errorf("%q: %v", bad, err)
		}
	}
}

func TestSignatureFromTheFutureIsRefusedAndBlamesTheClock(t *testing.T) {
	r := newRig(t, oldSecret)
	feed, stop := r.svc.Subscribe()
	defer stop()
	body := event("evt_future", "2023-10-16")
	code, resp := r.post(body, sign(body, oldSecret, time.Now().Add(6*time.Minute)))
	if code != 400 || !strings.Contains(resp, RejectFuture) {
		t.Fatalf("6 min ahead: %d %s", code, resp)
	}
	if n := r.stored(); n != 0 {
		t.Fatalf("%d events stored", n)
	}
	if r.svc.Stats().Rejected[RejectFuture] != 1 {
		t.Fatalf("rejections %v", r.svc.Stats().Rejected)
	}
	var detail string
	for detail == "" {
		select {
		case a := <-feed:
			if a.Kind == billing.ActivityRejected {
				detail = a.Reason
			}
		default:
			t.Fatal("no rejection in the live feed")
		}
	}
	if !strings.Contains(detail, "clock may be wrong") {
		t.Fatalf("rejection says %q, want it to name the clock", detail)
	}
	// A little skew is Stripe's and this server's clocks, not an attack.
	code, resp = r.post(body, sign(body, oldSecret, time.Now().Add(4*time.Minute)))
	if code != 200 {
		t.Fatalf("4 min ahead: %d %s", code, resp)
	}
}

func TestEventIDOver255BytesIs400(t *testing.T) {
	r := newRig(t, oldSecret)
	long := event("evt_"+strings.Repeat("x", 252), "2023-10-16") // 256 bytes
	for range 2 {                                                // a redelivery gets the same answer
		code, resp := r.post(long, sign(long, oldSecret, time.Now()))
		if code != 400 || !strings.Contains(resp, RejectMalformed) {
			t.Fatalf("256-byte id: %d %s", code, resp)
		}
	}
	ok := event("evt_"+strings.Repeat("x", 251), "2023-10-16") // 255 bytes
	if code, resp := r.post(ok, sign(ok, oldSecret, time.Now())); code != 200 {
		t.Fatalf("255-byte id: %d %s", code, resp)
	}
	if n := r.stored(); n != 1 {
		t.Fatalf("%d events stored, want 1", n)
	}
}

func TestFloodOfBadSignaturesGets429WhileSignedEventsAnswer(t *testing.T) {
	svc, st := testkit.SampleService(t)
	rc := NewReceiver(svc, []string{oldSecret})
	rc.Failures = Limit{Rate: rate.Every(time.Hour), Burst: 5}
	post := func(from string, body []byte, header string) int {
		req := httptest.NewRequest(http.MethodPost, DefaultPath, bytes.NewReader(body))
		req.RemoteAddr = from
		if header != "" {
			req.Header.Set("Stripe-Signature", header)
		}
		w := httptest.NewRecorder()
		rc.ServeHTTP(w, req)
		return w.Code
	}
	const attacker, proxy = "203.0.113.9:40000", "127.0.0.1:50000"
	body := event("evt_flood", "2023-10-16")
	bad := sign(body, "whsec_guess", time.Now())
	var codes []int
	for i := range 50 {
		codes = append(codes, post(attacker, body, bad))
		if i%10 == 0 {
			// Signed deliveries from the same address still go through.
			ev := event(fmt.Sprint("evt_ok_", i), "2023-10-16")
			if code := post(attacker, ev, sign(ev, oldSecret, time.Now())); code != 200 {
				t.Fatalf("signed event during the flood: %d", code)
			}
		}
	}
	for i, c := range codes {
		if want := map[bool]int{true: 400, false: 429}[i < 5]; c != want {
			t.Fatalf("bad signature %d: %d, want %d (all: %v)", i, c, want, codes)
		}
	}
	// Unsigned requests count too; another address is not affected.
	if code := post(attacker, body, ""); code != 429 {
		t.Fatalf("unsigned from the flooding address: %d", code)
	}
	if code := post(proxy, body, bad); code != 400 {
		t.Fatalf("bad signature from another address: %d", code)
	}
	// The flood is one line in the console, not 45.
	rej := svc.Stats().Rejected
	if rej[RejectBadSignature] != 6 || rej[RejectRateLimited] != 1 {
		t.Fatalf("rejections %v", rej)
	}
	if n, _ := st.Counts(); n.Events != 5 {
		t.Fatalf("%d events stored, want the 5 signed", n.Events)
	}
}

func TestClientAddrGroupsIPv6By64(t *testing.T) {
	for in, want := range map[string]string{
		"203.0.113.9:1234":               "203.0.113.9",
		"[2001:db8:1:2:3:4:5:6]:443":     "2001:db8:1:2::/64",
		"[2001:db8:1:2:ffff::1]:443":     "2001:db8:1:2::/64",
		"[::ffff:203.0.113.9]:80":        "203.0.113.9",
		"not an address":                 "not an address",
		"[2001:db8:1:3:3:4:5:6]:443":     "2001:db8:1:3::/64",
		"[2001:db8:1:2:3:4:5:6%eth0]:44": "2001:db8:1:2::/64",
	} {
		if got := clientAddr(in); got != want {
			t.Errorf("%s: %s, want %s", in, got, want)
		}
	}
}

// TestUnfinishedHeadersDoNotExhaustMemory is the attack at a
// smaller scale: hundreds of connections each sending most of a header and
// never finishing it, plus more than the cap of idle ones. The server's heap
// stays small (each held header is at most MaxHeaderBytes) and a signed
// webhook is still answered.
func TestUnfinishedHeadersDoNotExhaustMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("opens 600 connections")
	}
	s := serve(t, 600)
	runtime.GC()
	var before runtime.MemStats
	runtime.ReadMemStats(&before)
	pad := strings.Repeat("a", 1000)
	const slow = 400
	for i := range slow {
		c := s.dial()
		fmt.Fprintf(c, "POST %s HTTP/1.1\r\nHost: x\r\n", DefaultPath)
		// 60 KB of header lines, under the limit, then nothing.
		for j := range 60 {
			fmt.Fprintf(c, "X-Pad-%d-%d: %s\r\n", i, j, pad)
		}
	}
	// A client that goes on past the limit gets 431 and its connection back.
	big := s.dial()
	fmt.Fprintf(big, "GET /healthz HTTP/1.1\r\nHost: x\r\n")
	go func() {
		for range 2000 {
			if _, err := fmt.Fprintf(big, "X-Pad: %s\r\n", pad); err != nil {
				return
			}
		}
	}()
	if resp, err := http.ReadResponse(bufio.NewReader(big), nil); err != nil || resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
		t.Fatalf("2 MB of headers: %v %v, want 431", resp, err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for open, _ := s.srv.Conns(); open < slow; open, _ = s.srv.Conns() {
		if time.Now().After(deadline) {
			t.Fatalf("server holds %d connections, want %d", open, slow)
		}
		time.Sleep(5 * time.Millisecond)
	}
	if code, err := s.signedPost("evt_under_attack", 5*time.Second); err != nil || code != 200 {
		t.Fatalf("signed webhook under attack: %d %v", code, err)
	}
	var after runtime.MemStats
	runtime.ReadMemStats(&after)
	if grew := int64(after.HeapInuse) - int64(before.HeapInuse); grew > 100<<20 {
		t.Fatalf("heap grew %d MiB for %d unfinished headers", grew>>20, slow)
	}
}
