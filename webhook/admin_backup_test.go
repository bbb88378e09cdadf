package webhook

import (
	"fmt"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"creditdesk/billing"
	"creditdesk/internal/testkit"
	"creditdesk/storage"
)

// TestStalledBackupClientDoesNotStopWebhooks: `creditdesk backup` onto a
// hung mount (or ^Z) stops reading its stream; the server gives up on it
// instead of holding the read transaction, and webhooks are stored.
func TestStalledBackupClientDoesNotStopWebhooks(t *testing.T) {
	old := backupWriteTimeout
	backupWriteTimeout = 200 * time.Millisecond
	defer func() { backupWriteTimeout = old }()
	db := filepath.Join(t.TempDir(), "b.db")
	st := testkit.OpenStore(t, db, storage.Options{})
	svc := billing.NewService(st, billing.Options{})
	pad := strings.Repeat("x", 2000)
	// ingest stores events from..to-1 from 16 senders at once, as Stripe
	// delivers them: they share commits, so the test does not wait on one
	// fsync per event on a loaded machine.
	ingest := func(from, to int) error {
		var wg sync.WaitGroup
		errs := make(chan error, 16)
		for w := range 16 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := from + w; i < to; i += 16 {
					body := fmt.Sprintf(`{"id":"evt_b%06d","object":"event","type":"product.updated","created":1700000000,"data":{"object":{"id":"prod_%d","description":%q}}}`, i, i, pad)
					if _, _, err := svc.Ingest([]byte(body), "test"); err != nil {
						errs <- err
						return
					}
				}
			}()
		}
		wg.Wait()
		close(errs)
		return <-errs
	}
	if err := ingest(0, 1500); err != nil { // a file several times the socket's buffers
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/", NewAdminHandler(svc))
	stop, err := ServeAdmin(db, mux)
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	conn, err := net.Dial("unix", AdminSocketPath(db))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "GET /backup HTTP/1.1\r\nHost: creditdesk\r\n\r\n") // and never read
	time.Sleep(100 * time.Millisecond)
	testkit.Within(t, 20*time.Second, "webhooks stopped behind a backup client that does not read", func() error {
		return ingest(1500, 3000) // grows the file: needs the remap a held read would block
	})
}
