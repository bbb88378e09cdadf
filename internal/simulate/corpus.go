package simulate

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/tidwall/gjson"
)

// Corpus is a set of real Stripe event payloads (one JSON event object a
// file) that a load run replays in turn, each request with a fresh event id
// and otherwise byte for byte as the file has it. It is read-only once
// loaded and safe for concurrent use.
type Corpus struct {
	Dir    string
	events []corpusEvent
	size   int // bytes of all payloads
}

// corpusEvent is one payload and where its top-level id's JSON string
// sits in it, so a new id replaces exactly that and nothing else.
type corpusEvent struct {
	typ        string
	body       []byte
	idAt, idTo int // body[idAt:idTo] is the quoted event id
}

// LoadCorpus reads every *.json file of dir (other files, such as a
// README, are skipped). Each must be a Stripe event: a JSON object with
// "object": "event", a string "type" and a string "id" starting evt_.
// A file that is not says which and why; a folder with none is an error.
func LoadCorpus(dir string) (*Corpus, error) {
	files, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("corpus: %w", err)
	}
	c := &Corpus{Dir: dir}
	for _, f := range files {
		if f.IsDir() || !strings.HasSuffix(f.Name(), ".json") {
			continue
		}
		path := filepath.Join(dir, f.Name())
		body, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("corpus: %w", err)
		}
		ev, err := parseCorpusEvent(body)
		if err != nil {
			return nil, fmt.Errorf("corpus: %s: %w", path, err)
		}
		c.events = append(c.events, ev)
		c.size += len(body)
	}
	if len(c.events) == 0 {
		return nil, fmt.Errorf("corpus: no Stripe events (*.json files) in %s", dir)
	}
	return c, nil
}

func parseCorpusEvent(body []byte) (corpusEvent, error) {
	if !gjson.ValidBytes(body) || !gjson.ParseBytes(body).IsObject() {
		return corpusEvent{}, errors.New("not a JSON object")
	}
	f := gjson.GetManyBytes(body, "object", "type", "id")
	switch {
	case f[0].Str != "event":
		return corpusEvent{}, errors.New(`not a Stripe event ("object" is not "event")`)
	case f[1].Type != gjson.String || f[1].Str == "":
		return corpusEvent{}, errors.New(`no "type"`)
	case f[2].Type != gjson.String || !strings.HasPrefix(f[2].Str, "evt_"):
		return corpusEvent{}, errors.New(`no "id" starting evt_`)
	}
	// gjson gives the raw value's offset in body; a path with no wildcard
	// always has one, but an escaped id would not be what Raw says: refuse
	// rather than splice at the wrong place.
	id := f[2]
	if id.Index <= 0 || string(body[id.Index:id.Index+len(id.Raw)]) != `"`+id.Str+`"` {
		return corpusEvent{}, errors.New(`"id" is not a plain string`)
	}
	return corpusEvent{typ: f[1].Str, body: body, idAt: id.Index, idTo: id.Index + len(id.Raw)}, nil
}

// Len is the number of payloads.
func (c *Corpus) Len() int { return len(c.events) }

// MeanSize is the payloads' average size in bytes.
func (c *Corpus) MeanSize() int { return c.size / len(c.events) }

// Event returns payload i (modulo Len, in file-name order) as an event
// whose top-level id is id; the rest of the body is the file's.
func (c *Corpus) Event(i int, id string) Event {
	ev := c.events[i%len(c.events)]
	body := slices.Concat(ev.body[:ev.idAt], []byte(`"`+id+`"`), ev.body[ev.idTo:])
	return Event{ID: id, Type: ev.typ, Body: body}
}

// corpusID is the fresh id of the i-th event of a corpus run: evt_, the
// run's seed, then i, so two runs against one receiver (random seeds) do
// not collide and no id repeats within a run.
func corpusID(seed uint64, i int) string { return fmt.Sprintf("evt_%016x%010d", seed, i) }
