// Package remote serves the console's tui.Backend and tui.Operator over the
// admin socket of a running creditdesk, and is the console's Backend on the
// other end: a console started on a database that `serve` (or another
// console) holds attaches to that process instead of failing. Reads and
// operator actions are one request each; the live feed is one long NDJSON
// response, never polled.
package remote

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"creditdesk/billing"
	"creditdesk/tui"
	"creditdesk/webhook"
)

// Info describes the process behind the socket, for the attached console's
// header and tabs.
type Info struct {
	PID int `json:"pid"`
	// Mode is serve, console or demo.
	Mode       string `json:"mode"`
	WebhookURL string `json:"webhook_url"`
	Notice     string `json:"notice,omitempty"`
	Demo       bool   `json:"demo,omitempty"`
	// Stripe says the process holds a Stripe key, so the Stripe panes work
	// (the calls run there; an attached console never needs the key).
	Stripe bool `json:"stripe,omitempty"`
	// Live is a live-mode key: actions move real money.
	Live bool `json:"live,omitempty"`
}

// stats is the header's counters with the Stripe panes' status line.
type stats struct {
	Stats  billing.Stats `json:"stats"`
	Status string        `json:"status,omitempty"`
}

type (
	retryRequest  struct{ Event string }
	assignRequest struct{ Purchase, Type string }
	linkRequest   struct{ From, To string }
	portalRequest struct{ User string }
	actionRequest struct{ PaymentIntent, Key string }
	resyncRequest struct{ Since time.Duration }
	summary       struct{ Summary string }
)

// feedWriteTimeout bounds one write of the live feed: a console that stops
// reading for this long is dropped (its activities were being dropped by the
// hub meanwhile, so it never slowed the receiver).
const feedWriteTimeout = time.Minute

