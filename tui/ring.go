package tui

// ring is a bounded deque, newest first: PushFront adds the newest item and
// drops the oldest when full; PushBack adds older items only while there is
// room. At(0) is the newest.
type ring[T any] struct {
	buf  []T
	head int
	n    int
}

func newRing[T any](capacity int) *ring[T] {
	return &ring[T]{buf: make([]T, max(capacity, 1))}
}

func (r *ring[T]) Len() int { return r.n }

func (r *ring[T]) PushFront(v T) {
	r.head = (r.head - 1 + len(r.buf)) % len(r.buf)
	r.buf[r.head] = v
	if r.n < len(r.buf) {
		r.n++
	}
}

func (r *ring[T]) PushBack(v T) bool {
	if r.n == len(r.buf) {
		return false
	}
	r.buf[(r.head+r.n)%len(r.buf)] = v
	r.n++
	return true
}

func (r *ring[T]) At(i int) T { return r.buf[(r.head+i)%len(r.buf)] }

func (r *ring[T]) Ptr(i int) *T { return &r.buf[(r.head+i)%len(r.buf)] }
