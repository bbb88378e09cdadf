package remote

import (
	"context"
	"fmt"
	"net/http"
	"net/url"

	"creditdesk/billing"
)

// The Deliveries tab over the socket: the routes are webhook's
// (MountDeliveries under /console, mounted in NewHandler).

// Deliveries is tui.Backend.Deliveries over the socket.
func (c *Client) Deliveries(before uint64, limit int, failedOnly bool) ([]billing.Delivery, error) {
	var out []billing.Delivery
	f := ""
	if failedOnly {
		f = "1"
	}
	return out, c.get(fmt.Sprintf("/console/deliveries?before=%d&limit=%d&failed=%s", before, limit, f), &out)
}

// EndpointStates is tui.Backend.EndpointStates over the socket.
func (c *Client) EndpointStates() ([]billing.EndpointState, error) {
	var out []billing.EndpointState
	return out, c.get("/console/deliveries/endpoints", &out)
}

// ResendDelivery is tui.Backend.ResendDelivery over the socket.
func (c *Client) ResendDelivery(seq uint64) error {
	return c.do(context.Background(), http.MethodPost, fmt.Sprintf("/console/deliveries/%d/resend", seq), nil, &struct{}{})
}

// ResendFailed is tui.Backend.ResendFailed over the socket.
func (c *Client) ResendFailed() (int, error) {
	var out struct{ Queued int }
	err := c.do(context.Background(), http.MethodPost, "/console/deliveries/resend-failed", nil, &out)
	return out.Queued, err
}

// EnableEndpoint is tui.Backend.EnableEndpoint over the socket.
func (c *Client) EnableEndpoint(id string) error {
	return c.do(context.Background(), http.MethodPost, "/console/deliveries/endpoints/"+url.PathEscape(id)+"/enable", nil, &struct{}{})
}
