package backup

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"creditdesk/internal/testkit"
	"creditdesk/storage"
)

// TestRestartsDoNotPileUpBackups: serve restarting (a crash loop under
// systemd) takes no backup while the newest is younger than the interval,
// so restarts never prune the history; an old newest one is followed by a
// backup at once.
func TestRestartsDoNotPileUpBackups(t *testing.T) {
	dir := t.TempDir()
	st := testkit.OpenStore(t, filepath.Join(dir, "s.db"), storage.Options{})
	bdir := filepath.Join(dir, "b")
	if err := Check(bdir); err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	os.WriteFile(filepath.Join(bdir, Name(now.Add(-10*time.Minute))), []byte("x"), 0o600)
	s := Schedule{Dir: bdir, Every: time.Hour, Keep: 2, Write: st.WriteTo, Log: slog.New(slog.DiscardHandler),
		Now: func() time.Time { return now }}
	for range 3 { // three quick restarts
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		s.Run(ctx)
		cancel()
	}
	if names, _ := backups(bdir); len(names) != 1 {
		t.Fatalf("restarts took backups while the newest was 10 minutes old: %v", names)
	}
	now = now.Add(2 * time.Hour)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	go func() {
		for {
			if names, _ := backups(bdir); len(names) == 2 {
				cancel()
				return
			}
			time.Sleep(10 * time.Millisecond)
		}
	}()
	s.Run(ctx)
	if names, _ := backups(bdir); len(names) != 2 || names[1] != Name(now) {
		t.Fatalf("with the newest two hours old, a backup is due at once: %v", names)
	}
}
