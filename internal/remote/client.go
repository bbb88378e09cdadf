package remote

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"sync"
	"time"

	"creditdesk/billing"
	"creditdesk/tui"
	"creditdesk/webhook"
)

// Client is the console's tui.Backend (and, when the process holds a
// Stripe key, its tui.Operator) over the admin socket of a running
// creditdesk. When that process stops, calls fail, the live feed says so
// and keeps trying, and the console keeps its last screen; when a process
// serves the socket again (a systemctl restart), the feed reattaches on its
// own and replays the events stored meanwhile.
type Client struct {
	c  *webhook.AdminClient
	db string

	mu        sync.Mutex
	info      Info
	connected bool
	// ended: the process will not come back (a demo, whose temporary
	// database is gone with it).
	ended   bool
	stats   billing.Stats
	status  string
	choices []tui.CheckoutChoice
}

// Timing of reattaching.
const (
	retryFirst = 200 * time.Millisecond
	retryMax   = 2 * time.Second
	// feedBuffer is how many activities wait for a slow console before
	// they are dropped and counted.
	feedBuffer = 256
	// replayMax is how many events stored while the console was detached
	// are replayed into the feed when it reattaches.
	replayMax = 200
)

// Dial attaches to the creditdesk that serves the socket beside db.
func Dial(ctx context.Context, db string) (*Client, error) {
	c := &Client{c: webhook.NewAdminClient(db), db: db}
	info, err := c.fetchInfo(ctx)
	if err != nil {
		return nil, err
	}
	c.info, c.connected = info, true
	return c, nil
}

func (c *Client) fetchInfo(ctx context.Context) (Info, error) {
	var info Info
	err := c.c.Do(ctx, http.MethodGet, "/console/info", nil, &info)
	return info, err
}

// Info describes the process the client attached to (as of the last
// reattach).
func (c *Client) Info() Info {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.info
}

// Operator is the client as a tui.Operator when the process holds a Stripe
// key, else nil (the console then says the Stripe panes need a key).
func (c *Client) Operator() tui.Operator {
	if !c.Info().Stripe {
		return nil
	}
	return c
}

// Attachment is what the console's header says about the link: "attached
// to serve (pid N)", or that the process stopped and the console is
// waiting for it.
func (c *Client) Attachment() (string, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	who := fmt.Sprintf("%s (pid %d)", c.info.Mode, c.info.PID)
	if c.ended {
		return who + " ended; its temporary database is gone · q quits", false
	}
	if !c.connected {
		return who + " stopped · reattaching when it is back · last screen kept", false
	}
	return "attached to " + who, true
}

func (c *Client) setConnected(up bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.connected = up
}

// do is one request; a socket nobody serves is said in the founder's words.
func (c *Client) do(ctx context.Context, method, path string, body, out any) error {
	err := c.c.Do(ctx, method, path, body, out)
	var op *net.OpError
	if errors.As(err, &op) && op.Op == "dial" {
		info := c.Info()
		return fmt.Errorf("%s (pid %d) is not running; this console reattaches when it is back", info.Mode, info.PID)
	}
	return err
}

func (c *Client) get(path string, out any) error {
	return c.do(context.Background(), http.MethodGet, path, nil, out)
}

func (c *Client) post(ctx context.Context, path string, body, out any) error {
	if out == nil {
		out = &struct{}{}
	}
	return c.do(ctx, http.MethodPost, path, body, out)
}

// Subscribe streams the live feed. The channel stays open across restarts
// of the process behind the socket: a line says it stopped, another that
// the console reattached (after the events stored meanwhile). It is closed
// when stop is called.
func (c *Client) Subscribe() (<-chan billing.Activity, func()) {
	ctx, cancel := context.WithCancel(context.Background())
	out := make(chan billing.Activity, feedBuffer)
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer close(out)
		c.follow(ctx, out)
	}()
	var once sync.Once
	return out, func() { once.Do(func() { cancel(); <-done }) }
}

