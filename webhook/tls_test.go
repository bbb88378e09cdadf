package webhook

import (
	"creditdesk/internal/testkit"
	"crypto/tls"
	"log/slog"
	"math/big"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"creditdesk/internal/tlstest"
)

// syncBuffer is a buffer the test and goroutines share.
type syncBuffer = testkit.SyncBuffer

// startTLSServer serves the webhook server over HTTPS with the files on a
// loopback port.
func startTLSServer(t *testing.T, o TLSOptions) (*Server, *syncBuffer) {
	t.Helper()
	var logs syncBuffer
	o.Log = slog.New(slog.NewTextHandler(&logs, nil))
	tl, err := NewTLS(o)
	if err != nil {
		t.Fatal(err)
	}
	s := NewServer(DefaultPath, NewReceiver(nopInbox{}, nil), func() error { return nil })
	if err := s.Listen("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	s.UseTLS(tl)
	done := make(chan error, 1)
	go func() { done <- s.Serve() }()
	t.Cleanup(func() {
		s.Shutdown(t.Context())
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	})
	return s, &logs
}

func httpsClient(ca *tlstest.CA, max uint16) *http.Client {
	return &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: ca.Pool, MaxVersion: max}}}
}

// servedSerial is the serial of the certificate served at addr.
func servedSerial(t *testing.T, c *http.Client, url string) *big.Int {
	t.Helper()
	resp, err := c.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("GET %s: %s", url, resp.Status)
	}
	return resp.TLS.PeerCertificates[0].SerialNumber
}

func TestTLSFilesServeHTTPSOnly12AndUp(t *testing.T) {
	dir := t.TempDir()
	cert, key := filepath.Join(dir, "fullchain.pem"), filepath.Join(dir, "privkey.pem")
	ca := tlstest.NewCA(t)
	serial := ca.Issue(t, cert, key, time.Now().Add(90*24*time.Hour), "127.0.0.1")
	s, _ := startTLSServer(t, TLSOptions{CertFile: cert, KeyFile: key})

	url := "https://" + s.Addr() + "/healthz"
	if got := servedSerial(t, httpsClient(ca, 0), url); got.Cmp(serial) != 0 {
		t.Fatalf("served serial %x, want %x", got, serial)
	}
	if _, err := httpsClient(ca, tls.VersionTLS11).Get(url); err == nil || !strings.Contains(err.Error(), "version") {
		t.Fatalf("TLS 1.1 client: err %v, want a protocol version failure", err)
	}
	// Plain HTTP on the HTTPS port gets no webhook through.
	resp, err := http.Get("http://" + s.Addr() + "/healthz")
	if err == nil {
		resp.Body.Close()
		if resp.StatusCode == 200 {
			t.Fatal("plain HTTP answered 200 on the HTTPS listener")
		}
	}
}

func TestTLSFilesReloadWhenReplaced(t *testing.T) {
	dir := t.TempDir()
	cert, key := filepath.Join(dir, "fullchain.pem"), filepath.Join(dir, "privkey.pem")
	ca := tlstest.NewCA(t)
	first := ca.Issue(t, cert, key, time.Now().Add(20*24*time.Hour), "127.0.0.1")
	s, logs := startTLSServer(t, TLSOptions{CertFile: cert, KeyFile: key, ReloadEvery: 20 * time.Millisecond})
	url := "https://" + s.Addr() + "/healthz"
	// A new connection per request, so each sees the current certificate.
	fresh := func() *http.Client {
		c := httpsClient(ca, 0)
		c.Transport.(*http.Transport).DisableKeepAlives = true
		return c
	}
	if got := servedSerial(t, fresh(), url); got.Cmp(first) != 0 {
		t.Fatalf("serial %x, want %x", got, first)
	}

	// certbot renews: both files replaced.
	second := ca.Issue(t, cert, key, time.Now().Add(90*24*time.Hour), "127.0.0.1")
	waitSerial(t, fresh, url, second)
	if !strings.Contains(logs.String(), "certificate reloaded") {
		t.Errorf("no reload logged:\n%s", logs)
	}

	// A broken renewal (the new key does not match): the old pair goes on
	// being served and the failure is logged once.
	other := filepath.Join(dir, "other")
	ca.Issue(t, other+".pem", other+".key", time.Now().Add(90*24*time.Hour), "127.0.0.1")
	ca.Issue(t, cert, filepath.Join(dir, "unused.key"), time.Now().Add(90*24*time.Hour), "127.0.0.1")
	for range 5 {
		time.Sleep(30 * time.Millisecond)
		if got := servedSerial(t, fresh(), url); got.Cmp(second) != 0 {
			t.Fatalf("after a failed reload serial %x, want the previous %x", got, second)
		}
	}
	if n := strings.Count(logs.String(), "reload failed"); n != 1 {
		t.Fatalf("reload failure logged %d times, want once:\n%s", n, logs)
	}
	if !strings.Contains(logs.String(), "does not match key") {
		t.Errorf("the failure does not say what is wrong:\n%s", logs)
	}
}

