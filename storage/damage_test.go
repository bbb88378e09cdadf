package storage

import (
	"cmp"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"creditdesk/billing"

	bolt "go.etcd.io/bbolt"
)

var (
	realOnce sync.Once
	realData []byte
	realErr  error
)

// realDatabase is a database of 300 users with a grant and a spend each and
// 150 stored events (dozens of pages), closed, as bytes; built once.
func realDatabase(t *testing.T) []byte {
	t.Helper()
	realOnce.Do(func() {
		dir, err := os.MkdirTemp("", "creditdesk-real-")
		if err != nil {
			realErr = err
			return
		}
		defer os.RemoveAll(dir)
		realData, realErr = buildRealDatabase(filepath.Join(dir, "real.db"))
	})
	if realErr != nil {
		t.Fatal(realErr)
	}
	return realData
}

func buildRealDatabase(path string) ([]byte, error) {
	s, err := Open(path, Options{})
	if err != nil {
		return nil, err
	}
	err = s.Update(t0, func(btx billing.Tx) error {
		tx := btx.(*Tx)
		for i := range 300 {
			u := fmt.Sprintf("user_%04d", i)
			if _, _, err := tx.Post(billing.Posting{UserID: u, Delta: 1000, Key: "g:" + u, Reason: "welcome pack " + u, Source: "evt", Kind: "pack"}); err != nil {
				return err
			}
			if _, _, err := tx.Post(billing.Posting{UserID: u, Delta: -10, Key: "s:" + u, Reason: "spend", Source: "api", Kind: "spend"}); err != nil {
				return err
			}
		}
		return nil
	})
	for i := range 150 {
		if err != nil {
			break
		}
		id := fmt.Sprintf("evt_%04d", i)
		_, _, err = s.Ingest(billing.Event{EventRecord: billing.EventRecord{ID: id, Type: "checkout.session.completed"},
			Payload: []byte(`{"id":"` + id + `","pad":"` + strings.Repeat("x", 400) + `"}`)})
	}
	if err == nil {
		_, err = s.Verify()
	}
	if cerr := s.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, err
	}
	return os.ReadFile(path)
}

// useDamaged opens a damaged copy, writable and read-only, and if it opens
// verifies it and lists users: none of it may panic, and every error is one
// line that says what to do. It returns the errors of Open and Verify.
func useDamaged(t *testing.T, data []byte, what string) (openErr, verifyErr error) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "damaged.db")
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	oneLine := func(op string, err error) {
		t.Helper()
		if err == nil {
			return
		}
		msg := err.Error()
		if errors.Is(err, ErrLocked) {
			t.Errorf("%s: %s: a failed open kept the file locked: %q", what, op, msg)
		}
		if strings.Contains(msg, "\n") || len(msg) > 400 {
			t.Errorf("%s: %s: not one line: %q", what, op, msg)
		}
		if errors.Is(err, billing.ErrDamaged) && !strings.Contains(msg, "restore the last backup") {
			t.Errorf("%s: %s: %q does not say what to do", what, op, msg)
		}
	}
	for _, ro := range []bool{true, false} {
		s, err := Open(path, Options{ReadOnly: ro})
		oneLine(fmt.Sprintf("open (read-only %v)", ro), err)
		if err != nil {
			openErr = err
			continue
		}
		_, verr := s.Verify()
		oneLine("verify", verr)
		if verr != nil {
			verifyErr = verr
		}
		_, uerr := s.UsersPage("", "", 1000)
		oneLine("users", uerr)
		_, eerr := s.EventsPage(0, 1000, nil)
		oneLine("events", eerr)
		if err := s.Close(); err != nil {
			oneLine("close", err)
		}
	}
	return openErr, verifyErr
}

func TestTruncatedDatabaseIsAOneLineErrorNotAPanic(t *testing.T) {
	data := realDatabase(t)
	used := usedBytes(t, data)
	page := os.Getpagesize()
	for _, n := range []int{1, 100, page, 2 * page, 3*page + 17, used / 2, used - page, used - 1, used, len(data) - 1} {
		openErr, verifyErr := useDamaged(t, data[:n], fmt.Sprintf("truncated to %d of %d bytes (%d used)", n, len(data), used))
		if openErr == nil && verifyErr == nil && n < used {
			t.Errorf("truncated to %d of %d bytes (%d used): opened and verified as if whole", n, len(data), used)
		}
		if n >= used && (openErr != nil || verifyErr != nil) {
			t.Errorf("truncated to %d bytes, past the %d used: %v %v", n, used, openErr, verifyErr)
		}
	}
	// Half a file is damage, and says so with the file's name.
	path := filepath.Join(t.TempDir(), "half.db")
	if err := os.WriteFile(path, data[:used/2], 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := Open(path, Options{})
	if !errors.Is(err, billing.ErrDamaged) || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), "restore the last backup") {
		t.Fatalf("half a file: %v", err)
	}
}

// usedBytes is how much of the file bbolt's pages take (the file is larger:
// bbolt grows it ahead).
func usedBytes(t *testing.T, data []byte) int {
	t.Helper()
	path := filepath.Join(t.TempDir(), "whole.db")
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	db, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var n int64
	_ = db.View(func(tx *bolt.Tx) error { n = tx.Size(); return nil })
	return int(n)
}

