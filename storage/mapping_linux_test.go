package storage

import (
	"bufio"
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"

	"creditdesk/billing"
)

// mappedKB is how much of the file at path this process has resident
// through its memory maps (/proc/self/smaps), in KiB.
func mappedKB(t *testing.T, path string) int {
	t.Helper()
	f, err := os.Open("/proc/self/smaps")
	if err != nil {
		t.Skipf("no smaps: %v", err)
	}
	defer f.Close()
	kb, in := 0, false
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		// A mapping's header: "start-end perms offset dev inode [path]";
		// anonymous ones have no path.
		if fields := strings.Fields(line); len(fields) >= 5 && strings.Contains(fields[0], "-") && !strings.HasSuffix(fields[0], ":") {
			in = len(fields) == 6 && fields[5] == path
			continue
		}
		if in && strings.HasPrefix(line, "Rss:") {
			n, _ := strconv.Atoi(strings.Fields(line)[1])
			kb += n
		}
	}
	return kb
}

// noiseBody is a body that does not compress, so the store has many pages.
func noiseBody(r *rand.Rand, id string) []byte {
	b := make([]byte, 3000)
	for i := range b {
		b[i] = 'a' + byte(r.IntN(26))
	}
	return fmt.Appendf(nil, `{"id":%q,"pad":%q}`, id, b)
}

// Letting go of the memory map leaves serve's resident memory with none of
// the store's file, loses nothing, and the next reads map what they read.
func TestUnmapPagesDropsTheFileFromResidentMemoryAndLosesNothing(t *testing.T) {
	s := openTemp(t)
	r := rand.New(rand.NewPCG(1, 2))
	bodies := map[string][]byte{}
	// One payload short of training a dictionary: the trainer reads every
	// payload in the background, mapping them again after unmapPages.
	for i := range dictTrainAfter - 1 {
		id := fmt.Sprint("evt_", i)
		bodies[id] = noiseBody(r, id)
		if _, _, err := s.Ingest(billing.Event{EventRecord: billing.EventRecord{ID: id, Type: "x"}, Payload: bodies[id]}); err != nil {
			t.Fatal(err)
		}
	}
	readAll := func() {
		for id, body := range bodies {
			ev, err := s.EventByID(id)
			if err != nil || string(ev.Payload) != string(body) {
				t.Fatalf("%s read back wrong: %v", id, err)
			}
		}
	}
	readAll()
	before := mappedKB(t, s.path)
	if before < 1024 {
		t.Fatalf("only %d KiB of the store mapped after reading 3 MB of it: the test measures nothing", before)
	}
	if err := unmapPages(s.db); err != nil {
		t.Fatal(err)
	}
	if after := mappedKB(t, s.path); after > before/10 {
		t.Fatalf("%d KiB of the store still mapped after unmapPages (was %d)", after, before)
	}
	readAll()
	mustVerify(t, s)
}

// Letting go of the map while writers grow the file (bbolt replaces its
// map as the file grows) and readers read it loses nothing.
func TestUnmapPagesWhileTheStoreGrows(t *testing.T) {
	s := openTemp(t)
	stop := make(chan struct{})
	var unmapper sync.WaitGroup
	unmapper.Add(1)
	go func() {
		defer unmapper.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			if err := unmapPages(s.db); err != nil {
				t.Error(err)
				return
			}
		}
	}()
	var writers sync.WaitGroup
	for w := range 4 {
		writers.Add(1)
		go func() {
			defer writers.Done()
			r := rand.New(rand.NewPCG(uint64(w), 7))
			for i := range 150 {
				id := fmt.Sprintf("evt_%d_%d", w, i)
				body := noiseBody(r, id)
				if _, _, err := s.Ingest(billing.Event{EventRecord: billing.EventRecord{ID: id, Type: "x"}, Payload: body}); err != nil {
					t.Error(err)
					return
				}
				if ev, err := s.EventByID(id); err != nil || string(ev.Payload) != string(body) {
					t.Errorf("%s read back wrong: %v", id, err)
					return
				}
			}
		}()
	}
	writers.Wait()
	close(stop)
	unmapper.Wait()
	if c, _ := s.Counts(); c.Events != 600 {
		t.Fatalf("%d events stored, want 600", c.Events)
	}
	mustVerify(t, s)
}
