package webhook

import (
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
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
