package webhook

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io/fs"
	"log"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	"golang.org/x/crypto/acme"
	"golang.org/x/crypto/acme/autocert"
)

// LetsEncryptURL is the ACME directory used when TLSOptions.DirectoryURL is
// empty: Let's Encrypt production.
const LetsEncryptURL = acme.LetsEncryptURL

// DefaultReloadEvery is how often, at most, the certificate files are
// checked for a change.
const DefaultReloadEvery = 5 * time.Second

// TLSOptions is how the server speaks HTTPS: either a certificate and key
// read from files (CertFile, KeyFile; reloaded when they change), or
// certificates from an ACME CA for Domains (Let's Encrypt unless
// DirectoryURL says otherwise), cached in CacheDir.
type TLSOptions struct {
	CertFile string
	KeyFile  string

	Domains []string
	// CacheDir keeps the ACME account key and the certificates; created
	// mode 0700.
	CacheDir     string
	Email        string
	DirectoryURL string

	// HTTPAddr is a plain-HTTP listener served beside the HTTPS one: with
	// Domains it answers HTTP-01 challenges and redirects everything else
	// to https; with files it only redirects. Empty: none.
	HTTPAddr string

	// ReloadEvery is how often, at most, the files are checked
	// (DefaultReloadEvery when 0).
	ReloadEvery time.Duration
	Log         *slog.Logger
}

// TLS is HTTPS prepared for a Server (Server.UseTLS): the tls.Config, and
// the plain-HTTP listener on HTTPAddr, already bound, which Serve starts
// and Shutdown stops with the main server.
type TLS struct {
	// Config is TLS 1.2 and up; its GetCertificate reads the files or asks
	// the ACME CA.
	Config *tls.Config
	opt    TLSOptions
	log    *slog.Logger
	acme   *autocert.Manager
	files  *certFiles

	httpLn  net.Listener
	httpSrv *http.Server

	mu       sync.Mutex
	warnedAt map[string]time.Time // domain → last failure logged
}

// NewTLS checks the options and prepares HTTPS: the certificate files must
// exist and match (each problem a one-line error naming the fix), the
// cache directory must be creatable, and HTTPAddr is bound now so that a
// taken port is found at start.
func NewTLS(o TLSOptions) (*TLS, error) {
	t := &TLS{opt: o, log: o.Log, warnedAt: map[string]time.Time{}}
	if t.log == nil {
		t.log = slog.New(slog.DiscardHandler)
	}
	switch {
	case len(o.Domains) > 0 && (o.CertFile != "" || o.KeyFile != ""):
		return nil, errors.New("tls: give either --domain (certificates from Let's Encrypt) or --tls-cert and --tls-key, not both")
	case len(o.Domains) > 0:
		if err := t.setupACME(); err != nil {
			return nil, err
		}
	case o.CertFile == "" || o.KeyFile == "":
		return nil, errors.New("tls: --tls-cert and --tls-key go together: give the certificate file and its key file")
	default:
		f, err := newCertFiles(o.CertFile, o.KeyFile, o.ReloadEvery, t.log)
		if err != nil {
			return nil, err
		}
		t.files = f
		t.Config = &tls.Config{MinVersion: tls.VersionTLS12, GetCertificate: f.get}
		if left := time.Until(f.current.Leaf.NotAfter); left < 14*24*time.Hour {
			t.log.Warn("tls: the certificate expires soon; renew it (creditdesk reloads the files when they change)",
				"cert", o.CertFile, "not_after", f.current.Leaf.NotAfter.UTC().Format(time.DateOnly))
		}
	}
	if o.HTTPAddr != "" {
		ln, err := Listen(o.HTTPAddr)
		if err != nil {
			return nil, fmt.Errorf("%w (or --http-addr)", err)
		}
		t.httpLn = ln
		var h http.Handler = redirectToHTTPS{}
		if t.acme != nil {
			h = t.acme.HTTPHandler(h)
		}
		t.httpSrv = &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 10 * time.Second,
			WriteTimeout: 10 * time.Second, IdleTimeout: 60 * time.Second, MaxHeaderBytes: MaxHeaderBytes,
			ErrorLog: quietLog(t.log)}
	}
	return t, nil
}

