package cli

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"creditdesk/billing"
	"creditdesk/internal/backup"
	"creditdesk/internal/testkit"
	"creditdesk/storage"
)

// TestBackupWhileServingHoldsEverythingAnsweredBefore: webhooks and spends
// go on while `creditdesk backup` copies the database through the running
// serve; the copy verifies and holds every event and spend that was
// answered before the backup began. Restoring it gives the same balances.
func TestBackupWhileServingHoldsEverythingAnsweredBefore(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "live.db")
	a := startServeApp(t, db)
	stopped := false
	defer func() {
		if !stopped {
			a.stop()
		}
	}()

	var acked sync.Map // event id or spend key → time answered
	var stop atomic.Bool
	var wg sync.WaitGroup
	ctx := billing.WithOperator(context.Background(), "api:test")
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; !stop.Load(); i += 4 {
				id, user, body := packEvent(i)
				if code, err := deliver(http.DefaultClient, a.url, body); err == nil && code == 200 {
					acked.Store(id, time.Now())
				}
				key := fmt.Sprintf("spend-%d", i)
				if _, err := a.svc.Spend(ctx, "app", user, 1, "job", key); err == nil {
					acked.Store(key, time.Now())
				}
			}
		}()
	}
	time.Sleep(300 * time.Millisecond)
	began := time.Now()
	dst := filepath.Join(dir, "copy.db")
	code, out, stderr := run(t, nil, "backup", dst, "--db", db)
	time.Sleep(100 * time.Millisecond)
	stop.Store(true)
	wg.Wait()
	if code != 0 || !strings.Contains(out, "verified") {
		t.Fatalf("backup while serving: %d %q %q", code, out, stderr)
	}
	if a.svc.Stats().LastBackup.IsZero() {
		t.Error("a backup taken through serve must show in its consoles (the status line's backup age)")
	}
	if fi, err := os.Stat(dst); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("backup file: %v %v", fi, err)
	}

	st := testkit.OpenStore(t, dst, storage.Options{ReadOnly: true})
	copySvc := billing.NewService(st, billing.Options{})
	var before, after int
	acked.Range(func(k, v any) bool {
		if !v.(time.Time).Before(began) {
			after++
			return true
		}
		before++
		id := k.(string)
		if strings.HasPrefix(id, "spend-") {
			var n int
			fmt.Sscanf(id, "spend-%d", &n)
			_, user, _ := packEvent(n)
			es, err := copySvc.Ledger(user, 1<<20)
			found := false
			for _, e := range es {
				found = found || strings.HasSuffix(e.Key, ":"+id)
			}
			if err != nil || !found {
				t.Errorf("spend %s answered before the backup began is not in it", id)
			}
		}
		return true
	})
	evs, err := copySvc.EventsInState("", 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	have := map[string]bool{}
	for _, e := range evs {
		have[e.ID] = true
	}
	acked.Range(func(k, v any) bool {
		id := k.(string)
		if !strings.HasPrefix(id, "spend-") && v.(time.Time).Before(began) && !have[id] {
			t.Errorf("event %s answered before the backup began is not in it", id)
		}
		return true
	})
	st.Close()
	if before == 0 || after == 0 {
		t.Fatalf("the backup must run while traffic flows: %d answered before, %d after", before, after)
	}

	// Restore refuses while serve holds the database, then works once it
	// is stopped and keeps the old file.
	if code, _, stderr := run(t, nil, "restore", dst, "--db", db); code == 0 || !strings.Contains(stderr, "creditdesk serve (pid") ||
		strings.Count(stderr, "stop it") != 1 || strings.Contains(stderr, "point --db") {
		t.Fatalf("restore over a held database: %d %q", code, stderr)
	}
	a.stop()
	stopped = true
	if code, out, stderr := run(t, nil, "restore", dst, "--db", db); code != 0 || !strings.Contains(out, "restored") {
		t.Fatalf("restore: %d %q %q", code, out, stderr)
	}
	if _, err := os.Stat(db + ".before-restore"); err != nil {
		t.Fatalf("the replaced database must be kept: %v", err)
	}
	if code, out, _ := run(t, nil, "verify", "--db", db); code != 0 || !strings.HasPrefix(out, "ok:") {
		t.Fatalf("verify after restore: %d %q", code, out)
	}
	if code, _, stderr := run(t, nil, "restore", dst, "--db", db); code == 0 || !strings.Contains(stderr, "before-restore") {
		t.Fatalf("a second restore must not overwrite the kept database: %d %q", code, stderr)
	}
}

