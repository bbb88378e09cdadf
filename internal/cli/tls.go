package cli

import (
	"errors"
	"flag"
	"log/slog"
	"os"
	"strings"

	"creditdesk/internal/config"
	"creditdesk/webhook"
)

// tlsOptions is how serve speaks HTTPS: certificate files (--tls-cert,
// --tls-key) or certificates from Let's Encrypt for --domain. Neither is
// plain HTTP, as before.
type tlsOptions struct {
	cert, key string
	// domain points at config.Config.Domain, which doctor reads too.
	domain    *string
	email     string
	directory string
	httpAddr  string
	fs        *flag.FlagSet
}

// tlsFlags adds serve's HTTPS flags to fs; defaults from CREDITDESK_TLS_CERT,
// CREDITDESK_TLS_KEY, CREDITDESK_DOMAIN (into cfg.Domain),
// CREDITDESK_ACME_EMAIL, CREDITDESK_ACME_DIRECTORY and CREDITDESK_HTTP_ADDR.
func tlsFlags(fs *flag.FlagSet, cfg *config.Config) *tlsOptions {
	o := &tlsOptions{cert: os.Getenv("CREDITDESK_TLS_CERT"), key: os.Getenv("CREDITDESK_TLS_KEY"), domain: &cfg.Domain,
		email: os.Getenv("CREDITDESK_ACME_EMAIL"), directory: os.Getenv("CREDITDESK_ACME_DIRECTORY"),
		httpAddr: os.Getenv("CREDITDESK_HTTP_ADDR"), fs: fs}
	fs.StringVar(&o.cert, "tls-cert", o.cert, "serve HTTPS with this PEM certificate chain, reloaded when it changes (CREDITDESK_TLS_CERT; with --tls-key)")
	fs.StringVar(&o.key, "tls-key", o.key, "the certificate's PEM private key (CREDITDESK_TLS_KEY)")
	fs.StringVar(o.domain, "domain", *o.domain,
		"serve HTTPS for these names, comma-separated, with certificates from Let's Encrypt; --addr then defaults to :443 (CREDITDESK_DOMAIN)")
	fs.StringVar(&o.email, "acme-email", o.email, "contact address given to the CA for expiry notices (CREDITDESK_ACME_EMAIL)")
	fs.StringVar(&o.directory, "acme-directory", o.directory,
		"ACME directory URL, e.g. Let's Encrypt staging (CREDITDESK_ACME_DIRECTORY; default "+webhook.LetsEncryptURL+")")
	fs.StringVar(&o.httpAddr, "http-addr", o.httpAddr,
		"plain-HTTP address answering ACME HTTP-01 challenges and redirecting to https (CREDITDESK_HTTP_ADDR; default :80 with --domain)")
	return o
}

// domains is --domain split at commas.
func (o *tlsOptions) domains() []string {
	var out []string
	for _, d := range strings.Split(*o.domain, ",") {
		if d = strings.TrimSpace(d); d != "" {
			out = append(out, d)
		}
	}
	return out
}

// prepare checks the HTTPS options and readies them for the server: nil
// (plain HTTP) without --tls-cert, --tls-key or --domain. With --domain,
// cfg.Addr becomes :443 unless --addr or CREDITDESK_ADDR says otherwise,
// and the certificate cache is cfg.DB + ".certs". Each mistake is one line
// naming the fix. Call before binding cfg.Addr; a nil *tlsOptions (a
// command other than serve) is plain HTTP.
func (o *tlsOptions) prepare(cfg *config.Config, log *slog.Logger) (*webhook.TLS, error) {
	if o == nil {
		return nil, nil
	}
	domains := o.domains()
	if len(domains) == 0 && o.cert == "" && o.key == "" {
		for _, f := range []string{"acme-email", "acme-directory", "http-addr"} {
			if isSet(o.fs, f) {
				return nil, errors.New("--" + f + " needs --domain NAME (or --tls-cert and --tls-key for --http-addr)")
			}
		}
		return nil, nil
	}
	opt := webhook.TLSOptions{CertFile: o.cert, KeyFile: o.key, Domains: domains, Email: o.email,
		DirectoryURL: o.directory, HTTPAddr: o.httpAddr, Log: log}
	if len(domains) > 0 {
		if !isSet(o.fs, "addr") && os.Getenv("CREDITDESK_ADDR") == "" {
			cfg.Addr = ":443"
		}
		if opt.HTTPAddr == "" {
			opt.HTTPAddr = ":80"
		}
		opt.CacheDir = cfg.DB + ".certs"
	} else if isSet(o.fs, "acme-email") || isSet(o.fs, "acme-directory") {
		return nil, errors.New("--acme-email and --acme-directory go with --domain, not with --tls-cert")
	}
	t, err := webhook.NewTLS(opt)
	if err != nil {
		return nil, err
	}
	if len(domains) > 0 {
		log.Info("https with certificates from ACME", "domains", strings.Join(domains, ","), "directory", t.Directory(),
			"cache", opt.CacheDir, "addr", cfg.Addr, "http_addr", t.HTTPAddr())
	} else {
		log.Info("https with certificate files (reloaded when they change)", "cert", o.cert, "key", o.key, "addr", cfg.Addr)
	}
	return t, nil
}
