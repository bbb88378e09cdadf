package webhook

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strconv"

	"creditdesk/billing"
)

// DeliveriesService is what the admin socket serves of the app webhooks'
// outbox (billing.Service satisfies it).
type DeliveriesService interface {
	Deliveries(before uint64, limit int, failedOnly bool) ([]billing.Delivery, error)
	EndpointStates() ([]billing.EndpointState, error)
	ResendDelivery(seq uint64) error
	ResendFailed() (int, error)
	EnableEndpoint(id string) error
}

// MountDeliveries adds the outbox's routes under prefix ("" on the admin
// socket, "/console" for the attached console).
func MountDeliveries(mux *http.ServeMux, prefix string, svc DeliveriesService) {
	mux.HandleFunc("GET "+prefix+"/deliveries", func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		before, _ := strconv.ParseUint(q.Get("before"), 10, 64)
		limit, err := strconv.Atoi(q.Get("limit"))
		if err != nil || limit <= 0 {
			limit = 100
		}
		v, err := svc.Deliveries(before, min(limit, 1000), q.Get("failed") == "1")
		AdminReply(w, v, err)
	})
	mux.HandleFunc("GET "+prefix+"/deliveries/endpoints", func(w http.ResponseWriter, r *http.Request) {
		v, err := svc.EndpointStates()
		AdminReply(w, v, err)
	})
	mux.HandleFunc("POST "+prefix+"/deliveries/resend-failed", func(w http.ResponseWriter, r *http.Request) {
		n, err := svc.ResendFailed()
		AdminReply(w, map[string]int{"queued": n}, err)
	})
	mux.HandleFunc("POST "+prefix+"/deliveries/{seq}/resend", func(w http.ResponseWriter, r *http.Request) {
		seq, err := strconv.ParseUint(r.PathValue("seq"), 10, 64)
		if err != nil {
			AdminReply(w, nil, fmt.Errorf("%w: delivery %q is not a number", billing.ErrInvalid, r.PathValue("seq")))
			return
		}
		AdminReply(w, map[string]bool{"queued": true}, svc.ResendDelivery(seq))
	})
	mux.HandleFunc("POST "+prefix+"/deliveries/endpoints/{id}/enable", func(w http.ResponseWriter, r *http.Request) {
		AdminReply(w, map[string]bool{"enabled": true}, svc.EnableEndpoint(r.PathValue("id")))
	})
}

// Deliveries is billing.Service.Deliveries, remotely.
func (c *AdminClient) Deliveries(before uint64, limit int, failedOnly bool) ([]billing.Delivery, error) {
	var out []billing.Delivery
	f := ""
	if failedOnly {
		f = "1"
	}
	return out, c.do(http.MethodGet, fmt.Sprintf("/deliveries?before=%d&limit=%d&failed=%s", before, limit, f), nil, &out)
}

// EndpointStates is billing.Service.EndpointStates, remotely.
func (c *AdminClient) EndpointStates() ([]billing.EndpointState, error) {
	var out []billing.EndpointState
	return out, c.do(http.MethodGet, "/deliveries/endpoints", nil, &out)
}

// ResendDelivery is billing.Service.ResendDelivery, remotely.
func (c *AdminClient) ResendDelivery(seq uint64) error {
	var out map[string]bool
	return c.Do(context.Background(), http.MethodPost, fmt.Sprintf("/deliveries/%d/resend", seq), nil, &out)
}

// ResendFailed is billing.Service.ResendFailed, remotely.
func (c *AdminClient) ResendFailed() (int, error) {
	var out struct{ Queued int }
	err := c.Do(context.Background(), http.MethodPost, "/deliveries/resend-failed", nil, &out)
	return out.Queued, err
}

// EnableEndpoint is billing.Service.EnableEndpoint, remotely.
func (c *AdminClient) EnableEndpoint(id string) error {
	var out map[string]bool
	return c.Do(context.Background(), http.MethodPost, "/deliveries/endpoints/"+url.PathEscape(id)+"/enable", nil, &out)
}