func (t *TLS) setupACME() error {
	o := t.opt
	for _, d := range o.Domains {
		if err := checkDomain(d); err != nil {
			return err
		}
	}
	if o.CacheDir == "" {
		return errors.New("acme: no certificate cache directory")
	}
	if err := os.MkdirAll(o.CacheDir, 0o700); err != nil {
		return fmt.Errorf("acme: cannot create the certificate cache %s: %v: run creditdesk as a user who may write beside the database (--db)", o.CacheDir, oneLine(err))
	}
	if err := os.Chmod(o.CacheDir, 0o700); err != nil {
		return fmt.Errorf("acme: cannot make the certificate cache %s private (mode 0700): %v: run creditdesk as the directory's owner", o.CacheDir, oneLine(err))
	}
	dir := o.DirectoryURL
	if dir == "" {
		dir = LetsEncryptURL
	}
	t.opt.DirectoryURL = dir
	t.acme = &autocert.Manager{
		Prompt:     autocert.AcceptTOS,
		HostPolicy: autocert.HostWhitelist(o.Domains...),
		Cache:      autocert.DirCache(o.CacheDir),
		Email:      o.Email,
		Client: &acme.Client{DirectoryURL: dir,
			HTTPClient: &http.Client{Transport: newOrderLocations(http.DefaultTransport)}},
	}
	c := t.acme.TLSConfig()
	c.MinVersion = tls.VersionTLS12
	c.GetCertificate = t.acmeCertificate
	t.Config = c
	return nil
}

// checkDomain refuses what is not a host name: a URL, a port, an address.
func checkDomain(d string) error {
	switch {
	case strings.Contains(d, "://") || strings.ContainsAny(d, "/:@ "):
		return fmt.Errorf("acme: --domain %q is not a host name: give names like pay.example.com (no scheme, port or path)", d)
	case net.ParseIP(d) != nil:
		return fmt.Errorf("acme: --domain %s is an address: Let's Encrypt certifies names; point a name's DNS at it and give that", d)
	case !strings.Contains(strings.Trim(d, "."), "."):
		return fmt.Errorf("acme: --domain %q is not a full domain name: give names like pay.example.com", d)
	}
	return nil
}

// Domains is the names certificates are obtained for (nil with files).
func (t *TLS) Domains() []string {
	if t == nil || t.acme == nil {
		return nil
	}
	return t.opt.Domains
}

// Directory is the ACME directory URL ("" with files).
func (t *TLS) Directory() string {
	if t == nil || t.acme == nil {
		return ""
	}
	return t.opt.DirectoryURL
}

// HTTPAddr is the bound plain-HTTP address, "" without one.
func (t *TLS) HTTPAddr() string {
	if t == nil || t.httpLn == nil {
		return ""
	}
	return t.httpLn.Addr().String()
}

// URL is the base URL the server answers at: https://DOMAIN with
// certificates from ACME (with :port unless 443), https://ADDR with files,
// http://ADDR on a nil *TLS. addr is the bound listen address.
func (t *TLS) URL(addr string) string {
	if t == nil {
		return "http://" + addr
	}
	if len(t.Domains()) > 0 {
		host := t.opt.Domains[0]
		if _, port, err := net.SplitHostPort(addr); err == nil && port != "443" {
			host = net.JoinHostPort(host, port)
		}
		return "https://" + host
	}
	return "https://" + addr
}

// Close releases the plain-HTTP listener of a TLS never served.
func (t *TLS) Close() error {
	if t == nil || t.httpLn == nil {
		return nil
	}
	return t.httpLn.Close()
}

// acmeCertificate is GetCertificate with a failure for one of our domains
// logged as one line naming the fix, at most once a minute per domain.
// Other names (scanners, bare addresses) fail silently, as they should.
func (t *TLS) acmeCertificate(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
	cert, err := t.acme.GetCertificate(hello)
	if err != nil && t.isDomain(hello.ServerName) && len(hello.SupportedProtos) != 1 {
		t.certFailed(hello.ServerName, err)
	}
	return cert, err
}

func (t *TLS) isDomain(name string) bool {
	name = strings.TrimSuffix(strings.ToLower(name), ".")
	for _, d := range t.opt.Domains {
		if strings.EqualFold(strings.TrimSuffix(d, "."), name) {
			return true
		}
	}
	return false
}

func (t *TLS) certFailed(domain string, err error) {
	t.mu.Lock()
	last, seen := t.warnedAt[domain]
	if seen && time.Since(last) < time.Minute {
		t.mu.Unlock()
		return
	}
	t.warnedAt[domain] = time.Now()
	t.mu.Unlock()
	t.log.Error(CertFailure(domain, t.opt.DirectoryURL, err))
}

