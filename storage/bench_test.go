package storage

import (
	"fmt"
	"path/filepath"
	"sync/atomic"
	"testing"

	"creditdesk/billing"
)

// BenchmarkIngestParallel measures durable ingest with concurrent callers,
// as the webhook receiver drives it: each op is one committed, fsynced event.
func BenchmarkIngestParallel(b *testing.B) {
	s, err := Open(filepath.Join(b.TempDir(), "bench.db"), Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	payload := make([]byte, 2500)
	var n atomic.Int64
	b.SetParallelism(16)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			id := fmt.Sprintf("evt_%d", n.Add(1))
			if _, _, err := s.Ingest(billing.Event{EventRecord: billing.EventRecord{ID: id, Type: "checkout.session.completed"}, Payload: payload}); err != nil {
				b.Error(err)
				return
			}
		}
	})
}