// follow reads the feed into out until ctx ends, reattaching whenever the
// stream breaks.
func (c *Client) follow(ctx context.Context, out chan<- billing.Activity) {
	var missed int
	var lastSeq uint64
	send := func(a billing.Activity) {
		a.Missed += missed
		select {
		case out <- a:
			missed = 0
		default:
			missed = a.Missed + 1 // this one and those it carried
		}
	}
	system := func(what, detail string) {
		send(billing.Activity{At: time.Now(), Kind: billing.ActivitySystem, Type: what, Reason: detail})
	}
	wait := retryFirst
	detached := false
	for ctx.Err() == nil {
		body, err := c.c.Stream(ctx, "/console/feed")
		if err == nil {
			wait = retryFirst
			if detached {
				info, ierr := c.fetchInfo(ctx)
				if ierr == nil {
					c.mu.Lock()
					c.info = info
					c.mu.Unlock()
				}
				c.setConnected(true)
				detached = false
				var missed int
				lastSeq, missed = c.replay(lastSeq, send)
				send(billing.Activity{At: time.Now(), Kind: billing.ActivitySystem, Type: "reattached", Missed: missed,
					Reason: fmt.Sprintf("%s (pid %d) is back", info.Mode, info.PID)})
			}
			sc := bufio.NewScanner(body)
			sc.Buffer(make([]byte, 64<<10), 1<<20)
			for sc.Scan() {
				var a billing.Activity
				if json.Unmarshal(sc.Bytes(), &a) != nil {
					continue
				}
				if a.Seq > lastSeq {
					lastSeq = a.Seq
				}
				send(a)
			}
			body.Close()
		}
		if ctx.Err() != nil {
			return
		}
		if !detached {
			detached = true
			c.setConnected(false)
			info := c.Info()
			system("detached", fmt.Sprintf("%s (pid %d) stopped; reattaching when it is back", info.Mode, info.PID))
		}
		if c.Info().Mode == "demo" {
			if _, err := os.Stat(c.db); errors.Is(err, os.ErrNotExist) {
				c.mu.Lock()
				c.ended = true
				c.mu.Unlock()
				system("demo ended", "its temporary database is gone with it; q quits")
				<-ctx.Done()
				return
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
		wait = min(wait*2, retryMax)
	}
}

// replay sends the newest stored events, oldest first: those stored while
// the console was away, and the latest state of those it had (an event
// received before the stop and applied after the restart). The console's
// Live tab updates a row it has by its sequence, so nothing shows twice.
// Events beyond what it replays are said as missed. It returns the newest
// sequence seen.
func (c *Client) replay(after uint64, send func(billing.Activity)) (newest uint64, missed int) {
	evs, err := c.EventsPage(0, replayMax)
	if err != nil || len(evs) == 0 {
		return after, 0
	}
	newest = max(after, evs[0].Seq)
	if oldest := evs[len(evs)-1].Seq; after > 0 && oldest > after+1 {
		missed = int(oldest - after - 1)
	}
	for i := len(evs) - 1; i >= 0; i-- {
		e := evs[i]
		send(billing.Activity{At: e.ReceivedAt, Kind: billing.ActivityEvent, Seq: e.Seq, EventID: e.ID, Type: e.Type,
			User: e.User, Amount: e.Amount, State: e.State, Reason: e.Reason})
	}
	return newest, missed
}

// Stats returns the process's counters; the last ones known while it is
// stopped, so the header keeps its figures.
func (c *Client) Stats() billing.Stats {
	var s stats
	if err := c.get("/console/stats", &s); err != nil {
		c.mu.Lock()
		defer c.mu.Unlock()
		return c.stats
	}
	c.mu.Lock()
	c.stats, c.status = s.Stats, s.Status
	c.mu.Unlock()
	return s.Stats
}

// EventsPage is tui.Backend.EventsPage over the socket.
func (c *Client) EventsPage(before uint64, limit int) ([]billing.EventRecord, error) {
	var out []billing.EventRecord
	return out, c.get(fmt.Sprintf("/console/events?before=%d&limit=%d", before, limit), &out)
}

// PurchasesPage is tui.Backend.PurchasesPage over the socket.
func (c *Client) PurchasesPage(before uint64, limit int) ([]billing.Purchase, error) {
	var out []billing.Purchase
	return out, c.get(fmt.Sprintf("/console/purchases?before=%d&limit=%d", before, limit), &out)
}

// UsersPage is tui.Backend.UsersPage over the socket.
func (c *Client) UsersPage(after, filter string, limit int) ([]billing.User, error) {
	var out []billing.User
	q := url.Values{"after": {after}, "filter": {filter}, "limit": {fmt.Sprint(limit)}}
	return out, c.get("/console/users?"+q.Encode(), &out)
}

// UserDetail is tui.Backend.UserDetail over the socket.
func (c *Client) UserDetail(id string) (billing.UserDetail, error) {
	var out billing.UserDetail
	return out, c.get("/console/users/"+url.PathEscape(id), &out)
}

// Adjust is tui.Backend.Adjust over the socket. The server records the
// operator from the socket's peer (local:USER), not from the client.
func (c *Client) Adjust(ctx context.Context, a billing.Adjustment) (billing.Entry, error) {
	var out billing.Entry
	return out, c.post(ctx, "/console/adjust", a, &out)
}

// Insight is tui.Backend.Insight over the socket.
func (c *Client) Insight(since, until time.Time) (billing.Insight, error) {
	var out billing.Insight
	q := url.Values{"since": {since.UTC().Format(time.RFC3339)}, "until": {until.UTC().Format(time.RFC3339)}}
	return out, c.get("/console/insight?"+q.Encode(), &out)
}

// Attention is tui.Backend.Attention over the socket.
func (c *Client) Attention() ([]billing.AttentionItem, error) {
	var out []billing.AttentionItem
	return out, c.get("/console/attention", &out)
}

// Retry is tui.Backend.Retry over the socket.
func (c *Client) Retry(ctx context.Context, eventID string) error {
	return c.post(ctx, "/console/retry", retryRequest{Event: eventID}, nil)
}

// AssignType is tui.Backend.AssignType over the socket.
func (c *Client) AssignType(ctx context.Context, purchaseID, typ string) error {
	return c.post(ctx, "/console/assign", assignRequest{Purchase: purchaseID, Type: typ}, nil)
}

// LinkUser is tui.Backend.LinkUser over the socket.
func (c *Client) LinkUser(ctx context.Context, from, to string) error {
	return c.post(ctx, "/console/link", linkRequest{From: from, To: to}, nil)
}

// PurchaseTypes is tui.Backend.PurchaseTypes over the socket; nil while
// the process is stopped.
func (c *Client) PurchaseTypes() []string {
	var out []string
	_ = c.get("/console/types", &out)
	return out
}

// CreateAPIKey is tui.Backend.CreateAPIKey over the socket: the key comes
// back once.
func (c *Client) CreateAPIKey(ctx context.Context, name string) (string, error) {
	var out summary
	return out.Summary, c.post(ctx, "/console/apikeys/"+url.PathEscape(name), nil, &out)
}

// ListAPIKeys is tui.Backend.ListAPIKeys over the socket.
func (c *Client) ListAPIKeys() ([]billing.APIKey, error) {
	var out []billing.APIKey
	return out, c.get("/console/apikeys", &out)
}

// RevokeAPIKey is tui.Backend.RevokeAPIKey over the socket.
func (c *Client) RevokeAPIKey(ctx context.Context, name string) error {
	return c.do(ctx, http.MethodDelete, "/console/apikeys/"+url.PathEscape(name), nil, &struct{}{})
}

// Live is tui.Operator.Live: the process's key is a live one.
func (c *Client) Live() bool { return c.Info().Live }

// Status is tui.Operator.Status as of the last Stats call (the console
// asks for stats every two seconds), so drawing never waits on the socket.
func (c *Client) Status() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.status
}

// Choices is tui.Operator.Choices over the socket; the last known while
// the process is stopped.
func (c *Client) Choices() []tui.CheckoutChoice {
	var out []tui.CheckoutChoice
	err := c.get("/console/stripe/choices", &out)
	c.mu.Lock()
	defer c.mu.Unlock()
	if err != nil {
		return c.choices
	}
	c.choices = out
	return out
}

// CreateCheckout is tui.Operator.CreateCheckout, run by the process that
// holds the key.
func (c *Client) CreateCheckout(ctx context.Context, req billing.CheckoutRequest) (billing.CheckoutLink, error) {
	var out billing.CheckoutLink
	return out, c.post(ctx, "/console/stripe/checkout", req, &out)
}

// CreatePortal is tui.Operator.CreatePortal over the socket.
func (c *Client) CreatePortal(ctx context.Context, userID string) (string, error) {
	var out summary
	return out.Summary, c.post(ctx, "/console/stripe/portal", portalRequest{User: userID}, &out)
}

// Captures is tui.Operator.Captures over the socket.
func (c *Client) Captures(ctx context.Context) ([]tui.Authorization, error) {
	var out []tui.Authorization
	return out, c.do(ctx, http.MethodGet, "/console/stripe/captures", nil, &out)
}

// Capture is tui.Operator.Capture over the socket.
func (c *Client) Capture(ctx context.Context, paymentIntent, key string) (string, error) {
	var out summary
	return out.Summary, c.post(ctx, "/console/stripe/capture", actionRequest{PaymentIntent: paymentIntent, Key: key}, &out)
}

// Cancel is tui.Operator.Cancel over the socket.
func (c *Client) Cancel(ctx context.Context, paymentIntent, key string) (string, error) {
	var out summary
	return out.Summary, c.post(ctx, "/console/stripe/cancel", actionRequest{PaymentIntent: paymentIntent, Key: key}, &out)
}

// Catalog is tui.Operator.Catalog over the socket.
func (c *Client) Catalog(ctx context.Context, sync bool) (tui.CatalogView, error) {
	var out tui.CatalogView
	path := "/console/stripe/catalog"
	if sync {
		path += "?sync=1"
	}
	return out, c.do(ctx, http.MethodGet, path, nil, &out)
}

// Health is tui.Operator.Health over the socket: the doctor runs in the
// process that holds the key.
func (c *Client) Health(ctx context.Context) ([]tui.HealthCheck, error) {
	var out []tui.HealthCheck
	return out, c.do(ctx, http.MethodGet, "/console/stripe/health", nil, &out)
}

// Resync is tui.Operator.Resync over the socket.
func (c *Client) Resync(ctx context.Context, since time.Duration) (string, error) {
	var out summary
	return out.Summary, c.post(ctx, "/console/stripe/resync", resyncRequest{Since: since}, &out)
}

// Reconcile is tui.Operator.Reconcile over the socket: Stripe is listed
// by the process that holds the key.
func (c *Client) Reconcile(ctx context.Context, since time.Duration) ([]billing.Difference, error) {
	var out []billing.Difference
	return out, c.post(ctx, "/console/stripe/reconcile", resyncRequest{Since: since}, &out)
}

var (
	_ tui.Backend  = (*Client)(nil)
	_ tui.Operator = (*Client)(nil)
)