// NewHandler serves b and op (nil: no Stripe key) under /console/.
func NewHandler(b tui.Backend, op tui.Operator, info Info) http.Handler {
	mux := http.NewServeMux()
	reply := webhook.AdminReply
	num := func(r *http.Request, name string, def int) int {
		n, err := strconv.Atoi(r.URL.Query().Get(name))
		if err != nil || n <= 0 {
			return def
		}
		return n
	}
	seq := func(r *http.Request, name string) uint64 {
		n, _ := strconv.ParseUint(r.URL.Query().Get(name), 10, 64)
		return n
	}
	if op != nil {
		info.Stripe, info.Live = true, op.Live()
	}

	mux.HandleFunc("GET /console/info", func(w http.ResponseWriter, r *http.Request) { reply(w, info, nil) })
	mux.HandleFunc("GET /console/stats", func(w http.ResponseWriter, r *http.Request) {
		s := stats{Stats: b.Stats()}
		if op != nil {
			s.Status = op.Status()
		}
		reply(w, s, nil)
	})
	mux.HandleFunc("GET /console/feed", func(w http.ResponseWriter, r *http.Request) { serveFeed(w, r, b) })
	mux.HandleFunc("GET /console/events", func(w http.ResponseWriter, r *http.Request) {
		v, err := b.EventsPage(seq(r, "before"), num(r, "limit", 100))
		reply(w, v, err)
	})
	mux.HandleFunc("GET /console/purchases", func(w http.ResponseWriter, r *http.Request) {
		v, err := b.PurchasesPage(seq(r, "before"), num(r, "limit", 100))
		reply(w, v, err)
	})
	mux.HandleFunc("GET /console/users", func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		v, err := b.UsersPage(q.Get("after"), q.Get("filter"), num(r, "limit", 100))
		reply(w, v, err)
	})
	mux.HandleFunc("GET /console/insight", webhook.InsightHandler(b.Insight))
	mux.HandleFunc("GET /console/users/{id}", func(w http.ResponseWriter, r *http.Request) {
		v, err := b.UserDetail(r.PathValue("id"))
		reply(w, v, err)
	})
	mux.HandleFunc("POST /console/adjust", posted(func(r *http.Request, req billing.Adjustment) (any, error) {
		return b.Adjust(r.Context(), req)
	}))
	mux.HandleFunc("GET /console/attention", func(w http.ResponseWriter, r *http.Request) {
		v, err := b.Attention()
		reply(w, v, err)
	})
	mux.HandleFunc("POST /console/retry", posted(func(r *http.Request, req retryRequest) (any, error) {
		return struct{}{}, b.Retry(r.Context(), req.Event)
	}))
	mux.HandleFunc("POST /console/assign", posted(func(r *http.Request, req assignRequest) (any, error) {
		return struct{}{}, b.AssignType(r.Context(), req.Purchase, req.Type)
	}))
	mux.HandleFunc("POST /console/link", posted(func(r *http.Request, req linkRequest) (any, error) {
		return struct{}{}, b.LinkUser(r.Context(), req.From, req.To)
	}))
	webhook.MountDeliveries(mux, "/console", b)
	mux.HandleFunc("GET /console/types", func(w http.ResponseWriter, r *http.Request) { reply(w, b.PurchaseTypes(), nil) })
	mux.HandleFunc("GET /console/apikeys", func(w http.ResponseWriter, r *http.Request) {
		v, err := b.ListAPIKeys()
		for i := range v {
			v[i].Hash = nil
		}
		reply(w, v, err)
	})
	mux.HandleFunc("POST /console/apikeys/{name}", func(w http.ResponseWriter, r *http.Request) {
		plain, err := b.CreateAPIKey(r.Context(), r.PathValue("name"))
		reply(w, summary{plain}, err)
	})
	mux.HandleFunc("DELETE /console/apikeys/{name}", func(w http.ResponseWriter, r *http.Request) {
		reply(w, struct{}{}, b.RevokeAPIKey(r.Context(), r.PathValue("name")))
	})

	// The Stripe panes' calls run here, where the key is.
	stripe := func(pattern string, h func(w http.ResponseWriter, r *http.Request)) {
		mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
			if op == nil {
				reply(w, nil, billing.ErrNoStripe)
				return
			}
			h(w, r)
		})
	}
	stripe("GET /console/stripe/choices", func(w http.ResponseWriter, r *http.Request) { reply(w, op.Choices(), nil) })
	stripe("POST /console/stripe/checkout", posted(func(r *http.Request, req billing.CheckoutRequest) (any, error) {
		v, err := op.CreateCheckout(r.Context(), req)
		return v, err
	}))
	stripe("POST /console/stripe/portal", posted(func(r *http.Request, req portalRequest) (any, error) {
		url, err := op.CreatePortal(r.Context(), req.User)
		return summary{url}, err
	}))
	stripe("GET /console/stripe/captures", func(w http.ResponseWriter, r *http.Request) {
		v, err := op.Captures(r.Context())
		reply(w, v, err)
	})
	stripe("POST /console/stripe/capture", posted(func(r *http.Request, req actionRequest) (any, error) {
		s, err := op.Capture(r.Context(), req.PaymentIntent, req.Key)
		return summary{s}, err
	}))
	stripe("POST /console/stripe/cancel", posted(func(r *http.Request, req actionRequest) (any, error) {
		s, err := op.Cancel(r.Context(), req.PaymentIntent, req.Key)
		return summary{s}, err
	}))
	stripe("GET /console/stripe/catalog", func(w http.ResponseWriter, r *http.Request) {
		v, err := op.Catalog(r.Context(), r.URL.Query().Get("sync") == "1")
		reply(w, v, err)
	})
	stripe("GET /console/stripe/health", func(w http.ResponseWriter, r *http.Request) {
		v, err := op.Health(r.Context())
		reply(w, v, err)
	})
	stripe("POST /console/stripe/reconcile", posted(func(r *http.Request, req resyncRequest) (any, error) {
		return op.Reconcile(r.Context(), req.Since)
	}))
	stripe("POST /console/stripe/resync", posted(func(r *http.Request, req resyncRequest) (any, error) {
		s, err := op.Resync(r.Context(), req.Since)
		return summary{s}, err
	}))
	return mux
}

// posted is a handler that decodes a T from the body (refusing what does
// not decode as invalid input) and answers what do returns.
func posted[T any](do func(r *http.Request, req T) (any, error)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		var req T
		if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 64<<10)).Decode(&req); err != nil {
			webhook.AdminReply(w, nil, fmt.Errorf("%w: %v", billing.ErrInvalid, err))
			return
		}
		v, err := do(r, req)
		webhook.AdminReply(w, v, err)
	}
}

// serveFeed writes the live feed as one JSON activity a line until the
// client goes away or the server stops. It reads its own subscription of
// the hub, which drops for a slow reader and says how many it dropped, so
// a console that stops reading never slows the receiver.
func serveFeed(w http.ResponseWriter, r *http.Request, b tui.Backend) {
	feed, stop := b.Subscribe()
	defer stop()
	rc := http.NewResponseController(w)
	w.Header().Set("Content-Type", "application/x-ndjson")
	w.WriteHeader(http.StatusOK)
	if err := rc.Flush(); err != nil {
		return
	}
	enc := json.NewEncoder(w)
	ctx := r.Context()
	for {
		select {
		case <-ctx.Done():
			return
		case a, ok := <-feed:
			if !ok {
				return
			}
			_ = rc.SetWriteDeadline(time.Now().Add(feedWriteTimeout))
			if enc.Encode(a) != nil || rc.Flush() != nil {
				return
			}
		}
	}
}
