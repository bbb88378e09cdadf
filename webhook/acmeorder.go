package webhook

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"sync"
)

// orderLocations is the ACME client's transport. RFC 8555 does not require
// a Location header on the answer to an order's finalize request, and CAs
// that finalize asynchronously (Pebble always, Let's Encrypt at times)
// answer "processing" without one; golang.org/x/crypto/acme then polls the
// order at "" and fails with `Post "": unsupported protocol scheme`. So the
// transport remembers each order's URL by its finalize URL, from the
// answers that carry both, and adds the Location a finalize answer lacks.
type orderLocations struct {
	base http.RoundTripper

	mu    sync.Mutex
	order map[string]string // finalize URL → order URL
}

func newOrderLocations(base http.RoundTripper) *orderLocations {
	return &orderLocations{base: base, order: map[string]string{}}
}

func (o *orderLocations) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := o.base.RoundTrip(req)
	if err != nil || req.Method != http.MethodPost || resp.StatusCode >= 300 {
		return resp, err
	}
	loc := resp.Header.Get("Location")
	o.mu.Lock()
	orderURL, isFinalize := o.order[req.URL.String()]
	o.mu.Unlock()
	switch {
	case isFinalize && loc == "":
		resp.Header.Set("Location", orderURL)
	case loc != "" && !isFinalize:
		// Perhaps a new order: its body names the finalize URL.
		body, rerr := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		resp.Body.Close()
		resp.Body = io.NopCloser(bytes.NewReader(body))
		if rerr != nil {
			return resp, nil
		}
		var v struct {
			Finalize string `json:"finalize"`
		}
		if json.Unmarshal(body, &v) == nil && v.Finalize != "" {
			o.mu.Lock()
			o.order[v.Finalize] = loc
			o.mu.Unlock()
		}
	}
	return resp, nil
}
