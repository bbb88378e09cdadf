package stripeapi

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"creditdesk/internal/config"
	"creditdesk/internal/tlstest"
)

// httpsServer serves HTTPS on loopback with a certificate for hosts valid
// until notAfter, and returns a client that trusts it and reaches it
// whatever host a URL names (as DNS pointing here would).
func httpsServer(t *testing.T, notAfter time.Time, hosts ...string) *http.Client {
	t.Helper()
	dir := t.TempDir()
	ca := tlstest.NewCA(t)
	certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	ca.Issue(t, certFile, keyFile, notAfter, hosts...)
	pair, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("ok")) }))
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{pair}}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return clientTo(srv.Listener.Addr().String(), &tls.Config{RootCAs: ca.Pool})
}

func clientTo(addr string, tc *tls.Config) *http.Client {
	return &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: tc,
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, network, addr)
		}}}
}

func httpsOnly(fs []Finding) []Finding {
	var out []Finding
	for _, f := range fs {
		if f.Check == "https" {
			out = append(out, f)
		}
	}
	return out
}

func TestDoctorChecksHTTPSAndTheCertificate(t *testing.T) {
	now := time.Now()
	closed := func() string {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		return ln.Addr().String()
	}()
	plain := httptest.NewServer(http.NotFoundHandler())
	defer plain.Close()
	refusing := httptest.NewUnstartedServer(http.NotFoundHandler())
	refusing.TLS = &tls.Config{GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) {
		return nil, errors.New("acme/autocert: no certificate yet")
	}}
	refusing.StartTLS()
	defer refusing.Close()
	noDNS := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DialContext: (&net.Dialer{Resolver: &net.Resolver{PreferGo: true,
		Dial: func(context.Context, string, string) (net.Conn, error) {
			return nil, errors.New("no DNS server in this test")
		}}}).DialContext}}

	for _, c := range []struct {
		name   string
		cfg    config.Config
		client *http.Client
		level  Level
		text   string
		fix    string
	}{
		{"valid", config.Config{Domain: "pay.example.com"}, httpsServer(t, now.Add(60*24*time.Hour), "pay.example.com"),
			OK, "pay.example.com answers over https; certificate valid until " + now.Add(60*24*time.Hour).UTC().Format(time.DateOnly), ""},
		{"expiring, from --domain", config.Config{Domain: "pay.example.com"}, httpsServer(t, now.Add(5*24*time.Hour), "pay.example.com"),
			Problem, "the certificate of pay.example.com expires on " + now.Add(5*24*time.Hour).UTC().Format(time.DateOnly), "renewal is failing"},
		{"expiring, public url", config.Config{PublicURL: "https://billing.example.com"}, httpsServer(t, now.Add(3*24*time.Hour), "billing.example.com"),
			Problem, "expires on", "certbot renew"},
		{"other name", config.Config{Domain: "pay.example.com"}, httpsServer(t, now.Add(60*24*time.Hour), "www.example.org"),
			Problem, "presents a certificate for other names", "DNS for pay.example.com may point at another server"},
		{"untrusted", config.Config{Domain: "pay.example.com"}, func() *http.Client {
			c := httpsServer(t, now.Add(60*24*time.Hour), "pay.example.com")
			c.Transport.(*http.Transport).TLSClientConfig.RootCAs = nil
			return c
		}(), Problem, "no browser or Stripe trusts", "public CA"},
		{"port closed", config.Config{PublicURL: "https://" + closed}, nil,
			Problem, "nothing answers at " + closed, "port " + closed[strings.LastIndex(closed, ":")+1:] + " (and 80) is open in the firewall"},
		{"no dns", config.Config{Domain: "pay.example.com"}, noDNS,
			Problem, "pay.example.com does not resolve", "add an A (and AAAA) record for pay.example.com"},
		{"plain http on the https port", config.Config{PublicURL: "https://" + plain.Listener.Addr().String()}, nil,
			Problem, "without TLS", "serve HTTPS there"},
		{"handshake refused", config.Config{Domain: "pay.example.com"}, clientTo(refusing.Listener.Addr().String(), &tls.Config{}),
			Problem, "refused the TLS handshake", "serve has no certificate for pay.example.com yet"},
		{"http public url", config.Config{PublicURL: "http://billing.example.com"}, nil,
			Problem, "is plain http: Stripe sends live-mode webhooks only to https", "--domain billing.example.com"},
	} {
		t.Run(c.name, func(t *testing.T) {
			fs := httpsOnly(Doctor(context.Background(), DoctorInput{Config: c.cfg, HTTPS: c.client, Now: now}))
			if len(fs) != 1 {
				t.Fatalf("%d https findings: %v", len(fs), fs)
			}
			f := fs[0]
			if f.Level != c.level || !strings.Contains(f.Text, c.text) || !strings.Contains(f.Fix, c.fix) || strings.Contains(f.String(), "\n") {
				t.Fatalf("got %s\nwant %s, text with %q, fix with %q", f, c.level, c.text, c.fix)
			}
		})
	}
	// Neither a domain nor a public URL: nothing to check.
	if fs := httpsOnly(Doctor(context.Background(), DoctorInput{Now: now})); len(fs) != 0 {
		t.Fatalf("https findings without a domain: %v", fs)
	}
}
