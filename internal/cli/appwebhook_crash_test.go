package cli

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"creditdesk/billing"
	"creditdesk/internal/appwebhook"
	"creditdesk/internal/simulate"
	"creditdesk/internal/testkit"
	"creditdesk/storage"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
)

// TestKill9BetweenGrantAndDeliveryStillDelivers: serve commits grants
// (and their messages) and starts delivering them to an app that does not
// answer yet; it is killed with SIGKILL while those requests hang. After a
// restart the app, now answering, gets every message, the hung ones with
// the webhook-id they had, each verified with the Standard Webhooks
// library; nothing is left pending.
func TestKill9BetweenGrantAndDeliveryStillDelivers(t *testing.T) {
	bin := buildBinary(t)
	dir := t.TempDir()
	db := filepath.Join(dir, "crash.db")
	secret, _, err := appwebhook.RotateSecret(appwebhook.SecretPath(db), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	wh, err := standardwebhooks.NewWebhook(secret)
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	answering := false
	hung := map[string]bool{}  // webhook-ids in flight at the kill
	got := map[string]string{} // webhook-id → type, delivered
	users := map[string]bool{} // users whose credits.granted arrived
	inFlight := make(chan struct{}, 1000)
	// Which serve a request came from is told by its connection: one
	// accepted before the kill is the first serve's, even when its request
	// is read only after answering is set (it still must not count as a
	// 2xx that serve saw).
	type fromFirst struct{}
	app := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		raw, _ := io.ReadAll(r.Body)
		if err := wh.Verify(raw, r.Header); err != nil {
			t.Errorf("signature: %v", err)
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		id := r.Header.Get("webhook-id")
		mu.Lock()
		if r.Context().Value(fromFirst{}) != nil {
			hung[id] = true
			mu.Unlock()
			inFlight <- struct{}{}
			<-r.Context().Done() // hangs until the client is gone
			return
		}
		var b billing.MessageBody
		_ = json.Unmarshal(raw, &b)
		if _, dup := got[id]; dup {
			t.Errorf("%s delivered twice after a 2xx", id)
		}
		got[id] = b.Type
		if b.Type == billing.MsgCreditsGranted {
			users[b.Data.UserID] = true
		}
		mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	}))
	app.Config.ConnContext = func(ctx context.Context, _ net.Conn) context.Context {
		mu.Lock()
		defer mu.Unlock()
		if !answering {
			return context.WithValue(ctx, fromFirst{}, true)
		}
		return ctx
	}
	app.Start()
	defer app.Close()
	env := []string{"CREDITDESK_APP_WEBHOOK_URL=" + app.URL + "/hooks", "CREDITDESK_APP_WEBHOOK_ALLOW_PRIVATE=true"}
	addr := freeAddr(t)
	url := "http://" + addr + "/api/stripe/webhook"
	c := startServe(t, bin, db, addr, env...)
	client := simulate.NewClient(4)
	const events = 20 // 20 users, one pack each
	for i := 1; i <= events; i++ {
		_, _, body := packEvent(i)
		if code, err := deliver(client, url, body); err != nil || code != 200 {
			t.Fatalf("event %d: %d %v", i, code, err)
		}
	}
	for range 8 { // the sender's eight requests in flight, none answered
		select {
		case <-inFlight:
		case <-time.After(20 * time.Second):
			t.Fatalf("the app got no request:\n%s", c.out.String())
		}
	}
	if err := c.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	c.cmd.Wait()
	mu.Lock()
	answering = true
	hungAtKill := len(hung)
	mu.Unlock()

	c = startServe(t, bin, db, addr, env...)
	deadline := time.Now().Add(30 * time.Second)
	for {
		// Every message (a purchase and a grant per user), not only the
		// grants: one still on its way when serve stops stays pending.
		mu.Lock()
		n, all := len(users), len(got)
		mu.Unlock()
		if n == events && all == 2*events {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after restart %d of %d users' grants delivered (%d messages of %d):\n%s", n, events, all, 2*events, c.out.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	// The app has every message, but serve may not have read the last 204
	// yet (a stop then cuts that request short and leaves the message
	// pending, to be sent again): stop once serve says all are delivered.
	testkit.Eventually(t, 30*time.Second, "serve records every message delivered", func() bool {
		out, err := exec.Command(bin, "deliveries", "--json", "--db", db).Output()
		var ds []billing.Delivery
		if err != nil || json.Unmarshal(out, &ds) != nil || len(ds) != 2*events {
			return false
		}
		for _, d := range ds {
			if d.State != billing.DeliveryDelivered {
				return false
			}
		}
		return true
	})
	c.cmd.Process.Signal(syscall.SIGTERM)
	c.cmd.Wait()

	mu.Lock()
	defer mu.Unlock()
	for id := range hung {
		if _, ok := got[id]; !ok {
			t.Errorf("message %s was in flight at the kill and never delivered after", id)
		}
	}
	st := testkit.OpenStore(t, db, storage.Options{ReadOnly: true})
	if _, err := st.Verify(); err != nil {
		t.Fatal(err)
	}
	cnt, err := st.Counts()
	if err != nil || cnt.OutboxPending != 0 {
		t.Fatalf("pending after delivery: %+v %v", cnt, err)
	}
	ms, err := st.OutboxPage(0, 1000, false)
	if err != nil || len(ms) != 2*events || len(got) != 2*events {
		t.Fatalf("%d messages stored, %d delivered, want %d of each (a grant and a purchase per event); %v", len(ms), len(got), 2*events, err)
	}
	t.Logf("%d requests hung at SIGKILL; all %d messages delivered after restart", hungAtKill, len(got))
}
