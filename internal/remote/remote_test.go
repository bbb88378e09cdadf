package remote

import (
	"context"
	"creditdesk/internal/testkit"
	"errors"
	"fmt"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"creditdesk/billing"
	"creditdesk/storage"
	"creditdesk/webhook"
)

// serveStore opens a real store and serves it on the admin socket, as a
// running creditdesk does.
func serveStore(t *testing.T) (db string, svc *billing.Service) {
	t.Helper()
	db = filepath.Join(t.TempDir(), "r.db")
	st := testkit.OpenStore(t, db, storage.Options{})
	svc = billing.NewService(st, billing.Options{})
	mux := http.NewServeMux()
	mux.Handle("/", webhook.NewAdminHandler(svc))
	mux.Handle("/console/", NewHandler(svc, nil, Info{PID: 42, Mode: "serve", WebhookURL: "http://x/hook"}))
	stop, err := webhook.ServeAdmin(db, mux)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(stop)
	return db, svc
}

// TestSlowConsolesNeverSlowTheServer: one console that never reads its
// feed and one that reads late. Every grant completes at full speed; the
// late reader is told how many activities it lost, and what it got plus
// what it lost is everything.
func TestSlowConsolesNeverSlowTheServer(t *testing.T) {
	db, svc := serveStore(t)

	// A console that opens the feed and never reads a byte of it.
	conn, err := net.Dial("unix", webhook.AdminSocketPath(db))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "GET /console/feed HTTP/1.1\r\nHost: creditdesk\r\n\r\n")

	c, err := Dial(t.Context(), db)
	if err != nil {
		t.Fatal(err)
	}
	feed, stop := c.Subscribe()
	defer stop()
	time.Sleep(100 * time.Millisecond) // both feeds subscribed before the burst

	const n = 3000
	testkit.Within(t, 60*time.Second, "grants stalled behind consoles that do not read their feed", func() error {
		ctx := billing.WithOperator(context.Background(), "local:test")
		for i := range n {
			if _, err := svc.Adjust(ctx, billing.Adjustment{User: "u1", Delta: 1, Reason: "burst", Create: true, Key: fmt.Sprint("k", i)}); err != nil {
				return err
			}
		}
		return nil
	})
	// The late reader catches up: one more grant after it starts reading
	// carries whatever it lost last.
	var got, missed int
	final := false
	deadline := time.After(10 * time.Second)
	sentFinal := false
	for !final {
		select {
		case a := <-feed:
			missed += a.Missed
			if a.Kind != billing.ActivityManual {
				continue
			}
			got++
			final = a.Reason == "final"
		case <-time.After(200 * time.Millisecond):
			if !sentFinal {
				sentFinal = true
				if _, err := svc.Adjust(t.Context(), billing.Adjustment{User: "u1", Delta: 1, Reason: "final", Create: true, Key: "final"}); err != nil {
					t.Fatal(err)
				}
			}
		case <-deadline:
			t.Fatalf("the feed never delivered the final grant (got %d, missed %d)", got, missed)
		}
	}
	if missed == 0 {
		t.Fatalf("a console that read late must be told what it missed (got %d of %d)", got, n+1)
	}
	if got+missed != n+1 {
		t.Fatalf("received %d + missed %d != %d: the count of lost activities is wrong", got, missed, n+1)
	}
}

// TestErrorsKeepTheirKindOverTheSocket: a change to an unknown user comes
// back as *billing.ErrUnknownUser, a revoke beyond the balance as
// *billing.ErrInsufficient (the console then offers to force it), a call
// while nothing serves the socket says so in plain words.
func TestErrorsKeepTheirKindOverTheSocket(t *testing.T) {
	db, _ := serveStore(t)
	c, err := Dial(t.Context(), db)
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range []billing.Adjustment{{User: "u1", Delta: 1, Reason: "typo"}, {User: "u1", Delta: -1, Reason: "typo", Force: true, Create: true}} {
		_, err = c.Adjust(t.Context(), a)
		if _, ok := err.(*billing.ErrUnknownUser); !ok || !errors.Is(err, billing.ErrNotFound) {
			t.Fatalf("%+v to an unknown user over the socket: %T %v", a, err, err)
		}
	}
	if _, err := c.Adjust(t.Context(), billing.Adjustment{User: "u1", Delta: 1, Reason: "seed", Create: true}); err != nil {
		t.Fatal(err)
	}
	_, err = c.Adjust(t.Context(), billing.Adjustment{User: "u1", Delta: -5, Reason: "too much"})
	if _, ok := err.(*billing.ErrInsufficient); !ok {
		t.Fatalf("revoke beyond balance over the socket: %T %v", err, err)
	}
	e, err := c.Adjust(t.Context(), billing.Adjustment{User: "u1", Delta: -5, Reason: "forced", Force: true})
	if err != nil || e.BalanceAfter != -4 {
		t.Fatalf("forced revoke: %+v %v", e, err)
	}

	gone := &Client{c: webhook.NewAdminClient(filepath.Join(t.TempDir(), "none.db")), info: Info{Mode: "serve", PID: 7}}
	_, err = gone.UsersPage("", "", 10)
	if err == nil || err.Error() != "serve (pid 7) is not running; this console reattaches when it is back" {
		t.Fatalf("error while nothing serves the socket: %v", err)
	}
}

// TestInvalidInputSaysSoOnce: refused input keeps its kind over the socket
// and says "invalid" once, as in process.
func TestInvalidInputSaysSoOnce(t *testing.T) {
	db, _ := serveStore(t)
	c, err := Dial(t.Context(), db)
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Adjust(t.Context(), billing.Adjustment{User: "u1", Delta: 5, Reason: "", Create: true})
	if !errors.Is(err, billing.ErrInvalid) || strings.Count(err.Error(), "invalid") != 1 {
		t.Fatalf("a grant without a reason over the socket: %v", err)
	}
}
