package webhook

import (
	"creditdesk/internal/testkit"
	"fmt"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"creditdesk/billing"
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
	st, err := storage.Open(db, storage.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	svc := billing.NewService(st, billing.Options{})
	pad := strings.Repeat("x", 2000)
	ingest := func(i int) error {
		body := fmt.Sprintf(`{"id":"evt_b%06d","object":"event","type":"product.updated","created":1700000000,"data":{"object":{"id":"prod_%d","description":%q}}}`, i, i, pad)
		_, _, err := svc.Ingest([]byte(body), "test")
		return err
	}
	for i := range 1500 { // a file several times the socket's buffers
		if err := ingest(i); err != nil {
			t.Fatal(err)
		}
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
		for i := 1500; i < 3000; i++ { // grows the file: needs the remap a held read would block
			if err := ingest(i); err != nil {
				return err
			}
		}
		return nil
	})
}
