package webhook

import (
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"

	"creditdesk/billing"
)

// TestAdminSocketIsPrivateAndNamesItsPeer: the socket is 0600 from the
// start, and the operator of a request is read from the kernel's record of
// who connected (not claimed by the client).
func TestAdminSocketIsPrivateAndNamesItsPeer(t *testing.T) {
	db := filepath.Join(t.TempDir(), "p.db")
	got := make(chan string, 1)
	stop, err := ServeAdmin(db, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got <- billing.OperatorOf(r.Context())
	}))
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	fi, err := os.Stat(AdminSocketPath(db))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("socket mode: %v %v", fi.Mode(), err)
	}
	c := NewAdminClient(db)
	var out map[string]any
	_ = c.Do(t.Context(), http.MethodGet, "/x", nil, &out)
	want := billing.LocalOperatorByUID(strconv.Itoa(os.Getuid()))
	if who := <-got; who != want {
		t.Fatalf("operator %q, want %q", who, want)
	}

	// peerOperator itself, on both ends of a real Unix socket pair.
	ln, err := net.Listen("unix", filepath.Join(t.TempDir(), "s"))
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		if c, err := net.Dial("unix", ln.Addr().String()); err == nil {
			defer c.Close()
			buf := make([]byte, 1)
			_, _ = c.Read(buf)
		}
	}()
	conn, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if who := peerOperator(conn); who != want {
		t.Fatalf("peerOperator = %q, want %q", who, want)
	}
}

// TestPeerOperatorIsTheConnectingUser: another Unix user connects (the test
// re-runs itself as nobody) and is named, not the server's own user, so a
// fallback to the process's user cannot pass for a peer read. Root only.
func TestPeerOperatorIsTheConnectingUser(t *testing.T) {
	if path := os.Getenv("CREDITDESK_TEST_DIAL"); path != "" {
		c, err := net.Dial("unix", path)
		if err != nil {
			os.Exit(3)
		}
		_, _ = c.Write([]byte("x"))
		buf := make([]byte, 1)
		_, _ = c.Read(buf)
		os.Exit(0)
	}
	if os.Geteuid() != 0 {
		t.Skip("needs root to connect as another user")
	}
	nobody, err := user.Lookup("nobody")
	if err != nil {
		t.Skip("no user nobody")
	}
	uid, _ := strconv.Atoi(nobody.Uid)
	gid, _ := strconv.Atoi(nobody.Gid)
	dir, err := os.MkdirTemp("", "peer-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	os.Chmod(dir, 0o755)
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "t")
	if b, err := os.ReadFile(self); err != nil || os.WriteFile(bin, b, 0o755) != nil {
		t.Fatal("copy the test binary")
	}
	sock := filepath.Join(dir, "s")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	os.Chmod(sock, 0o666)
	cmd := exec.Command(bin, "-test.run=^TestPeerOperatorIsTheConnectingUser$")
	cmd.Env = append(os.Environ(), "CREDITDESK_TEST_DIAL="+sock)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}}
	if err := cmd.Start(); err != nil {
		t.Skipf("cannot run as nobody: %v", err)
	}
	defer cmd.Wait()
	conn, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	buf := make([]byte, 1)
	_, _ = conn.Read(buf)
	if who, want := peerOperator(conn), "local:nobody"; who != want {
		t.Fatalf("peerOperator = %q, want %q (the connecting user, not this process's)", who, want)
	}
}
