package stripeapi

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"creditdesk/internal/config"
)

// MinCertValidity is how long the certificate must stay valid for doctor
// to say nothing: certificates from Let's Encrypt are renewed 30 days
// before they expire, so one closer than this means renewal is failing.
const MinCertValidity = 14 * 24 * time.Hour

// httpsTarget is an address doctor checks answers over https; fromDomain
// says it came from --domain (certificates from Let's Encrypt, renewed by
// serve itself) rather than from CREDITDESK_PUBLIC_URL.
type httpsTarget struct {
	url        string
	host       string // host[:port] as dialled
	fromDomain bool
}

// httpsTargets are the domains of cfg.Domain and the public URL's host,
// once each.
func httpsTargets(cfg config.Config) (targets []httpsTarget, findings []Finding) {
	seen := map[string]bool{}
	for _, d := range strings.Split(cfg.Domain, ",") {
		if d = strings.TrimSpace(d); d != "" && !seen[d] {
			seen[d] = true
			targets = append(targets, httpsTarget{url: "https://" + d + "/", host: d, fromDomain: true})
		}
	}
	if cfg.PublicURL != "" {
		u, err := url.Parse(cfg.PublicURL)
		switch {
		case err != nil || u.Host == "":
			// the public url check says so
		case u.Scheme == "http":
			findings = append(findings, Finding{Check: "https", Level: Problem,
				Text: fmt.Sprintf("CREDITDESK_PUBLIC_URL %s is plain http: Stripe sends live-mode webhooks only to https", cfg.PublicURL),
				Fix:  "serve HTTPS (`creditdesk serve --domain " + u.Hostname() + "`, or --tls-cert/--tls-key) and set CREDITDESK_PUBLIC_URL to https://" + u.Host})
		case !seen[u.Host]:
			seen[u.Host] = true
			targets = append(targets, httpsTarget{url: "https://" + u.Host + "/", host: u.Host})
		}
	}
	return targets, findings
}

// httpsFindings checks that each domain and the public URL answer over
// https with a certificate valid for MinCertValidity more, and says what
// to fix otherwise. client is nil for the default (system roots, 10 s).
func httpsFindings(ctx context.Context, cfg config.Config, client *http.Client, now time.Time) []Finding {
	targets, out := httpsTargets(cfg)
	if client == nil {
		client = &http.Client{Timeout: 10 * time.Second}
	}
	// Only the first hop: a redirect elsewhere is not this server.
	c := *client
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	for _, t := range targets {
		out = append(out, checkHTTPS(ctx, &c, t, now))
	}
	return out
}

func checkHTTPS(ctx context.Context, c *http.Client, t httpsTarget, now time.Time) Finding {
	f := Finding{Check: "https"}
	name := t.host
	if h, _, err := net.SplitHostPort(t.host); err == nil {
		name = h
	}
	port := "443"
	if _, p, err := net.SplitHostPort(t.host); err == nil {
		port = p
	}
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, t.url, nil)
	if err != nil {
		f.Level, f.Text, f.Fix = Problem, fmt.Sprintf("%s is not a URL: %v", t.url, err), "set --domain / CREDITDESK_PUBLIC_URL to the server's host name"
		return f
	}
	resp, err := c.Do(req)
	if err != nil {
		f.Level = Problem
		f.Text, f.Fix = httpsFailure(t, name, port, err)
		return f
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	if resp.TLS == nil || len(resp.TLS.PeerCertificates) == 0 {
		f.Level, f.Text, f.Fix = Problem, t.url+" answered without TLS", "serve HTTPS on port "+port+" (--domain or --tls-cert)"
		return f
	}
	leaf := resp.TLS.PeerCertificates[0]
	left := leaf.NotAfter.Sub(now)
	until := leaf.NotAfter.UTC().Format(time.DateOnly)
	issuer := leaf.Issuer.CommonName
	if left < MinCertValidity {
		f.Level = Problem
		f.Text = fmt.Sprintf("the certificate of %s expires on %s (in %s), issued by %s", t.host, until, humanAge(left.Round(time.Hour)), issuer)
		if t.fromDomain {
			f.Fix = "serve renews 30 days before expiry, so renewal is failing: look for `acme:` lines in serve's log; check that " + name +
				"'s DNS points at this server and that ports 443 and 80 are open"
		} else {
			f.Fix = "renew it (`certbot renew`; serve reloads --tls-cert/--tls-key when they change), or let serve get one with --domain " + name
		}
		return f
	}
	f.Level = OK
	f.Text = fmt.Sprintf("%s answers over https; certificate valid until %s (%d days), issued by %s", t.host, until, int(left.Hours()/24), issuer)
	return f
}

// httpsFailure says what a failed https request means and what to fix.
func httpsFailure(t httpsTarget, name, port string, err error) (text, fix string) {
	dnsFix := "add an A (and AAAA) record for " + name + " pointing at this server's public address"
	var dnsErr *net.DNSError
	var hostErr x509.HostnameError
	var authErr x509.UnknownAuthorityError
	var invalid x509.CertificateInvalidError
	var opErr *net.OpError
	var alert tls.AlertError
	var recErr tls.RecordHeaderError
	switch {
	case errors.As(err, &dnsErr):
		return fmt.Sprintf("%s does not resolve: %s", name, oneLine(dnsErr.Error())), dnsFix
	case errors.As(err, &hostErr):
		return fmt.Sprintf("%s presents a certificate for other names: %s", t.host, oneLine(hostErr.Error())),
			"DNS for " + name + " may point at another server; else serve with --domain " + name + " or a certificate that names it"
	case errors.As(err, &authErr):
		return fmt.Sprintf("%s presents a certificate no browser or Stripe trusts (self-signed or from a staging CA)", t.host),
			"use a certificate from a public CA: drop --acme-directory (Let's Encrypt production) or give --tls-cert the full chain"
	case errors.As(err, &invalid) && invalid.Reason == x509.Expired:
		return fmt.Sprintf("the certificate of %s has expired: %s", t.host, oneLine(invalid.Error())),
			"renew it (`certbot renew`), or let serve get and renew one with --domain " + name
	case errors.As(err, &recErr) || strings.Contains(err.Error(), "server gave HTTP response to HTTPS client"):
		return fmt.Sprintf("%s answers on port %s without TLS (plain http?)", t.host, port),
			"serve HTTPS there (`creditdesk serve --domain " + name + "` or --tls-cert/--tls-key)"
	case errors.As(err, &alert) || strings.Contains(err.Error(), "remote error: tls"):
		return fmt.Sprintf("%s refused the TLS handshake: %s", t.host, oneLine(err.Error())),
			"serve has no certificate for " + name + " yet: its log says why (`acme:` lines); check that DNS points here and ports 443 and 80 are open"
	case errors.As(err, &opErr) && opErr.Op == "dial":
		return fmt.Sprintf("nothing answers at %s:%s (%s)", name, port, oneLine(opErr.Err.Error())),
			"check that " + name + "'s DNS points at this server, that port " + port + " (and 80) is open in the firewall, and that serve is running with --domain " + name
	}
	if errors.Is(err, context.DeadlineExceeded) || strings.Contains(err.Error(), "Client.Timeout") {
		return fmt.Sprintf("%s did not answer within the timeout", t.url),
			"port " + port + " is probably filtered: open ports 443 and 80 in the firewall; check that " + name + "'s DNS points at this server"
	}
	return fmt.Sprintf("%s does not answer over https: %s", t.url, oneLine(err.Error())),
		"check that " + name + "'s DNS points at this server and that ports 443 and 80 are open"
}