func TestScribbledDatabaseNeverPanics(t *testing.T) {
	data := realDatabase(t)
	rng := rand.New(rand.NewPCG(11, 17))
	trials := 150
	if testing.Short() {
		trials = 40
	}
	var refused, caught int
	for i := range trials {
		b := append([]byte(nil), data...)
		flips := 1 + rng.IntN(16)
		for range flips {
			b[rng.IntN(len(b))] ^= byte(1 + rng.IntN(255))
		}
		openErr, verifyErr := useDamaged(t, b, fmt.Sprintf("trial %d (%d bytes flipped)", i, flips))
		switch {
		case openErr != nil:
			refused++
		case verifyErr != nil:
			caught++
		}
	}
	t.Logf("%d trials: %d refused at open, %d found by verify, the rest in unused bytes", trials, refused, caught)
	if refused+caught == 0 {
		t.Fatal("no flip was noticed")
	}
}

func TestPageDamageIsFoundByVerify(t *testing.T) {
	data := realDatabase(t)
	page := os.Getpagesize()
	// Scribble over whole pages in the middle of the file, one at a time: a
	// page that holds data is then unreadable or inconsistent.
	found := 0
	for p := 3; p*page < len(data)-page; p += 2 {
		b := append([]byte(nil), data...)
		for i := p * page; i < (p+1)*page; i++ {
			b[i] = 0xA5
		}
		openErr, verifyErr := useDamaged(t, b, fmt.Sprintf("page %d scribbled", p))
		if openErr != nil || verifyErr != nil {
			found++
		}
	}
	if found == 0 {
		t.Fatal("no scribbled page was found")
	}
}

func TestEmptyFileIsRefusedNotStartedFresh(t *testing.T) {
	path := filepath.Join(t.TempDir(), "empty.db")
	if err := os.WriteFile(path, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, ro := range []bool{false, true} {
		_, err := Open(path, Options{ReadOnly: ro})
		if err == nil || !strings.Contains(err.Error(), "empty (0 bytes)") || !strings.Contains(err.Error(), "restore the last backup") {
			t.Fatalf("0-byte file (read-only %v): %v", ro, err)
		}
	}
	if fi, _ := os.Stat(path); fi.Size() != 0 {
		t.Fatalf("the empty file was written: %d bytes", fi.Size())
	}
	// A path with nothing there is still a new database.
	s, err := Open(filepath.Join(t.TempDir(), "new.db"), Options{})
	if err != nil {
		t.Fatalf("new path: %v", err)
	}
	s.Close()
}

func TestOtherFilesAreRefusedNotStartedFresh(t *testing.T) {
	dir := t.TempDir()
	text := filepath.Join(dir, "notes.txt")
	if err := os.WriteFile(text, []byte(strings.Repeat("not a database\n", 1000)), 0o600); err != nil {
		t.Fatal(err)
	}
	other := filepath.Join(dir, "other.db")
	db, err := bolt.Open(other, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Update(func(tx *bolt.Tx) error {
		b, err := tx.CreateBucket([]byte("widgets"))
		if err != nil {
			return err
		}
		return b.Put([]byte("w1"), []byte("blue"))
	}); err != nil {
		t.Fatal(err)
	}
	db.Close()
	for _, path := range []string{text, other} {
		before, _ := os.ReadFile(path)
		for _, ro := range []bool{false, true} {
			_, err := Open(path, Options{ReadOnly: ro})
			if err == nil || !strings.Contains(err.Error(), "not a creditdesk database") || strings.Contains(err.Error(), "\n") {
				t.Errorf("%s (read-only %v): %v", filepath.Base(path), ro, err)
			}
		}
		if after, _ := os.ReadFile(path); string(after) != string(before) {
			t.Errorf("%s was changed by Open", filepath.Base(path))
		}
	}
}

func TestGuardLetsOtherPanicsThrough(t *testing.T) {
	defer func() {
		if r := recover(); r != "a bug" {
			t.Fatalf("recovered %v, want the caller's own panic", r)
		}
	}()
	_ = guard("x.db", func() error { panic("a bug") })
}

// A scribbled freelist page is refused at open, with the one line that says
// what to do, instead of crashing verify: bbolt's check asserts on that
// page's header on a goroutine of its own, where a panic ends the process.
func TestScribbledFreelistPageIsRefusedNotACrash(t *testing.T) {
	data := realDatabase(t)
	page := os.Getpagesize()
	w := &pageWalk{size: int64(len(data)), pageSize: int64(page)}
	var freelist uint64
	for i := range 2 { // the meta with the newest transaction names it
		m := data[i*page+pageHeaderSize:]
		if le.Uint32(m) == metaMagic && (freelist == 0 || le.Uint64(m[48:]) > le.Uint64(data[(1-i)*page+pageHeaderSize+48:])) {
			freelist, w.high = le.Uint64(m[32:]), le.Uint64(m[40:])
		}
	}
	if freelist < 2 || freelist >= w.high {
		t.Fatalf("freelist page %d of %d: the test reads the meta wrong", freelist, w.high)
	}
	for name, scribble := range map[string]func(hdr []byte){
		"id":    func(hdr []byte) { hdr[3] ^= 0x5A },
		"flags": func(hdr []byte) { hdr[8] = branchPageFlag },
	} {
		b := append([]byte(nil), data...)
		scribble(b[int(freelist)*page:])
		openErr, verifyErr := useDamaged(t, b, "freelist page "+name+" scribbled")
		if openErr == nil && verifyErr == nil {
			t.Fatalf("freelist page's %s scribbled: opened and verified", name)
		}
		if err := cmp.Or(openErr, verifyErr); !strings.Contains(err.Error(), "freelist") {
			t.Errorf("freelist page's %s scribbled: %v, want the freelist named", name, err)
		}
	}
}
