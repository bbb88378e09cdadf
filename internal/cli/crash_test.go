package cli

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"creditdesk/billing"
	"creditdesk/internal/simulate"
	"creditdesk/internal/testkit"
	"creditdesk/storage"
)

const crashSecret = "whsec_crash_test_secret"

// buildBinary compiles creditdesk into the test's temporary folder; under
// -short it skips the test instead.
func buildBinary(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	bin := filepath.Join(t.TempDir(), "creditdesk")
	cmd := exec.Command("go", "build", "-o", bin, "creditdesk")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	return bin
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

type child struct {
	cmd *exec.Cmd
	out *bytes.Buffer
}

func startServe(t *testing.T, bin, db, addr string, env ...string) *child {
	t.Helper()
	cmd := exec.Command(bin, "serve", "--db", db, "--addr", addr)
	cmd.Env = append(append(os.Environ(), "STRIPE_WEBHOOK_SECRET="+crashSecret, "STRIPE_SECRET_KEY="), env...)
	cmd.Dir = t.TempDir() // no stray .env
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		resp, err := http.Get("http://" + addr + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return &child{cmd: cmd, out: &out}
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	cmd.Process.Kill()
	t.Fatalf("serve did not become healthy:\n%s", out.String())
	return nil
}

func packEvent(i int) (id, user string, body []byte) {
	id = fmt.Sprintf("evt_crash_%05d", i)
	user = fmt.Sprintf("u%02d", i%40)
	body, _ = json.Marshal(map[string]any{"id": id, "object": "event", "type": "checkout.session.completed",
		"created": time.Now().Unix(), "api_version": "2023-10-16", "livemode": false,
		"data": map[string]any{"object": map[string]any{"id": fmt.Sprintf("cs_crash_%05d", i), "object": "checkout.session",
			"mode": "payment", "payment_status": "paid", "customer": "cus_" + user,
			"metadata": map[string]any{"user_id": user, "credits": "10"}}}})
	return id, user, body
}

func deliver(client *http.Client, url string, body []byte) (int, error) {
	req, _ := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	req.Header.Set("Stripe-Signature", simulate.Sign(body, crashSecret))
	resp, err := client.Do(req)
	if err != nil {
		return 0, err
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode, nil
}

// TestKill9LosesNoAcknowledgedEvent is the crash test: serve is killed with
// SIGKILL while events stream in; after a restart every event that got a 2xx
// is stored and applied exactly once, and verify passes.
func TestKill9LosesNoAcknowledgedEvent(t *testing.T) {
	bin := buildBinary(t)
	db := filepath.Join(t.TempDir(), "crash.db")
	addr := freeAddr(t)
	url := "http://" + addr + "/api/stripe/webhook"
	c := startServe(t, bin, db, addr)

	client := simulate.NewClient(16)
	var acked sync.Map // event id → user
	var nAcked atomic.Int64
	var next atomic.Int64
	var wg sync.WaitGroup
	for range 16 {
		wg.Go(func() {
			for {
				i := int(next.Add(1))
				if i > 20000 {
					return
				}
				id, user, body := packEvent(i)
				code, err := deliver(client, url, body)
				if err != nil {
					return // the server is gone
				}
				if code == 200 {
					acked.Store(id, user)
					nAcked.Add(1)
				}
			}
		})
	}
	for nAcked.Load() < 1500 {
		time.Sleep(time.Millisecond)
	}
	if err := c.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	c.cmd.Wait()
	wg.Wait()
	t.Logf("%d events acknowledged before SIGKILL", nAcked.Load())

	// Restart; redeliver a few acknowledged events as Stripe would retry;
	// stop cleanly so everything stored is applied.
	c = startServe(t, bin, db, addr)
	for i := 1; i <= 50; i++ {
		id, _, body := packEvent(i)
		if _, ok := acked.Load(id); ok {
			if code, err := deliver(client, url, body); err != nil || code != 200 {
				t.Fatalf("redelivery of %s: %d %v", id, code, err)
			}
		}
	}
	c.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan error, 1)
	go func() { done <- c.cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("serve exited with %v after SIGTERM:\n%s", err, c.out.String())
		}
	case <-time.After(10 * time.Second):
		c.cmd.Process.Kill()
		t.Fatalf("serve did not exit within 10s of SIGTERM")
	}

	st := testkit.OpenStore(t, db, storage.Options{ReadOnly: true})
	if _, err := st.Verify(); err != nil {
		t.Fatalf("verify: %v", err)
	}
	// Every stored event was applied once; every acknowledged one is stored.
	want := map[string]int64{}
	stored := 0
	for i := 1; i <= 20000; i++ {
		id, user, _ := packEvent(i)
		ev, err := st.EventByID(id)
		if err != nil {
			if _, ok := acked.Load(id); ok {
				t.Fatalf("acknowledged event %s lost: %v", id, err)
			}
			continue
		}
		stored++
		if ev.State != billing.StateApplied {
			t.Fatalf("%s is %s after restart: %s", id, ev.State, ev.Reason)
		}
		want[user] += 10
	}
	us, err := st.UsersPage("", "", 1000)
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range us {
		if u.Balance != want[u.ID] {
			t.Errorf("%s has %d credits, stored events grant %d", u.ID, u.Balance, want[u.ID])
		}
	}
	t.Logf("%d stored (acknowledged %d), all applied exactly once", stored, nAcked.Load())
}