// CertFailure is the one line logged when no certificate could be obtained
// for domain: what the CA said, and what to fix.
func CertFailure(domain, directory string, err error) string {
	msg := oneLine(err)
	fix := fmt.Sprintf("point %s's DNS (A/AAAA record) at this server and open ports 443 and 80 to the internet (--addr, --http-addr)", domain)
	switch {
	case strings.Contains(msg, "no viable challenge type"):
		msg = "the CA could not reach this server for " + domain + " on port 443 (TLS-ALPN-01) nor on port 80 (HTTP-01)"
	case strings.Contains(msg, "rateLimited") || strings.Contains(msg, "too many"):
		fix = "wait until the CA's rate limit allows another order (see its message); test with --acme-directory pointing at Let's Encrypt staging"
	case strings.Contains(msg, "rejectedIdentifier") || strings.Contains(msg, "error:caa"):
		fix = "the CA refuses " + domain + ": check the name and its CAA DNS records"
	}
	return fmt.Sprintf("acme: no certificate for %s from %s: %s: %s", domain, directory, msg, fix)
}

// warmUp asks for each domain's certificate as soon as the server serves,
// so that a failed challenge is in the log at start and the first webhook
// does not wait for an order. The hello looks like a modern client's
// (ECDSA), which is what autocert keys the cached certificate by.
func (t *TLS) warmUp() {
	for _, d := range t.opt.Domains {
		go func() {
			cert, err := t.acmeCertificate(&tls.ClientHelloInfo{
				ServerName:       d,
				CipherSuites:     []uint16{tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256},
				SignatureSchemes: []tls.SignatureScheme{tls.ECDSAWithP256AndSHA256},
				SupportedCurves:  []tls.CurveID{tls.CurveP256},
			})
			if err == nil && cert.Leaf != nil {
				t.log.Info("https certificate", "domain", d, "not_after", cert.Leaf.NotAfter.UTC().Format(time.RFC3339),
					"serial", cert.Leaf.SerialNumber.Text(16))
			}
		}()
	}
}

// UseTLS makes Serve speak HTTPS with t (nil: plain HTTP) and serve t's
// plain-HTTP listener beside it; Shutdown stops both. Call before Serve.
func (s *Server) UseTLS(t *TLS) {
	s.tls = t
	if t != nil {
		s.http.ErrorLog = quietLog(t.log)
	}
}

// serveTLS is Serve for a server with TLS: the plain-HTTP listener first
// (HTTP-01 challenges need it), then HTTPS on ln.
func (s *Server) serveTLS(ln net.Listener) error {
	t := s.tls
	if t.httpSrv != nil {
		go func() {
			if err := t.httpSrv.Serve(t.httpLn); err != nil && !errors.Is(err, http.ErrServerClosed) {
				t.log.Error("http listener stopped", "addr", t.HTTPAddr(), "err", err)
			}
		}()
	}
	if t.acme != nil {
		t.warmUp()
	}
	s.http.TLSConfig = t.Config
	return s.http.ServeTLS(ln, "", "")
}

func (t *TLS) shutdown(ctx context.Context) error {
	if t == nil || t.httpSrv == nil {
		return nil
	}
	return t.httpSrv.Shutdown(ctx)
}

// redirectToHTTPS sends GET and HEAD to the same URL over https (port 443);
// anything else is refused, since a webhook POST must not be followed over
// plain HTTP.
type redirectToHTTPS struct{}

func (redirectToHTTPS) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		http.Error(w, "use https", http.StatusBadRequest)
		return
	}
	host := r.Host
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	http.Redirect(w, r, "https://"+host+r.URL.RequestURI(), http.StatusMovedPermanently)
}

// quietLog is net/http's error log for a public TLS listener: handshake
// failures (scanners, clients asking for other names) are dropped, as the
// failures that matter are logged by acmeCertificate; the rest goes to log
// as warnings.
func quietLog(l *slog.Logger) *log.Logger {
	return log.New(logWriter{l}, "", 0)
}

type logWriter struct{ l *slog.Logger }

func (w logWriter) Write(p []byte) (int, error) {
	msg := string(bytes.TrimSpace(p))
	if !strings.Contains(msg, "TLS handshake error") {
		w.l.Warn(msg)
	}
	return len(p), nil
}

