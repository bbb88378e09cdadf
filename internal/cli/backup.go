package cli

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"creditdesk/billing"
	"creditdesk/internal/backup"
	"creditdesk/storage"
)

// runBackup writes a verified copy of the database to FILE: through the
// running creditdesk when one holds it (webhooks and spends go on), else
// straight from the file.
func runBackup(env *Env, args []string) error {
	fs := newFlags(env, "backup")
	pos, err := env.parseN(fs, args, 1, "usage: creditdesk backup FILE [--db DB]")
	if err != nil {
		return err
	}
	dst, err := filepath.Abs(pos[0])
	if err != nil {
		return err
	}
	if same(dst, env.Config.DB) {
		return &exitError{code: 2, msg: "backup: FILE is the database itself: name another file"}
	}
	svc, done, err := env.data(false)
	if err != nil {
		return err
	}
	defer done()
	// A backup is background work: reading and verifying the copy should
	// yield the cores to the receiver beside it (best effort).
	_ = syscall.Setpriority(syscall.PRIO_PROCESS, 0, 10)
	r, err := storage.WriteBackup(dst, svc.WriteBackup)
	if err != nil {
		return err
	}
	svc.NoteBackup(r) // a running creditdesk shows its age
	fmt.Fprintf(env.Stdout, "backup %s: %s, %d events, %d ledger entries, %d users; verified in %s\n",
		r.Path, formatBytes(r.Bytes), r.Events, r.Entries, r.Users, r.Took.Round(time.Millisecond))
	return nil
}

// runRestore puts a backup in place of the database.
func runRestore(env *Env, args []string) error {
	fs := newFlags(env, "restore")
	pos, err := env.parseN(fs, args, 1, "usage: creditdesk restore FILE --db DB")
	if err != nil {
		return err
	}
	r, err := storage.Restore(pos[0], env.Config.DB)
	if err != nil {
		return err
	}
	kept := "there was no database before"
	if _, err := os.Stat(env.Config.DB + ".before-restore"); err == nil {
		kept = "the old database is " + env.Config.DB + ".before-restore"
	}
	fmt.Fprintf(env.Stdout, "restored %s from %s: %d events, %d ledger entries, %d users; %s\n",
		env.Config.DB, pos[0], r.Events, r.Entries, r.Users, kept)
	fmt.Fprintln(env.Stdout, "Start creditdesk: with STRIPE_SECRET_KEY it fetches the events Stripe sent since the backup. "+
		"Spends and manual changes made after the backup are not in it.")
	return nil
}

func same(a, b string) bool {
	ab, err1 := filepath.Abs(b)
	if err1 != nil {
		return false
	}
	if a == ab {
		return true
	}
	sa, err := os.Stat(a)
	sb, err2 := os.Stat(ab)
	return err == nil && err2 == nil && os.SameFile(sa, sb)
}

func formatBytes(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.0f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}

// staged writes the database's copy to a file beside it first, then copies
// that to w: the read transaction then lasts as long as the local disk
// takes, never as long as a slow or hung backup directory (a network
// mount) would, which would keep bbolt from growing the file meanwhile.
func staged(st *storage.Store, dir string) func(io.Writer) (int64, error) {
	return func(w io.Writer) (int64, error) {
		f, err := os.CreateTemp(dir, ".backup-stage-*")
		if err != nil {
			return 0, err
		}
		defer os.Remove(f.Name())
		defer f.Close()
		if _, err := st.WriteTo(f); err != nil {
			return 0, err
		}
		if _, err := f.Seek(0, io.SeekStart); err != nil {
			return 0, err
		}
		return io.Copy(w, f)
	}
}

// backupOptions are serve's scheduled backups.
type backupOptions struct {
	dir   string
	every time.Duration
	keep  int
}

func backupFlags(fs *flag.FlagSet) *backupOptions {
	o := &backupOptions{dir: os.Getenv("CREDITDESK_BACKUP_DIR"), every: time.Hour, keep: 48}
	if v := os.Getenv("CREDITDESK_BACKUP_EVERY"); v != "" {
		if d, err := time.ParseDuration(v); err == nil {
			o.every = d
		}
	}
	if v := os.Getenv("CREDITDESK_BACKUP_KEEP"); v != "" {
		fmt.Sscan(v, &o.keep)
	}
	fs.StringVar(&o.dir, "backup-dir", o.dir, "take scheduled backups into DIR (CREDITDESK_BACKUP_DIR; off unless given)")
	fs.DurationVar(&o.every, "backup-every", o.every, "how often (CREDITDESK_BACKUP_EVERY)")
	fs.IntVar(&o.keep, "backup-keep", o.keep, "how many backups to keep (CREDITDESK_BACKUP_KEEP)")
	return o
}

// check refuses a schedule that cannot work, before serve starts.
func (o *backupOptions) check() error {
	if o.dir == "" {
		return nil
	}
	if o.every < time.Minute {
		return fmt.Errorf("--backup-every %s: take backups at most once a minute (1m, 15m, 1h)", o.every)
	}
	if o.keep < 1 {
		return fmt.Errorf("--backup-keep %d: keep at least one backup", o.keep)
	}
	return backup.Check(o.dir)
}

// start runs the schedule until ctx ends; wait returns once it has.
func (o *backupOptions) start(ctx context.Context, a *app) (wait func()) {
	if o.dir == "" {
		return func() {}
	}
	s := backup.Schedule{Dir: o.dir, Every: o.every, Keep: o.keep, Write: staged(a.store, filepath.Dir(a.store.Path())), Log: a.log,
		Done:   a.svc.NoteBackup,
		Failed: func(detail string) { a.svc.SetProblem(billing.AttnBackup, detail) }}
	done := make(chan struct{})
	go func() { defer close(done); s.Run(ctx) }()
	a.log.Info("backups", "dir", o.dir, "every", o.every, "keep", o.keep)
	return func() { <-done }
}