func TestRestoreRefusesWhatIsNoDatabase(t *testing.T) {
	dir := t.TempDir()
	junk := filepath.Join(dir, "notes.txt")
	os.WriteFile(junk, []byte(strings.Repeat("not a database\n", 1000)), 0o600)
	db := filepath.Join(dir, "cd.db")
	code, _, stderr := run(t, nil, "restore", junk, "--db", db)
	if code == 0 || strings.Count(strings.TrimSpace(stderr), "\n") != 0 || !strings.Contains(stderr, junk+" is not a creditdesk backup") ||
		strings.Contains(stderr, "restore-tmp") {
		t.Fatalf("restore of a text file: %d %q (want one line naming the file)", code, stderr)
	}
	if _, err := os.Stat(db); err == nil {
		t.Fatal("a refused restore must not create the database")
	}
	code, _, stderr = run(t, nil, "restore", filepath.Join(dir, "missing.db"), "--db", db)
	if code == 0 || !strings.Contains(stderr, "no such file") {
		t.Fatalf("restore of a missing file: %d %q", code, stderr)
	}
}

// TestScheduledBackupsArePrunedAndFailuresNeedAttention: a schedule keeps
// the newest N verified backups; one that cannot be written is an
// Attention item until the next one succeeds.
func TestScheduledBackupsArePrunedAndFailuresNeedAttention(t *testing.T) {
	dir := t.TempDir()
	a := startServeApp(t, filepath.Join(dir, "s.db"))
	defer a.stop()
	bdir := filepath.Join(dir, "backups")
	if err := backup.Check(bdir); err != nil {
		t.Fatal(err)
	}
	clock := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	s := backup.Schedule{Dir: bdir, Every: time.Hour, Keep: 3, Write: a.store.WriteTo, Log: discardLogger(),
		Done: a.svc.NoteBackup, Failed: func(d string) { a.svc.SetProblem(billing.AttnBackup, d) },
		Now: func() time.Time { return clock }}
	for range 5 {
		if _, err := s.Once(); err != nil {
			t.Fatal(err)
		}
		clock = clock.Add(time.Hour)
	}
	ents, _ := os.ReadDir(bdir)
	if len(ents) != 3 || ents[0].Name() != backup.Name(clock.Add(-3*time.Hour)) {
		t.Fatalf("kept %d backups (want the newest 3): %v", len(ents), ents)
	}
	if st := a.svc.Stats(); st.LastBackup.IsZero() {
		t.Fatal("the header must know when the last backup was taken")
	}

	os.Chmod(bdir, 0o500)
	defer os.Chmod(bdir, 0o700)
	if os.Geteuid() == 0 {
		// root writes anywhere: make the target a directory instead.
		os.Mkdir(filepath.Join(bdir, backup.Name(clock)), 0o700)
	}
	if _, err := s.Once(); err == nil {
		t.Fatal("a backup into an unwritable place must fail")
	}
	items, _ := a.svc.Attention()
	if len(items) == 0 || items[0].Kind != billing.AttnBackup {
		t.Fatalf("a failed backup must be in Attention: %+v", items)
	}
	os.Chmod(bdir, 0o700)
	os.Remove(filepath.Join(bdir, backup.Name(clock)))
	clock = clock.Add(time.Hour)
	if _, err := s.Once(); err != nil {
		t.Fatal(err)
	}
	if items, _ := a.svc.Attention(); len(items) != 0 {
		t.Fatalf("a backup that succeeds again clears the item: %+v", items)
	}
}
