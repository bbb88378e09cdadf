package cli

import (
	"encoding/json"
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// reportEvent is a signed-shape event of type typ about o, created now.
func reportEvent(id, typ string, o map[string]any) []byte {
	b, _ := json.Marshal(map[string]any{"id": id, "object": "event", "type": typ, "created": time.Now().Unix(),
		"api_version": "2023-10-16", "data": map[string]any{"object": o}})
	return b
}

func reportPack(id, user string, amount int, currency string) map[string]any {
	return map[string]any{"id": id, "object": "checkout.session", "mode": "payment", "payment_status": "paid",
		"customer": "cus_" + user, "amount_total": amount, "currency": currency, "payment_intent": "pi_" + id,
		"metadata": map[string]any{"user_id": user, "credits": "100"}}
}

// TestReportWhileServeRunsAndFromTheFile: a USD pack, a JPY pack and a
// partial refund of the USD one; `report --json` gives the hand-counted
// minor units, the table writes yen without decimals, through a running
// serve's socket and from the file alike.
func TestReportWhileServeRunsAndFromTheFile(t *testing.T) {
	db := filepath.Join(t.TempDir(), "r.db")
	a := startServeApp(t, db)
	bodies := [][]byte{
		reportEvent("evt_u", "checkout.session.completed", reportPack("cs_u", "alice", 2000, "usd")),
		reportEvent("evt_y", "checkout.session.completed", reportPack("cs_y", "bob", 1500, "jpy")),
		reportEvent("evt_r", "charge.refunded", map[string]any{"id": "ch_u", "object": "charge", "payment_intent": "pi_cs_u",
			"amount": 2000, "amount_refunded": 500, "refunded": false}),
	}
	for _, b := range bodies {
		if code, err := deliver(http.DefaultClient, a.url, b); err != nil || code != 200 {
			t.Fatalf("deliver: %d %v", code, err)
		}
	}
	waitApplied(t, a.svc, 3)
	check := func(when string) {
		code, out, stderr := run(t, nil, "report", "--json", "--db", db)
		if code != 0 {
			t.Fatalf("%s: report: %d %s", when, code, stderr)
		}
		var r struct {
			Revenue map[string]struct{ Gross, Refunded, Disputed, Net int64 } `json:"revenue"`
			Credits struct {
				Granted    int64 `json:"granted"`
				ClawedBack int64 `json:"clawed_back"`
			} `json:"credits"`
			Days []json.RawMessage `json:"days"`
		}
		if err := json.Unmarshal([]byte(out), &r); err != nil {
			t.Fatalf("%s: %v\n%s", when, err, out)
		}
		if u := r.Revenue["usd"]; u.Gross != 2000 || u.Refunded != 500 || u.Net != 1500 {
			t.Errorf("%s: usd %+v", when, u)
		}
		if y := r.Revenue["jpy"]; y.Gross != 1500 || y.Net != 1500 {
			t.Errorf("%s: jpy %+v", when, y)
		}
		if r.Credits.Granted != 200 || r.Credits.ClawedBack != 25 || len(r.Days) != 30 {
			t.Errorf("%s: credits %+v, %d days", when, r.Credits, len(r.Days))
		}
		code, out, _ = run(t, nil, "report", "--since", "7d", "--db", db)
		for _, want := range []string{"USD      20.00 USD  5.00 USD", "15.00 USD", "JPY      1,500 JPY", "200 granted", "25 clawed back", "alice"} {
			if code != 0 || !strings.Contains(out, want) {
				t.Errorf("%s: report lacks %q:\n%s", when, want, out)
			}
		}
	}
	check("while serve runs")
	a.stop()
	check("from the file")
	if code, _, stderr := run(t, nil, "report", "--since", "soon", "--db", db); code != 2 || !strings.Contains(stderr, "30d") {
		t.Errorf("bad --since: %d %q", code, stderr)
	}
	long := fmt.Sprint(time.Now().Year()+1, "-01-01")
	if code, _, stderr := run(t, nil, "report", "--since", long, "--until", "2020-01-01", "--db", db); code == 0 || !strings.Contains(stderr, "before it starts") {
		t.Errorf("period backwards: %d %q", code, stderr)
	}
}
