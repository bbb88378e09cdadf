package cli

import (
	"fmt"
	"os"
	"testing"
	"time"

	tea "github.com/charmbracelet/bubbletea"

	"creditdesk/billing"
	"creditdesk/storage"
	"creditdesk/tui"
)

// seedBigMonth adds to the big store a month of paid purchases (1,000 a
// day for the 30 days up to now, one in ten in JPY, one in twenty half
// refunded), each stored on its day's clock so that the rollups spread
// over the month, unless they are there already.
func seedBigMonth(t testing.TB, path string, now time.Time) {
	st, err := storage.Open(path, storage.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if c, _ := st.Counts(); c.Purchases >= 30_000 {
		return
	}
	start := time.Now()
	for d := range 30 {
		at := now.AddDate(0, 0, d-29)
		err := st.Update(at, func(tx billing.Tx) error {
			for j := range 1000 {
				p := billing.Purchase{ID: fmt.Sprintf("cs_bench_%02d_%04d", d, j), UserID: fmt.Sprintf("user_%06d", (d*1000+j)%100_000),
					Kind: billing.PurchasePack, Mode: "payment", Status: "paid", Credits: 1000, AmountTotal: int64(500 + j), Currency: "usd"}
				if j%10 == 0 {
					p.Currency, p.AmountTotal = "jpy", int64(1500+j)
				}
				if err := tx.PutPurchase(p); err != nil {
					return err
				}
				if j%20 == 0 {
					p.Status, p.AmountRefunded = "part_refunded", p.AmountTotal/2
					if err := tx.PutPurchase(p); err != nil {
						return err
					}
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("seeded a month of purchases in %s", time.Since(start).Round(time.Millisecond))
}

// TestOverviewFirstFrameOnBigStore measures, on the store of 100,000
// users and 1,000,000 events with a month of purchases, the time from
// opening the store to the Overview's first frame with its figures (target
// 300 ms), beside what opening the store and reading its counters takes
// in the same run (the baseline) and the Insight read alone. It runs only
// when CREDITDESK_BIGSTORE names the store file (make bench does).
func TestOverviewFirstFrameOnBigStore(t *testing.T) {
	path := os.Getenv("CREDITDESK_BIGSTORE")
	if path == "" {
		t.Skip("set CREDITDESK_BIGSTORE=FILE to run (make bench)")
	}
	seedBigStore(t, path, 100_000, 1_000_000)
	now := time.Now().UTC()
	seedBigMonth(t, path, now)
	for run := range 5 {
		start := time.Now()
		st, err := storage.Open(path, storage.Options{})
		if err != nil {
			t.Fatal(err)
		}
		svc := billing.NewService(st, billing.Options{})
		_ = svc.Stats()
		opened := time.Since(start)
		t0 := time.Now()
		in, err := svc.RecentInsight(30)
		if err != nil || len(in.Days) != 30 || in.Total.Revenue["usd"].Gross == 0 {
			t.Fatalf("insight: %v %+v", err, in.Total)
		}
		insight := time.Since(t0)
		want := billing.FormatAmount(in.Total.Revenue["usd"].Net(), "usd")
		st.Close()

		start = time.Now()
		st, err = storage.Open(path, storage.Options{})
		if err != nil {
			t.Fatal(err)
		}
		svc = billing.NewService(st, billing.Options{})
		c := &console{m: tui.New(svc, tui.Options{}), msgs: make(chan tea.Msg, 1024)}
		c.run(c.m.Init())
		var cmd tea.Cmd
		c.m, cmd = c.m.Update(tea.WindowSizeMsg{Width: 120, Height: 40})
		c.run(cmd)
		v, ok := c.until([]string{"NET REVENUE", want, "Daily net revenue", "1,000,000 events"}, 10*time.Second)
		first := time.Since(start)
		if !ok {
			t.Fatalf("no Overview with its figures (30-day USD net %s) in 10s:\n%s", want, v)
		}
		st.Close()
		t.Logf("run %d: open+counters %s, insight read %s, overview first frame %s (%.1fx the open)", run+1, opened.Round(time.Millisecond),
			insight.Round(time.Microsecond), first.Round(time.Millisecond), float64(first)/float64(opened))
		fmt.Printf("BIGSTORE open_ms=%.1f insight_ms=%.2f overview_first_frame_ms=%.1f\n", float64(opened.Microseconds())/1000,
			float64(insight.Microseconds())/1000, float64(first.Microseconds())/1000)
	}
}