// certFiles is a certificate and key read from files, re-read when either
// file changes (certbot renewing in place or swapping symlinks), looked at
// no more often than every. A failed reload keeps the previous pair and is
// logged once.
type certFiles struct {
	certPath, keyPath string
	every             time.Duration
	log               *slog.Logger

	mu      sync.Mutex
	current *tls.Certificate
	stamp   [2]os.FileInfo
	checked time.Time
	lastErr string // the reload failure logged last, so each is logged once
}

func newCertFiles(cert, key string, every time.Duration, log *slog.Logger) (*certFiles, error) {
	if every <= 0 {
		every = DefaultReloadEvery
	}
	f := &certFiles{certPath: cert, keyPath: key, every: every, log: log}
	st, err := f.stat()
	if err != nil {
		return nil, err
	}
	c, err := LoadKeyPair(cert, key)
	if err != nil {
		return nil, err
	}
	f.current, f.stamp, f.checked = c, st, time.Now()
	return f, nil
}

func (f *certFiles) stat() ([2]os.FileInfo, error) {
	var st [2]os.FileInfo
	for i, p := range []string{f.certPath, f.keyPath} {
		fi, err := os.Stat(p)
		if err != nil {
			return st, fileError(i == 0, p, err)
		}
		st[i] = fi
	}
	return st, nil
}

func sameStamp(a, b [2]os.FileInfo) bool {
	for i := range a {
		if a[i] == nil || b[i] == nil || !os.SameFile(a[i], b[i]) || !a[i].ModTime().Equal(b[i].ModTime()) || a[i].Size() != b[i].Size() {
			return false
		}
	}
	return true
}

func (f *certFiles) get(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if time.Since(f.checked) < f.every {
		return f.current, nil
	}
	f.checked = time.Now()
	st, err := f.stat()
	if err == nil && sameStamp(st, f.stamp) {
		return f.current, nil
	}
	var c *tls.Certificate
	if err == nil {
		c, err = LoadKeyPair(f.certPath, f.keyPath)
	}
	if err != nil {
		if err.Error() != f.lastErr {
			f.lastErr = err.Error()
			f.log.Error("tls: reload failed, still serving the previous certificate: " + err.Error())
		}
		return f.current, nil
	}
	f.current, f.stamp, f.lastErr = c, st, ""
	f.log.Info("tls: certificate reloaded", "cert", f.certPath, "not_after", c.Leaf.NotAfter.UTC().Format(time.RFC3339),
		"serial", c.Leaf.SerialNumber.Text(16))
	return c, nil
}

// LoadKeyPair reads a PEM certificate chain and its private key; each
// problem is one line naming the fix.
func LoadKeyPair(certPath, keyPath string) (*tls.Certificate, error) {
	certPEM, err := os.ReadFile(certPath)
	if err != nil {
		return nil, fileError(true, certPath, err)
	}
	keyPEM, err := os.ReadFile(keyPath)
	if err != nil {
		return nil, fileError(false, keyPath, err)
	}
	c, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		msg := err.Error()
		switch {
		case strings.Contains(msg, "does not match"):
			return nil, fmt.Errorf("tls: certificate %s does not match key %s: use the key the certificate was issued for", certPath, keyPath)
		case strings.Contains(msg, "switched"):
			return nil, fmt.Errorf("tls: %s holds a key and %s a certificate: swap --tls-cert and --tls-key", certPath, keyPath)
		case strings.Contains(msg, "certificate input"):
			return nil, fmt.Errorf("tls: %s holds no PEM certificate: give --tls-cert the certificate chain (fullchain.pem with certbot)", certPath)
		}
		return nil, fmt.Errorf("tls: %s holds no usable private key (%s): give --tls-key the certificate's key (privkey.pem with certbot)", keyPath, oneLine(err))
	}
	return &c, nil
}

func fileError(isCert bool, path string, err error) error {
	what, flag := "key", "--tls-key (CREDITDESK_TLS_KEY)"
	if isCert {
		what, flag = "certificate", "--tls-cert (CREDITDESK_TLS_CERT)"
	}
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("tls: %s file %s does not exist: check %s", what, path, flag)
	case errors.Is(err, fs.ErrPermission):
		return fmt.Errorf("tls: cannot read %s file %s (permission denied): let the user running creditdesk read it", what, path)
	}
	return fmt.Errorf("tls: cannot read %s file %s: %s: check %s", what, path, oneLine(err), flag)
}

func oneLine(err error) string {
	return strings.Join(strings.Fields(err.Error()), " ")
}
