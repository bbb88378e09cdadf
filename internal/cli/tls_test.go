package cli

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"creditdesk/internal/tlstest"
)

// startServeWith runs `creditdesk serve args...` and waits until healthURL
// answers 200 through client.
func startServeWith(t *testing.T, bin string, env []string, client *http.Client, healthURL string, args ...string) *tlsChild {
	t.Helper()
	cmd := exec.Command(bin, append([]string{"serve"}, args...)...)
	cmd.Env = append(os.Environ(), append([]string{"STRIPE_WEBHOOK_SECRET=" + crashSecret, "STRIPE_SECRET_KEY="}, env...)...)
	cmd.Dir = t.TempDir()
	out := &syncBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	c := &tlsChild{cmd: cmd, logs: out, exited: exited}
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-exited
		if t.Failed() {
			t.Logf("serve output:\n%s", out.String())
		}
	})
	deadline := time.Now().Add(90 * time.Second)
	var lastErr error
	for time.Now().Before(deadline) {
		select {
		case <-exited:
			t.Fatalf("serve exited:\n%s", out.String())
		default:
		}
		resp, err := client.Get(healthURL)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return c
			}
		}
		lastErr = err
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("serve did not become healthy at %s (%v):\n%s", healthURL, lastErr, out.String())
	return nil
}

// tlsChild is a running serve with its output.
type tlsChild struct {
	cmd    *exec.Cmd
	logs   *syncBuffer
	exited chan struct{}
}

// stopServe sends SIGTERM and waits for a clean exit.
func stopServe(t *testing.T, c *tlsChild) {
	t.Helper()
	c.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-c.exited:
	case <-time.After(10 * time.Second):
		t.Fatalf("serve did not exit within 10s of SIGTERM:\n%s", c.logs.String())
	}
}

// serialAt is the serial of the certificate client is served at url, over
// a fresh connection.
func serialAt(t *testing.T, client *http.Client, url string) *big.Int {
	t.Helper()
	client.Transport.(*http.Transport).CloseIdleConnections()
	resp, err := client.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.TLS.PeerCertificates[0].SerialNumber
}

func TestServeHTTPSWithCertificateFiles(t *testing.T) {
	bin := buildBinary(t)
	dir := t.TempDir()
	cert, key := filepath.Join(dir, "fullchain.pem"), filepath.Join(dir, "privkey.pem")
	ca := tlstest.NewCA(t)
	first := ca.Issue(t, cert, key, time.Now().Add(30*24*time.Hour), "127.0.0.1")
	addr := freeAddr(t)
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: ca.Pool}}}
	c := startServeWith(t, bin, []string{"CREDITDESK_TLS_KEY=" + key}, client, "https://"+addr+"/healthz",
		"--db", filepath.Join(dir, "files.db"), "--addr", addr, "--tls-cert", cert)

	_, _, body := packEvent(1)
	if code, err := deliver(client, "https://"+addr+"/api/stripe/webhook", body); err != nil || code != 200 {
		t.Fatalf("signed webhook over https: %d %v", code, err)
	}
	if !strings.Contains(c.logs.String(), "webhook=https://"+addr+"/api/stripe/webhook") {
		t.Errorf("serve does not log its https webhook URL:\n%s", c.logs.String())
	}
	old := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: ca.Pool, MaxVersion: tls.VersionTLS11}}}
	if _, err := old.Get("https://" + addr + "/healthz"); err == nil {
		t.Fatal("a TLS 1.1 client was served")
	}

	// Renewal: the files are replaced; within the reload interval the new
	// certificate is served, with no restart.
	second := ca.Issue(t, cert, key, time.Now().Add(90*24*time.Hour), "127.0.0.1")
	deadline := time.Now().Add(15 * time.Second)
	for got := serialAt(t, client, "https://"+addr+"/healthz"); got.Cmp(second) != 0; got = serialAt(t, client, "https://"+addr+"/healthz") {
		if got.Cmp(first) != 0 {
			t.Fatalf("serial %x is neither the first nor the renewed certificate", got)
		}
		if time.Now().After(deadline) {
			t.Fatalf("still serving %x 15s after the files were replaced:\n%s", got, c.logs.String())
		}
		time.Sleep(200 * time.Millisecond)
	}
	stopServe(t, c)
}

