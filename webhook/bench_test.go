package webhook

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"sync/atomic"
	"testing"
	"time"
)

// BenchmarkReceiver measures signed deliveries acknowledged durably over
// real HTTP on loopback, with the processor not running.
func BenchmarkReceiver(b *testing.B) { benchReceiver(b, false) }

// BenchmarkReceiverWithProcessor is the same with the processor applying
// events as they arrive, as in production.
func BenchmarkReceiverWithProcessor(b *testing.B) { benchReceiver(b, true) }

func benchReceiver(b *testing.B, processor bool) {
	r := newRig(&testing.T{}, oldSecret)
	defer r.srv.Close()
	if processor {
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { r.svc.Run(ctx); close(done) }()
		defer func() { cancel(); <-done }()
	}
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	var n atomic.Int64
	b.SetParallelism(16)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			body := event(fmt.Sprint("evt_b", n.Add(1)), "2023-10-16")
			req, _ := http.NewRequest(http.MethodPost, r.srv.URL+DefaultPath, bytes.NewReader(body))
			req.Header.Set("Stripe-Signature", sign(body, oldSecret, time.Now()))
			resp, err := client.Do(req)
			if err != nil {
				b.Error(err)
				return
			}
			_, _ = io.Copy(io.Discard, resp.Body) // so the connection is reused
			resp.Body.Close()
			if resp.StatusCode != 200 {
				b.Errorf("status %d", resp.StatusCode)
				return
			}
		}
	})
}
