package storage

import (
	"reflect"
	"testing"
	"time"

	"creditdesk/billing"
)

// Every field of an outbox message survives its two binary records: a
// field added to DeliveryStatus fails here until encodeDeliveryStatus
// carries it; the body record keeps the message's JSON byte for byte.
func TestOutboxCodecsCarryEveryField(t *testing.T) {
	var st billing.DeliveryStatus
	fillEvery(t, reflect.ValueOf(&st).Elem())
	if got, err := decodeDeliveryStatus(encodeDeliveryStatus(st)); err != nil || !reflect.DeepEqual(got, st) {
		t.Errorf("DeliveryStatus: %+v\nbecame %+v (%v): a field is missing from encodeDeliveryStatus (outbox.go)", st, got, err)
	}
	m := billing.OutboxMessage{Seq: 7, ID: "msg_7_abc", Endpoint: "ep_1", User: "u1", Type: billing.MsgPlanStarted,
		Body: []byte(`{"type":"plan.started", "data":{}}`), CreatedAt: time.Date(2026, 12, 2, 1, 2, 3, 4, time.UTC)}
	if n := reflect.TypeOf(m).NumField(); n != 8 {
		t.Fatalf("OutboxMessage has %d fields: teach encodeOutboxBody the new one and this test", n)
	}
	got, err := decodeOutboxBody(7, encodeOutboxBody(m))
	if err != nil || !reflect.DeepEqual(got, m) {
		t.Errorf("body: %+v\nbecame %+v (%v)", m, got, err)
	}
	if ep, user, err := outboxHead(encodeOutboxBody(m)); ep != "ep_1" || user != "u1" || err != nil {
		t.Errorf("head: %q %q %v", ep, user, err)
	}
	if _, err := decodeDeliveryStatus(encodeDeliveryStatus(st)[:10]); err == nil {
		t.Error("a cut status record decodes")
	}
}
