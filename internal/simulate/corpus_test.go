package simulate

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stripe/stripe-go/v76/webhook"
	"github.com/tidwall/gjson"

	"creditdesk/internal/fixtures"
)

// bodyReceiver verifies each delivery's signature and keeps its body by
// event id, counting deliveries per id.
type bodyReceiver struct {
	mu     sync.Mutex
	bodies map[string][]byte
	seen   map[string]int
	bad    int
}

func (rc *bodyReceiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	e, err := webhook.ConstructEventWithOptions(body, r.Header.Get("Stripe-Signature"), secret,
		webhook.ConstructEventOptions{IgnoreAPIVersionMismatch: true})
	rc.mu.Lock()
	defer rc.mu.Unlock()
	if err != nil {
		rc.bad++
		http.Error(w, "bad signature", http.StatusBadRequest)
		return
	}
	rc.seen[e.ID]++
	rc.bodies[e.ID] = body
}

func newBodyReceiver(t *testing.T) (*bodyReceiver, string) {
	rc := &bodyReceiver{bodies: map[string][]byte{}, seen: map[string]int{}}
	srv := httptest.NewServer(rc)
	t.Cleanup(srv.Close)
	return rc, srv.URL
}

// The corpus mode sends the real payloads in turn, signed, each under an
// id no other request of the run (or of another run) has, and otherwise
// exactly as the file has it.
func TestCorpusRunSendsEveryPayloadOnceWithAFreshID(t *testing.T) {
	dir := fixtures.Dir(t, "stripe-events-2020")
	c, err := LoadCorpus(dir)
	if err != nil {
		t.Fatal(err)
	}
	if c.Len() < 50 {
		t.Fatalf("corpus of %d payloads", c.Len())
	}
	rc, url := newBodyReceiver(t)
	n := 3*c.Len() + 5
	r, err := Run(context.Background(), Config{URL: url, Secret: secret, Count: n, Concurrency: 8, Corpus: c})
	if err != nil {
		t.Fatal(err)
	}
	if r.Sent != n || r.OK != n || r.Duplicates != 0 || rc.bad != 0 || len(rc.seen) != n {
		t.Fatalf("report %+v; receiver: %d distinct ids, %d rejected", r, len(rc.seen), rc.bad)
	}
	perFile := make([]int, c.Len())
	for id, body := range rc.bodies {
		if rc.seen[id] != 1 {
			t.Fatalf("%s delivered %d times", id, rc.seen[id])
		}
		from := -1
		for i, ev := range c.events {
			// body with the file's id back where the new one is
			orig := slices.Concat(body[:ev.idAt], ev.body[ev.idAt:ev.idTo], body[min(ev.idAt+len(id)+2, len(body)):])
			if gjson.GetBytes(body, "id").Str == id && bytes.Equal(orig, ev.body) {
				from = i
			}
		}
		if from < 0 {
			t.Fatalf("%s is no corpus payload with only its id replaced", id)
		}
		perFile[from]++
	}
	for i, k := range perFile {
		if k < 3 || k > 4 {
			t.Errorf("payload %d (%s) sent %d times in %d requests over %d payloads", i, c.events[i].typ, k, n, c.Len())
		}
	}

	// A second run with a random seed and no count (its events are built
	// as they are sent, not before): nothing it sends collides with the
	// first run's ids or its own.
	r, err = Run(context.Background(), Config{URL: url, Secret: secret, Duration: 100 * time.Millisecond, Concurrency: 4, Corpus: c})
	if err != nil || r.Sent == 0 || r.OK != r.Sent || len(rc.seen) != n+r.Sent || rc.bad != 0 {
		t.Fatalf("second run: %v, %+v; %d distinct ids, want %d", err, r, len(rc.seen), n+r.Sent)
	}
}

func writeCorpus(t *testing.T, files map[string]string) string {
	dir := t.TempDir()
	for name, body := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestLoadCorpusRefusesWhatIsNotAnEvent(t *testing.T) {
	good := `{"id":"evt_1","object":"event","type":"charge.succeeded","data":{"object":{}}}`
	for _, tc := range []struct {
		files map[string]string
		want  string
	}{
		{map[string]string{"README.md": "# events"}, "no Stripe events (*.json files) in"},
		{map[string]string{"a.json": good, "b.json": `{"id":`}, "b.json: not a JSON object"},
		{map[string]string{"c.json": `{"id":"ch_1","object":"charge"}`}, `c.json: not a Stripe event ("object" is not "event")`},
		{map[string]string{"d.json": `{"id":"evt_1","object":"event"}`}, `d.json: no "type"`},
		{map[string]string{"e.json": `{"id":"ch_1","object":"event","type":"x"}`}, `e.json: no "id" starting evt_`},
		{map[string]string{"f.json": `{"id":"evt_\u0031","object":"event","type":"x"}`}, `f.json: "id" is not a plain string`},
	} {
		dir := writeCorpus(t, tc.files)
		_, err := LoadCorpus(dir)
		if err == nil || !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "\n") {
			t.Errorf("%v: error %v, want one line with %q", tc.files, err, tc.want)
		}
	}
	if _, err := LoadCorpus(filepath.Join(t.TempDir(), "none")); err == nil || !strings.Contains(err.Error(), "no such file") {
		t.Errorf("missing folder: %v", err)
	}
	c, err := LoadCorpus(writeCorpus(t, map[string]string{"README.md": "# x", "a.json": good}))
	if err != nil || c.Len() != 1 {
		t.Errorf("a README beside one event: %v, %d payloads", err, c.Len())
	}
}

// Only the event's own id changes, even where the same string appears
// earlier in the body (a plain text replace would hit that one).
func TestCorpusEventReplacesOnlyTheTopLevelID(t *testing.T) {
	dir := writeCorpus(t, map[string]string{"a.json": `{"data":{"object":{"id":"evt_same","note":"evt_same"}},"id" : "evt_same","object":"event","type":"t"}`})
	c, err := LoadCorpus(dir)
	if err != nil {
		t.Fatal(err)
	}
	ev := c.Event(7, "evt_new")
	want := `{"data":{"object":{"id":"evt_same","note":"evt_same"}},"id" : "evt_new","object":"event","type":"t"}`
	if string(ev.Body) != want || ev.ID != "evt_new" || ev.Type != "t" {
		t.Errorf("event %+v, body %s", ev, ev.Body)
	}
	if again := c.Event(0, "evt_other"); !strings.Contains(string(again.Body), `"id" : "evt_other"`) || string(ev.Body) != want {
		t.Errorf("a second event changed the first or the corpus: %s / %s", again.Body, ev.Body)
	}
}
