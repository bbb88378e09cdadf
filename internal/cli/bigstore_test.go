package cli

import (
	"fmt"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	tea "github.com/charmbracelet/bubbletea"

	"creditdesk/billing"
	"creditdesk/storage"
	"creditdesk/tui"
)

// seedBigStore fills path with users users (each with one ledger entry) and
// events events (already applied), unless it already holds them.
func seedBigStore(t testing.TB, path string, users, events int) {
	st, err := storage.Open(path, storage.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	c, _ := st.Counts()
	if c.Users >= uint64(users) && c.Events >= uint64(events) {
		return
	}
	start := time.Now()
	now := time.Now().UTC()
	for base := int(c.Users); base < users; base += 5000 {
		err := st.Update(now, func(tx billing.Tx) error {
			for i := base; i < min(base+5000, users); i++ {
				id := fmt.Sprintf("user_%06d", i)
				if _, _, err := billing.Post(tx, billing.Posting{UserID: id, Delta: int64(100 + i%900), Key: "seed:" + id, Reason: "seed", Source: "seed", Kind: "manual"}); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	var next atomic.Int64
	next.Store(int64(c.Events))
	var wg sync.WaitGroup
	body := []byte(`{"id":"x","object":"event","type":"checkout.session.completed","data":{"object":{"id":"cs_x","metadata":{"user_id":"user_000001","credits":"10"}}}}`)
	for range 64 {
		wg.Go(func() {
			for {
				i := next.Add(1)
				if i > int64(events) {
					return
				}
				ev := billing.Event{EventRecord: billing.EventRecord{ID: fmt.Sprintf("evt_seed_%07d", i), Type: "checkout.session.completed",
					Created: now.Unix(), APIVersion: "2023-10-16", State: billing.StateApplied, User: fmt.Sprintf("user_%06d", i%int64(users)), Amount: 10},
					Payload: body}
				if _, _, err := st.Ingest(ev); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	t.Logf("seeded %s in %s", path, time.Since(start).Round(time.Second))
}

// console runs a model's commands the way Bubble Tea would; commands that
// block (the live feed) are left running.
type console struct {
	m    tea.Model
	msgs chan tea.Msg
}

func (c *console) run(cmd tea.Cmd) {
	if cmd == nil {
		return
	}
	go func() {
		msg := cmd()
		if b, ok := msg.(tea.BatchMsg); ok {
			for _, cmd := range b {
				c.run(cmd)
			}
			return
		}
		if msg != nil {
			c.msgs <- msg
		}
	}()
}

// until handles messages until the screen shows every string in want or
// the deadline passes.
func (c *console) until(want []string, deadline time.Duration) (string, bool) {
	end := time.After(deadline)
	for {
		v := c.m.View()
		ok := true
		for _, w := range want {
			ok = ok && strings.Contains(v, w)
		}
		if ok {
			return v, true
		}
		select {
		case msg := <-c.msgs:
			var cmd tea.Cmd
			c.m, cmd = c.m.Update(msg)
			c.run(cmd)
		case <-end:
			return v, false
		}
	}
}

// TestFirstFrameOnBigStore measures the time from opening a store of
// 100,000 users and 1,000,000 events to the console's first frame with
// data, and to the Users tab. It runs only when CREDITDESK_BIGSTORE names
// the store file (make bench does), since seeding takes minutes once.
func TestFirstFrameOnBigStore(t *testing.T) {
	path := os.Getenv("CREDITDESK_BIGSTORE")
	if path == "" {
		t.Skip("set CREDITDESK_BIGSTORE=FILE to run (make bench)")
	}
	seedBigStore(t, path, 100_000, 1_000_000)
	for run := range 3 {
		start := time.Now()
		st, err := storage.Open(path, storage.Options{})
		if err != nil {
			t.Fatal(err)
		}
		svc := billing.NewService(st, billing.Options{})
		c := &console{m: tui.New(svc, tui.Options{}), msgs: make(chan tea.Msg, 1024)}
		c.run(c.m.Init())
		var cmd tea.Cmd
		c.m, cmd = c.m.Update(tea.WindowSizeMsg{Width: 120, Height: 40})
		c.run(cmd)
		v, ok := c.until([]string{"user_000000", "1,000,000 events"}, 10*time.Second)
		first := time.Since(start)
		if !ok {
			t.Fatalf("no first frame with data in 10s:\n%s", v)
		}
		t0 := time.Now()
		c.m, cmd = c.m.Update(tea.KeyMsg{Type: tea.KeyRunes, Runes: []rune("4")}) // Users is the fourth tab
		c.run(cmd)
		if v, ok = c.until([]string{"user_000001"}, 5*time.Second); !ok {
			t.Fatalf("users tab:\n%s", v)
		}
		users := time.Since(t0)
		t.Logf("run %d: first frame with data %s, users tab %s", run+1, first.Round(time.Millisecond), users.Round(time.Millisecond))
		fmt.Printf("BIGSTORE first_frame_ms=%d users_tab_ms=%d\n", first.Milliseconds(), users.Milliseconds())
		st.Close()
	}
}
