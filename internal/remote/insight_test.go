package remote

import (
	"errors"
	"testing"
	"time"

	"creditdesk/billing"
)

// The attached console's Overview reads the same rollups over the socket
// as the serve that holds the store: a grant made there is in today's
// credits, and a period that ends before it starts is refused as invalid.
func TestInsightOverTheSocket(t *testing.T) {
	db, svc := serveStore(t)
	if _, err := svc.Adjust(t.Context(), billing.Adjustment{User: "u1", Delta: 700, Reason: "welcome", Create: true}); err != nil {
		t.Fatal(err)
	}
	c, err := Dial(t.Context(), db)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	in, err := c.Insight(now.AddDate(0, 0, -29), now)
	if err != nil {
		t.Fatal(err)
	}
	local, err := svc.Insight(now.AddDate(0, 0, -29), now)
	if err != nil {
		t.Fatal(err)
	}
	if len(in.Days) != 30 || in.Days[29].Credits.Granted != 700 || in.Until != local.Until || in.Total.Credits != local.Total.Credits {
		t.Fatalf("over the socket %+v, in process %+v", in.Total, local.Total)
	}
	if _, err := c.Insight(now, now.AddDate(0, 0, -1)); !errors.Is(err, billing.ErrInvalid) {
		t.Fatalf("backwards period: %v", err)
	}
}
