package cli

import (
	"path/filepath"
	"testing"
	"time"

	"creditdesk/billing"
	"creditdesk/internal/config"
	"creditdesk/internal/testkit"
	"creditdesk/storage"
)

// A new demo database gets a month: revenue on most of the 30 days,
// credits granted and spent, plans in force; verify passes; a database
// that has events is left alone.
func TestDemoBackfillsAMonth(t *testing.T) {
	now := time.Date(2026, 12, 1, 18, 0, 0, 0, time.UTC)
	env := &Env{Config: config.Config{DB: filepath.Join(t.TempDir(), "demo.db")}}
	n, err := backfillDemo(env, 42, now)
	if err != nil {
		t.Fatal(err)
	}
	if n < 300 {
		t.Fatalf("%d events backfilled", n)
	}
	st := testkit.OpenStore(t, env.Config.DB, storage.Options{})
	svc := billing.NewService(st, billing.Options{Clock: func() time.Time { return now }})
	in, err := svc.RecentInsight(30)
	if err != nil {
		t.Fatal(err)
	}
	paid := 0
	for _, d := range in.Days {
		if d.Revenue["usd"].Gross > 0 {
			paid++
		}
	}
	if paid < 20 || in.Total.Credits.Granted == 0 || in.Total.Credits.Spent == 0 && in.Total.Credits.Expired == 0 || len(in.Plans) == 0 || len(in.TopUsers) == 0 {
		t.Errorf("not a believable month: %d days with revenue, %+v, plans %+v, top %+v", paid, in.Total.Credits, in.Plans, in.TopUsers)
	}
	if _, err := st.Verify(); err != nil {
		t.Fatal(err)
	}
	c, _ := st.Counts()
	st.Close()
	if again, err := backfillDemo(env, 42, now); err != nil || again != 0 {
		t.Fatalf("a database with %d events backfilled again: %d %v", c.Events, again, err)
	}
}
