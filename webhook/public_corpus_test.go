package webhook

import (
	"context"
	"encoding/json"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"creditdesk/billing"
	"creditdesk/internal/fixtures"
	"creditdesk/internal/testkit"
)

// corpusCatalog sells what the founder-* folders' customer bought: pro
// (the gold price) and enterprise (the silver price), a top-up pack, and a
// free allowance.
func corpusCatalog() billing.Catalog {
	return billing.Catalog{
		FreeCredits: 100,
		Plans: map[string]*billing.Plan{
			"pro":        {Name: "pro", MonthlyCredits: 2500, Sale: billing.Sale{PriceIDs: []string{"gold21323"}}},
			"enterprise": {Name: "enterprise", MonthlyCredits: 10000, Sale: billing.Sale{PriceIDs: []string{"silver41294"}}},
		},
		Packs:      map[string]*billing.Pack{"topup": {Name: "topup", Credits: 1000, Sale: billing.Sale{PriceIDs: []string{"price_topup"}}}},
		ProductMap: map[string]string{},
	}
}

type corpusFile struct {
	File  string `json:"file"`
	Batch string `json:"batch"`
}

// founderWants is what a founder expects each user of a founder-* folder
// to end with.
var founderWants = map[string]map[string]struct {
	balance int64
	tier    string
}{
	// pro and enterprise at once, then pro cancelled: enterprise's 10,000
	// stay, the tier stays enterprise, no free allowance while it runs.
	"founder-multisub": {"founder_user_1": {10000, "enterprise"}},
	// the same, with pro's invoice refunded, and a top-up bought and fully
	// refunded by another user, whose refund is dated 2022: by then both
	// 2019 periods had ended without a renewal, so founder_user_1 has
	// nothing left, is still on enterprise (never cancelled), and the
	// refund took nothing (what it paid for had expired) and never the
	// free allowance.
	"founder-derived": {"founder_user_1": {0, "enterprise"}, "founder_user_2": {0, "free"}},
}

// TestPublicCorpus sends every event of stripe-events-public (370 events
// from five public projects, API versions 2016 to 2026; MANIFEST.json says
// where each came from), signed, to the receiver, one folder per database:
// every one is accepted, none fails, redelivering them all changes nothing,
// and the founder-* folders end with what a founder expects.
func TestPublicCorpus(t *testing.T) {
	dir := fixtures.Dir(t, "stripe-events-public")
	raw, err := os.ReadFile(filepath.Join(dir, "MANIFEST.json"))
	if err != nil {
		t.Fatal(err)
	}
	var manifest []corpusFile
	if err := json.Unmarshal(raw, &manifest); err != nil {
		t.Fatal(err)
	}
	batches := map[string][]string{}
	for _, f := range manifest {
		batches[f.Batch] = append(batches[f.Batch], f.File)
	}
	if len(manifest) < 370 || len(batches) == 0 {
		t.Fatalf("MANIFEST.json lists %d files", len(manifest))
	}
	total := 0
	for batch, files := range batches {
		sort.Strings(files)
		total += len(files)
		t.Run(batch, func(t *testing.T) { corpusBatch(t, dir, batch, files) })
	}
	if total != len(manifest) {
		t.Fatalf("%d of %d files sent", total, len(manifest))
	}
}

func corpusBatch(t *testing.T, dir, batch string, files []string) {
	st := testkit.TempStore(t)
	var bodies [][]byte
	var latest int64
	for _, f := range files {
		b, err := os.ReadFile(filepath.Join(dir, f))
		if err != nil {
			t.Fatal(err)
		}
		var head struct {
			Created int64 `json:"created"`
		}
		json.Unmarshal(b, &head)
		latest = max(latest, head.Created)
		bodies = append(bodies, b)
	}
	// The clock stands just after the folder's newest event, as if the
	// story had just happened: a plan period it paid for is still running.
	now := time.Unix(latest, 0).Add(time.Minute)
	svc := billing.NewService(st, billing.Options{Rules: billing.Rules{Catalog: corpusCatalog()},
		Clock: func() time.Time { return now }})
	srv := httptest.NewServer(NewServer(DefaultPath, NewReceiver(svc, []string{oldSecret}), func() error { return nil }).Mux)
	t.Cleanup(srv.Close)
	r := &rig{t: t, srv: srv, svc: svc, st: st}

	for i, b := range bodies {
		if code, resp := r.post(b, sign(b, oldSecret, time.Now())); code != 200 {
			t.Errorf("%s: %d %s", files[i], code, resp)
		}
	}
	if _, err := svc.ProcessPending(context.Background()); err != nil {
		t.Fatal(err)
	}
	evs, _ := st.EventsPage(0, 10000, nil)
	if len(evs) != len(files) {
		t.Fatalf("%d stored of %d", len(evs), len(files))
	}
	for _, e := range evs {
		if e.State == billing.StateFailed || e.State == billing.StateReceived {
			t.Errorf("%s %s (%s): %s %s", e.ID, e.Type, e.APIVersion, e.State, e.Reason)
		}
	}
	before := corpusBook(t, svc)

	for i, b := range bodies {
		if code, resp := r.post(b, sign(b, oldSecret, time.Now())); code != 200 {
			t.Errorf("redelivery of %s: %d %s", files[i], code, resp)
		}
	}
	if _, err := svc.ProcessPending(context.Background()); err != nil {
		t.Fatal(err)
	}
	if d := svc.Stats().Duplicates; d != uint64(len(files)) {
		t.Errorf("%d duplicates of %d redelivered", d, len(files))
	}
	if after := corpusBook(t, svc); after != before {
		t.Errorf("redelivery changed the book:\nbefore %s\nafter  %s", before, after)
	}
	if _, err := st.Verify(); err != nil {
		t.Fatal(err)
	}
	if batch == "founder-derived" {
		found := false
		for _, e := range evs {
			if e.Type == "charge.refunded" && e.User == "founder_user_1" {
				found = true
				if !strings.Contains(e.Reason, "0 of 2,500") || !strings.Contains(e.Reason, "had expired") {
					t.Errorf("refund of pro's invoice: %q, want 0 of 2,500 taken: they had expired", e.Reason)
				}
			}
		}
		if !found {
			t.Error("no refund of founder_user_1's pro invoice applied")
		}
	}
	for user, want := range founderWants[batch] {
		d, err := svc.UserDetail(user)
		if err != nil {
			t.Fatalf("%s: %v", user, err)
		}
		if d.Spendable != want.balance || d.User.Tier != want.tier {
			var lines []string
			for _, e := range d.Entries {
				lines = append(lines, e.Reason)
			}
			t.Errorf("%s: %d credits, tier %s; a founder expects %d, %s\nledger: %s", user, d.Spendable, d.User.Tier,
				want.balance, want.tier, strings.Join(lines, "; "))
		}
		for _, e := range d.Entries {
			if e.Kind == billing.KindFree && want.tier != "free" {
				t.Errorf("%s: a free allowance while a plan is in force: %s", user, e.Reason)
			}
		}
	}
}

// corpusBook is every user's balance, tier and number of entries.
func corpusBook(t *testing.T, svc *billing.Service) string {
	t.Helper()
	users, err := svc.UsersPage("", "", 10000)
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	for _, u := range users {
		b.WriteString(u.ID + ":" + u.Tier + ":" + billing.Credits(u.Balance) + ":" + billing.Credits(int64(u.Entries)) + " ")
	}
	return b.String()
}