func TestServeRefusesBadCertificateFiles(t *testing.T) {
	bin := buildBinary(t)
	dir := t.TempDir()
	ca := tlstest.NewCA(t)
	cert, key := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	ca.Issue(t, cert, key, time.Now().Add(30*24*time.Hour), "127.0.0.1")
	ca.Issue(t, filepath.Join(dir, "other.pem"), filepath.Join(dir, "other.key"), time.Now().Add(30*24*time.Hour), "127.0.0.1")
	db := filepath.Join(dir, "bad.db")
	for _, c := range []struct {
		name string
		args []string
		want string
	}{
		{"mismatch", []string{"--tls-cert", cert, "--tls-key", filepath.Join(dir, "other.key")},
			"tls: certificate " + cert + " does not match key " + filepath.Join(dir, "other.key") + ": use the key the certificate was issued for"},
		{"missing", []string{"--tls-cert", filepath.Join(dir, "missing.pem"), "--tls-key", key},
			"tls: certificate file " + filepath.Join(dir, "missing.pem") + " does not exist"},
		{"domain is a url", []string{"--domain", "https://pay.example.com"}, "is not a host name"},
	} {
		t.Run(c.name, func(t *testing.T) {
			cmd := exec.Command(bin, append([]string{"serve", "--db", db, "--addr", freeAddr(t)}, c.args...)...)
			cmd.Env = append(os.Environ(), "STRIPE_WEBHOOK_SECRET="+crashSecret, "STRIPE_SECRET_KEY=")
			cmd.Dir = t.TempDir()
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			err := cmd.Run()
			if err == nil {
				t.Fatal("serve started")
			}
			msg := strings.TrimSpace(stderr.String())
			if !strings.Contains(msg, c.want) || strings.Count(msg, "\n") > 0 {
				t.Fatalf("stderr %q\nwant one line containing %q", msg, c.want)
			}
		})
	}
	if _, err := os.Stat(db); err == nil {
		t.Error("a refused start left a database behind")
	}
}

// pebble is a running Pebble ACME server with its DNS (pebble-challtestsrv)
// on loopback ports.
type pebble struct {
	dirURL  string
	mgmt    string // Pebble's management address
	dnsMgmt string // pebble-challtestsrv's management address
	minica  string // the CA file for Pebble's own HTTPS (SSL_CERT_FILE)
	roots   *x509.CertPool
	testDir string
}

// repoBin is bin/NAME in the repository root.
func repoBin(name string) string {
	dir, _ := os.Getwd()
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return filepath.Join(dir, "bin", name)
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return ""
		}
		dir = parent
	}
}

const pebbleVersion = "v2.10.3"

// startPebble starts pebble-challtestsrv answering every name with
// 127.0.0.1, and Pebble validating challenges at tlsPort (TLS-ALPN-01) and
// httpPort (HTTP-01) of that address. Skips when the binaries are not
// installed (`make pebble`).
func startPebble(t *testing.T, tlsPort, httpPort string) *pebble {
	t.Helper()
	pb, cs := repoBin("pebble"), repoBin("pebble-challtestsrv")
	for _, b := range []string{pb, cs} {
		if _, err := os.Stat(b); err != nil {
			t.Skipf("%s is not installed: run `make pebble` in the repository root (GOBIN=$PWD/bin go install github.com/letsencrypt/pebble/v2/cmd/pebble@%s github.com/letsencrypt/pebble/v2/cmd/pebble-challtestsrv@%s)",
				b, pebbleVersion, pebbleVersion)
		}
	}
	// Pebble's test certificates for its own HTTPS come with its module.
	dl := exec.Command("go", "mod", "download", "-json", "github.com/letsencrypt/pebble/v2@"+pebbleVersion)
	dl.Dir = t.TempDir()
	out, err := dl.Output()
	if err != nil {
		t.Fatalf("go mod download pebble: %v", err)
	}
	var mod struct{ Dir string }
	if err := json.Unmarshal(out, &mod); err != nil || mod.Dir == "" {
		t.Fatalf("go mod download pebble: %q", out)
	}
	p := &pebble{minica: filepath.Join(mod.Dir, "test/certs/pebble.minica.pem"), testDir: t.TempDir()}
	dns, dnsMgmt := freeAddr(t), freeAddr(t)
	p.dnsMgmt = dnsMgmt
	p.start(t, cs, nil, "-dnsserver", dns, "-management", dnsMgmt, "-defaultIPv4", "127.0.0.1", "-defaultIPv6", "",
		"-http01", "", "-https01", "", "-tlsalpn01", "", "-doh", "")

	listen, mgmt := freeAddr(t), freeAddr(t)
	p.mgmt = mgmt
	cfg, _ := json.Marshal(map[string]any{"pebble": map[string]any{
		"listenAddress": listen, "managementListenAddress": mgmt,
		"certificate": filepath.Join(mod.Dir, "test/certs/localhost/cert.pem"), "privateKey": filepath.Join(mod.Dir, "test/certs/localhost/key.pem"),
		"httpPort": mustAtoi(t, httpPort), "tlsPort": mustAtoi(t, tlsPort), "ocspResponderURL": "", "externalAccountBindingRequired": false,
	}})
	cfgPath := filepath.Join(p.testDir, "pebble-config.json")
	if err := os.WriteFile(cfgPath, cfg, 0o600); err != nil {
		t.Fatal(err)
	}
	p.start(t, pb, []string{"PEBBLE_VA_NOSLEEP=1", "PEBBLE_WFE_NONCEREJECT=0"}, "-config", cfgPath, "-dnsserver", dns)
	p.dirURL = "https://" + listen + "/dir"

	minica, err := os.ReadFile(p.minica)
	if err != nil {
		t.Fatal(err)
	}
	trust := x509.NewCertPool()
	trust.AppendCertsFromPEM(minica)
	c := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: trust}}}
	var root []byte
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := c.Get("https://" + mgmt + "/roots/0")
		if err == nil {
			root, _ = io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode == 200 {
				if resp, err := c.Get(p.dirURL); err == nil {
					resp.Body.Close()
					if resp.StatusCode == 200 {
						break
					}
				}
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("pebble did not answer at %s: %v", mgmt, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	p.roots = x509.NewCertPool()
	if !p.roots.AppendCertsFromPEM(root) {
		t.Fatalf("pebble's /roots/0 is not PEM: %q", root)
	}
	return p
}

func (p *pebble) start(t *testing.T, bin string, env []string, args ...string) {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Dir = p.testDir
	var out syncBuffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
		if t.Failed() {
			t.Logf("%s output:\n%s", filepath.Base(bin), out.String())
		}
	})
}

