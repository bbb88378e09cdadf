package remote

import (
	"net/http"
	"path/filepath"
	"testing"
	"time"

	"creditdesk/billing"
	"creditdesk/internal/testkit"
	"creditdesk/storage"
	"creditdesk/webhook"
)

// An attached console's Deliveries tab: the list, the endpoint's state,
// resend one, resend failed and re-enable reach the running process's
// outbox over the socket.
func TestDeliveriesOverTheSocket(t *testing.T) {
	db := filepath.Join(t.TempDir(), "d.db")
	st := testkit.OpenStore(t, db, storage.Options{})
	ep := billing.AppEndpoint{ID: "ep_1", URL: "https://app.example/hooks"}
	svc := billing.NewService(st, billing.Options{Outbox: billing.OutboxConfig{Endpoints: []billing.AppEndpoint{ep}}})
	mux := http.NewServeMux()
	mux.Handle("/console/", NewHandler(svc, nil, Info{PID: 42, Mode: "serve"}))
	stop, err := webhook.ServeAdmin(db, mux)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(stop)
	if _, err := svc.Adjust(t.Context(), billing.Adjustment{User: "u1", Delta: 10, Reason: "hi", Create: true, Key: "k"}); err != nil {
		t.Fatal(err)
	}
	due, _, _ := svc.DueMessages(1, 1)
	at := due[0].CreatedAt.Add(billing.GiveUpAfter)
	for _, at := range []time.Time{due[0].CreatedAt, at} { // failing for the whole window
		if err := svc.RecordDeliveries([]billing.DeliveryResult{{Seq: due[0].Seq, At: at, Status: 503}}); err != nil {
			t.Fatal(err)
		}
	}

	c, err := Dial(t.Context(), db)
	if err != nil {
		t.Fatal(err)
	}
	ds, err := c.Deliveries(0, 10, false)
	if err != nil || len(ds) != 1 || ds[0].State != billing.DeliveryFailed || ds[0].URL != ep.URL || ds[0].LastStatus != 503 {
		t.Fatalf("deliveries %+v %v", ds, err)
	}
	eps, err := c.EndpointStates()
	if err != nil || len(eps) != 1 || !eps[0].Disabled {
		t.Fatalf("endpoints %+v %v", eps, err)
	}
	if n, err := c.ResendFailed(); n != 1 || err != nil {
		t.Fatalf("resend failed: %d %v", n, err)
	}
	if err := c.ResendDelivery(ds[0].Seq); err != nil {
		t.Fatal(err)
	}
	if err := c.ResendDelivery(999); err == nil {
		t.Fatal("resending a message that does not exist worked")
	}
	if err := c.EnableEndpoint("ep_1"); err != nil {
		t.Fatal(err)
	}
	if eps, _ := c.EndpointStates(); eps[0].Disabled {
		t.Fatalf("still disabled: %+v", eps)
	}
	if ds, _ := c.Deliveries(0, 10, true); len(ds) != 0 {
		t.Fatalf("failed after resend: %+v", ds)
	}
}