func waitSerial(t *testing.T, c func() *http.Client, url string, want *big.Int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		got := servedSerial(t, c(), url)
		if got.Cmp(want) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("still serving %x, want %x", got, want)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestTLSBadFilesAreOneLineErrors(t *testing.T) {
	dir := t.TempDir()
	ca := tlstest.NewCA(t)
	cert, key := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	ca.Issue(t, cert, key, time.Now().Add(90*24*time.Hour), "127.0.0.1")
	ca.Issue(t, filepath.Join(dir, "b.pem"), filepath.Join(dir, "b.key"), time.Now().Add(90*24*time.Hour), "127.0.0.1")
	for _, c := range []struct {
		name string
		o    TLSOptions
		want string
	}{
		{"mismatch", TLSOptions{CertFile: cert, KeyFile: filepath.Join(dir, "b.key")},
			"tls: certificate " + cert + " does not match key " + filepath.Join(dir, "b.key") + ": use the key the certificate was issued for"},
		{"missing cert", TLSOptions{CertFile: filepath.Join(dir, "nope.pem"), KeyFile: key},
			"tls: certificate file " + filepath.Join(dir, "nope.pem") + " does not exist: check --tls-cert (CREDITDESK_TLS_CERT)"},
		{"missing key", TLSOptions{CertFile: cert, KeyFile: filepath.Join(dir, "nope.key")},
			"tls: key file " + filepath.Join(dir, "nope.key") + " does not exist: check --tls-key (CREDITDESK_TLS_KEY)"},
		{"swapped", TLSOptions{CertFile: key, KeyFile: cert}, "swap --tls-cert and --tls-key"},
		{"cert only", TLSOptions{CertFile: cert}, "--tls-cert and --tls-key go together"},
		{"both ways", TLSOptions{CertFile: cert, KeyFile: key, Domains: []string{"pay.example.com"}}, "not both"},
		{"url as domain", TLSOptions{Domains: []string{"https://pay.example.com"}, CacheDir: dir}, "is not a host name"},
		{"address as domain", TLSOptions{Domains: []string{"203.0.113.7"}, CacheDir: dir}, "is an address"},
		{"taken http port", TLSOptions{CertFile: cert, KeyFile: key, HTTPAddr: takenAddr(t)}, "cannot listen on"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := NewTLS(c.o)
			if err == nil {
				t.Fatal("no error")
			}
			if msg := err.Error(); !strings.Contains(msg, c.want) || strings.Contains(msg, "\n") {
				t.Fatalf("error %q\nwant one line containing %q", msg, c.want)
			}
		})
	}
}

func takenAddr(t *testing.T) string {
	ln, err := Listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	return ln.Addr().String()
}

func TestTLSHTTPAddrRedirects(t *testing.T) {
	dir := t.TempDir()
	cert, key := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	tlstest.NewCA(t).Issue(t, cert, key, time.Now().Add(90*24*time.Hour), "127.0.0.1")
	s, _ := startTLSServer(t, TLSOptions{CertFile: cert, KeyFile: key, HTTPAddr: "127.0.0.1:0"})
	plain := s.tls.HTTPAddr()
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := c.Get("http://" + plain + "/healthz?x=1")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if loc := resp.Header.Get("Location"); resp.StatusCode != http.StatusMovedPermanently || loc != "https://127.0.0.1/healthz?x=1" {
		t.Fatalf("GET over http: %s → %q", resp.Status, loc)
	}
	resp, err = c.Post("http://"+plain+DefaultPath, "application/json", strings.NewReader("{}"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("POST over http: %s, want 400 (a webhook is never redirected)", resp.Status)
	}
}
