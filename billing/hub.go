package billing

import "sync"

// hub fans activities out to subscribers. Publish never blocks: each
// subscriber has its own buffer, and one that falls behind loses activities
// and is told how many on the next one it gets.
type hub struct {
	mu   sync.Mutex
	subs map[*subscriber]struct{}
}

type subscriber struct {
	ch     chan Activity
	missed int
}

const subscriberBuffer = 1024

// Subscribe returns a live feed and the function that ends it.
func (h *hub) Subscribe() (<-chan Activity, func()) {
	s := &subscriber{ch: make(chan Activity, subscriberBuffer)}
	h.mu.Lock()
	if h.subs == nil {
		h.subs = map[*subscriber]struct{}{}
	}
	h.subs[s] = struct{}{}
	h.mu.Unlock()
	var once sync.Once
	return s.ch, func() {
		once.Do(func() {
			h.mu.Lock()
			if _, ok := h.subs[s]; ok {
				delete(h.subs, s)
				close(s.ch)
			}
			h.mu.Unlock()
		})
	}
}

func (h *hub) publish(a Activity) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for s := range h.subs {
		b := a
		b.Missed = s.missed
		select {
		case s.ch <- b:
			s.missed = 0
		default:
			s.missed++
		}
	}
}
