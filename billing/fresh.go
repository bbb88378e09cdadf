package billing

import (
	"bytes"
	"sync"
)

// freshLimit bounds the bodies kept in memory between the receiver and the
// processor: a burst's backlog stays near one batch (a few hundred events of
// a few KB), so 8 MiB holds it; past that, events are read back from the
// store as before.
const freshLimit = 8 << 20

// fresh holds the bodies of events just ingested, by sequence, until the
// processor takes them. The processor then applies what the receiver has
// just acknowledged without reading it back from the store, decompressing
// it, and paging the store's file into memory to do so. It is a cache, not
// the record: an event that is not here (it did not fit, it was ingested
// before a restart, it waits for a retry) is read from the store.
type fresh struct {
	mu    sync.Mutex
	bySeq map[uint64][]byte
	size  int
}

// put keeps a copy of body as the payload of the event stored at seq, when
// it fits.
func (f *fresh) put(seq uint64, body []byte) {
	f.mu.Lock()
	fits := f.size+len(body) <= freshLimit
	if fits {
		f.size += len(body) // reserved, so the copy is made outside the lock
	}
	f.mu.Unlock()
	if !fits {
		return
	}
	c := bytes.Clone(body)
	f.mu.Lock()
	if f.bySeq == nil {
		f.bySeq = map[uint64][]byte{}
	}
	f.bySeq[seq] = c
	f.mu.Unlock()
}

// take fills in the payload of each event that is here, forgets it, and
// returns the sequences of the events it could not fill.
func (f *fresh) take(evs []Event) (missing []uint64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for i := range evs {
		if body, ok := f.bySeq[evs[i].Seq]; ok {
			evs[i].Payload = body
			delete(f.bySeq, evs[i].Seq)
			f.size -= len(body)
			continue
		}
		missing = append(missing, evs[i].Seq)
	}
	return missing
}

// forgetThrough drops every body at or below seq. The processor has seen
// every received event up to seq (they are applied in arrival order), so a
// body still here for one of them was put after the processor read it from
// the store instead (put runs after the commit that made the event
// visible) and will never be taken.
func (f *fresh) forgetThrough(seq uint64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for s, body := range f.bySeq {
		if s <= seq {
			delete(f.bySeq, s)
			f.size -= len(body)
		}
	}
}

// len is how many bodies are held (tests).
func (f *fresh) len() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.bySeq)
}