// addA makes pebble-challtestsrv answer host with addr.
func (p *pebble) addA(t *testing.T, host, addr string) {
	t.Helper()
	body, _ := json.Marshal(map[string]any{"host": host, "addresses": []string{addr}})
	resp, err := http.Post("http://"+p.dnsMgmt+"/add-a", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("add-a %s: %s", host, resp.Status)
	}
}

func mustAtoi(t *testing.T, s string) int {
	var n int
	if _, err := fmt.Sscanf(s, "%d", &n); err != nil {
		t.Fatal(err)
	}
	return n
}

// TestServeACMEWithPebble is serve --domain against a real ACME server: the
// first https request gets a certificate issued by Pebble (TLS-ALPN-01 on
// --addr), a signed webhook over https is stored, a restart serves the
// same certificate from the cache (no second order), and a domain whose
// challenge cannot succeed is one line in the log naming the fix while the
// other domain is served.
func TestServeACMEWithPebble(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary and Pebble")
	}
	addr, httpAddr := freeAddr(t), freeAddr(t)
	_, tlsPort, _ := net.SplitHostPort(addr)
	_, httpPort, _ := net.SplitHostPort(httpAddr)
	p := startPebble(t, tlsPort, httpPort)
	// down.creditdesk.test points elsewhere: its challenges cannot reach
	// this serve.
	p.addA(t, "down.creditdesk.test", "127.0.0.2")
	bin := buildBinary(t)
	dir := t.TempDir()
	db := filepath.Join(dir, "acme.db")

	const domain = "pay.creditdesk.test"
	client := &http.Client{Timeout: 60 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: p.roots},
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, network, addr)
		}}}
	base := "https://" + domain + ":" + tlsPort
	env := []string{"SSL_CERT_FILE=" + p.minica}
	args := []string{"--db", db, "--domain", domain + ",down.creditdesk.test", "--addr", addr, "--http-addr", httpAddr,
		"--acme-directory", p.dirURL, "--acme-email", "ops@creditdesk.test"}
	c := startServeWith(t, bin, env, client, base+"/healthz", args...)

	_, _, body := packEvent(1)
	if code, err := deliver(client, base+"/api/stripe/webhook", body); err != nil || code != 200 {
		t.Fatalf("signed webhook over https: %d %v", code, err)
	}
	first := serialAt(t, client, base+"/healthz")
	logs := c.logs.String()
	for _, want := range []string{"domains=" + domain + ",down.creditdesk.test", "directory=" + p.dirURL, "cache=" + db + ".certs"} {
		if !strings.Contains(logs, want) {
			t.Errorf("serve's log lacks %q:\n%s", want, logs)
		}
	}
	if fi, err := os.Stat(db + ".certs"); err != nil || fi.Mode().Perm() != 0o700 {
		t.Errorf("certificate cache %s.certs: %v, mode %v, want 0700", db, err, fi.Mode().Perm())
	}
	// Plain HTTP redirects to https.
	noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	if resp, err := noFollow.Get("http://" + httpAddr + "/healthz"); err != nil || resp.StatusCode != http.StatusMovedPermanently {
		t.Errorf("http-addr: %v %v, want a redirect to https", resp, err)
	} else {
		resp.Body.Close()
	}
	// The unreachable domain: one line naming the fix.
	deadline := time.Now().Add(60 * time.Second)
	for !strings.Contains(c.logs.String(), "no certificate for down.creditdesk.test") {
		if time.Now().After(deadline) {
			t.Fatalf("no failure logged for down.creditdesk.test:\n%s", c.logs.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
	for _, line := range strings.Split(c.logs.String(), "\n") {
		if strings.Contains(line, "no certificate for down.creditdesk.test") {
			t.Logf("failed challenge: %s", line)
			if !strings.Contains(line, "point down.creditdesk.test's DNS") {
				t.Errorf("the failure does not name the fix: %s", line)
			}
		}
	}
	stopServe(t, c)

	// Restart: the certificate comes from the cache.
	c = startServeWith(t, bin, env, client, base+"/healthz", args...)
	if again := serialAt(t, client, base+"/healthz"); again.Cmp(first) != 0 {
		t.Fatalf("after a restart serial %x, want the cached %x (a second order)", again, first)
	}
	_, _, body = packEvent(2)
	if code, err := deliver(client, base+"/api/stripe/webhook", body); err != nil || code != 200 {
		t.Fatalf("webhook after restart: %d %v", code, err)
	}
	stopServe(t, c)
}
