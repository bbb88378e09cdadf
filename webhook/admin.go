package webhook

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"

	"creditdesk/billing"
)

// The admin socket lets the command line read and adjust a database that a
// running creditdesk holds (bbolt lets one process open the file). It is a
// Unix socket beside the database, mode 0600: only the user who runs
// creditdesk can connect, so it needs no key.

// AdminService is what the admin socket serves.
type AdminService interface {
	UsersPage(after, filter string, limit int) ([]billing.User, error)
	EventsInState(state string, limit int) ([]billing.EventRecord, error)
	// EventsPage and PurchasesPage read newest first, below before (0: the
	// newest), a page at a time (exports).
	EventsPage(before uint64, limit int) ([]billing.EventRecord, error)
	PurchasesPage(before uint64, limit int) ([]billing.Purchase, error)
	Ledger(user string, limit int) ([]billing.Entry, error)
	Adjust(ctx context.Context, a billing.Adjustment) (billing.Entry, error)
	Verify() (billing.VerifyReport, error)
	Attention() ([]billing.AttentionItem, error)
	CreateAPIKey(ctx context.Context, name string) (string, error)
	ListAPIKeys() ([]billing.APIKey, error)
	RevokeAPIKey(ctx context.Context, name string) error
	// WriteBackup writes a consistent copy of the database to w while
	// webhooks and spends go on.
	WriteBackup(w io.Writer) (int64, error)
	// Retry queues a waiting, failed or set-aside event again now.
	Retry(ctx context.Context, eventID string) error
	// NoteBackup records a backup that verified (its age shows in the
	// consoles and the metrics).
	NoteBackup(r billing.BackupReport)
	// Insight is the rollups of the UTC days from since's through until's.
	Insight(since, until time.Time) (billing.Insight, error)
	// Reconcile compares what Stripe listed with the purchases and ledger.
	Reconcile(l billing.StripeListing) ([]billing.Difference, error)
	// The app webhooks' outbox (admin_deliveries.go).
	DeliveriesService
}

// backupWriteTimeout bounds one write of a backup stream to its client.
var backupWriteTimeout = 30 * time.Second

// deadlineWriter fails a write that the client does not take within
// backupWriteTimeout, or once the request is over, so that a stalled
// reader (a hung mount, a ^Z) ends the backup instead of holding it open.
type deadlineWriter struct {
	w   io.Writer
	rc  *http.ResponseController
	ctx context.Context
}

func (d *deadlineWriter) Write(p []byte) (int, error) {
	if err := d.ctx.Err(); err != nil {
		return 0, err
	}
	_ = d.rc.SetWriteDeadline(time.Now().Add(backupWriteTimeout))
	return d.w.Write(p)
}

// AdminSocketPath is the socket beside a database file.
func AdminSocketPath(db string) string { return db + ".sock" }

type adminError struct {
	Error        string                   `json:"error"`
	Insufficient *billing.ErrInsufficient `json:"insufficient,omitempty"`
	Invalid      bool                     `json:"invalid,omitempty"`
	UnknownUser  *billing.ErrUnknownUser  `json:"unknown_user,omitempty"`
}

// InsightHandler answers ?since=&until= (RFC 3339 times) with what insight
// returns for them, as AdminReply does.
func InsightHandler(insight func(since, until time.Time) (billing.Insight, error)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		since, err1 := time.Parse(time.RFC3339, q.Get("since"))
		until, err2 := time.Parse(time.RFC3339, q.Get("until"))
		if err := errors.Join(err1, err2); err != nil {
			AdminReply(w, nil, fmt.Errorf("%w: since and until are RFC 3339 times: %v", billing.ErrInvalid, err))
			return
		}
		v, err := insight(since, until)
		AdminReply(w, v, err)
	}
}

// AdminReply answers an admin request: v as JSON, or err in a form
// AdminClient turns back into the same kind of error (insufficient credits,
// an unknown user, invalid input).
func AdminReply(w http.ResponseWriter, v any, err error) {
	if err != nil {
		body := adminError{Error: err.Error(), Invalid: errors.Is(err, billing.ErrInvalid)}
		var ins *billing.ErrInsufficient
		if errors.As(err, &ins) {
			body.Insufficient = ins
		}
		var unknown *billing.ErrUnknownUser
		if errors.As(err, &unknown) {
			body.UnknownUser = unknown
		}
		writeJSON(w, http.StatusConflict, body)
		return
	}
	writeJSON(w, http.StatusOK, v)
}

// NewAdminHandler serves svc's reads and manual changes.
func NewAdminHandler(svc AdminService) http.Handler {
	mux := http.NewServeMux()
	limit := func(r *http.Request) int {
		n, err := strconv.Atoi(r.URL.Query().Get("limit"))
		if err != nil || n <= 0 {
			return 100
		}
		return n
	}
	reply := AdminReply
	MountDeliveries(mux, "", svc)
	mux.HandleFunc("GET /users", func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		v, err := svc.UsersPage(q.Get("after"), q.Get("filter"), limit(r))
		reply(w, v, err)
	})
	before := func(r *http.Request) uint64 {
		n, _ := strconv.ParseUint(r.URL.Query().Get("before"), 10, 64)
		return n
	}
	mux.HandleFunc("GET /events/page", func(w http.ResponseWriter, r *http.Request) {
		v, err := svc.EventsPage(before(r), limit(r))
		reply(w, v, err)
	})
	mux.HandleFunc("GET /purchases/page", func(w http.ResponseWriter, r *http.Request) {
		v, err := svc.PurchasesPage(before(r), limit(r))
		reply(w, v, err)
	})
	mux.HandleFunc("GET /events", func(w http.ResponseWriter, r *http.Request) {
		v, err := svc.EventsInState(r.URL.Query().Get("state"), limit(r))
		reply(w, v, err)
	})
	mux.HandleFunc("GET /ledger", func(w http.ResponseWriter, r *http.Request) {
		v, err := svc.Ledger(r.URL.Query().Get("user"), limit(r))
		reply(w, v, err)
	})
	mux.HandleFunc("GET /attention", func(w http.ResponseWriter, r *http.Request) {
		v, err := svc.Attention()
		reply(w, v, err)
	})
	mux.HandleFunc("GET /apikeys", func(w http.ResponseWriter, r *http.Request) {
		v, err := svc.ListAPIKeys()
		for i := range v {
			v[i].Hash = nil // names and hints are enough to list
		}
		reply(w, v, err)
	})
	mux.HandleFunc("POST /apikeys/{name}", func(w http.ResponseWriter, r *http.Request) {
		plain, err := svc.CreateAPIKey(r.Context(), r.PathValue("name"))
		reply(w, map[string]string{"key": plain}, err)
	})
	mux.HandleFunc("DELETE /apikeys/{name}", func(w http.ResponseWriter, r *http.Request) {
		reply(w, map[string]bool{"revoked": true}, svc.RevokeAPIKey(r.Context(), r.PathValue("name")))
	})
	mux.HandleFunc("GET /verify", func(w http.ResponseWriter, r *http.Request) {
		v, err := svc.Verify()
		reply(w, v, err)
	})
	mux.HandleFunc("GET /insight", InsightHandler(svc.Insight))
	mux.HandleFunc("POST /reconcile", func(w http.ResponseWriter, r *http.Request) {
		var l billing.StripeListing
		if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 256<<20)).Decode(&l); err != nil {
			reply(w, nil, fmt.Errorf("%w: %v", billing.ErrInvalid, err))
			return
		}
		v, err := svc.Reconcile(l)
		reply(w, v, err)
	})
	mux.HandleFunc("POST /retry/{event}", func(w http.ResponseWriter, r *http.Request) {
		reply(w, map[string]bool{"queued": true}, svc.Retry(r.Context(), r.PathValue("event")))
	})
	mux.HandleFunc("POST /backup/done", func(w http.ResponseWriter, r *http.Request) {
		var rep billing.BackupReport
		if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 64<<10)).Decode(&rep); err != nil {
			reply(w, nil, fmt.Errorf("%w: %v", billing.ErrInvalid, err))
			return
		}
		svc.NoteBackup(rep)
		reply(w, map[string]bool{"noted": true}, nil)
	})
	mux.HandleFunc("GET /backup", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/octet-stream")
		// An error midway cuts the stream short; the client's copy then
		// does not verify and is not kept. The copy comes from one read
		// transaction, which a stalled client must not hold open: bbolt
		// cannot grow the file while it is, and webhooks would wait.
		_, _ = svc.WriteBackup(&deadlineWriter{w: w, rc: http.NewResponseController(w), ctx: r.Context()})
	})
	mux.HandleFunc("POST /adjust", func(w http.ResponseWriter, r *http.Request) {
		var req billing.Adjustment
		if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 64<<10)).Decode(&req); err != nil {
			reply(w, nil, fmt.Errorf("%w: %v", billing.ErrInvalid, err))
			return
		}
		v, err := svc.Adjust(r.Context(), req)
		reply(w, v, err)
	})
	return mux
}

// ServeAdmin listens on the admin socket for db and serves h until the
// returned function is called, which also removes the socket. Each request's
// context names its operator, the Unix user at the other end of the socket
// (billing.WithOperator), so a grant from the command line or an attached
// console is recorded as local:USER. Requests still running when stop is
// called (live feeds) see their context end.
func ServeAdmin(db string, h http.Handler) (stop func(), err error) {
	path := AdminSocketPath(db)
	_ = os.Remove(path) // left by a process that was killed; the database lock says it is gone
	ln, err := listenPrivate(path)
	if err != nil {
		return nil, fmt.Errorf("admin socket %s: %w", path, err)
	}
	base, cancel := context.WithCancel(context.Background())
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		BaseContext:       func(net.Listener) context.Context { return base },
		ConnContext: func(ctx context.Context, c net.Conn) context.Context {
			return billing.WithOperator(ctx, peerOperator(c))
		},
	}
	go srv.Serve(ln)
	return func() {
		cancel() // ends live feeds, so Shutdown need not wait for them
		ctx, done := context.WithTimeout(context.Background(), 2*time.Second)
		defer done()
		_ = srv.Shutdown(ctx)
		_ = os.Remove(path)
	}, nil
}

// listenPrivate creates the Unix socket at path with mode 0600 from the
// start: the umask is narrowed while it is created, so there is no moment
// when another user could connect.
func listenPrivate(path string) (net.Listener, error) {
	old := syscall.Umask(0o177)
	ln, err := net.Listen("unix", path)
	syscall.Umask(old)
	if err != nil {
		return nil, err
	}
	if err := os.Chmod(path, 0o600); err != nil {
		ln.Close()
		return nil, err
	}
	return ln, nil
}

// AdminClient talks to a running creditdesk through its admin socket. It
// dials the socket for each connection it needs, so it keeps working when
// the process behind the socket is restarted.
type AdminClient struct {
	http *http.Client
}

// adminTimeout bounds one request that is not a stream.
const adminTimeout = 30 * time.Second

// DialAdmin returns a client for the socket beside db, or an error when no
// running creditdesk serves one.
func DialAdmin(db string) (*AdminClient, error) {
	path := AdminSocketPath(db)
	conn, err := net.DialTimeout("unix", path, time.Second)
	if err != nil {
		return nil, err
	}
	conn.Close()
	return NewAdminClient(db), nil
}

// NewAdminClient returns a client for the socket beside db without checking
// that anything serves it yet.
func NewAdminClient(db string) *AdminClient {
	path := AdminSocketPath(db)
	return &AdminClient{http: &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			d := net.Dialer{Timeout: time.Second}
			return d.DialContext(ctx, "unix", path)
		},
		MaxIdleConnsPerHost: 4,
	}}}
}

// Stream opens a long response (a live feed) at path; the caller reads it
// until it ends and closes it. ctx ends it.
func (c *AdminClient) Stream(ctx context.Context, path string) (io.ReadCloser, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://creditdesk"+path, nil)
	if err != nil {
		return nil, err
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, unwrapURLError(err)
	}
	if resp.StatusCode != http.StatusOK {
		resp.Body.Close()
		return nil, fmt.Errorf("running creditdesk answered %s", resp.Status)
	}
	return resp.Body, nil
}

func unwrapURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	return fmt.Errorf("running creditdesk: %w", err)
}

func (c *AdminClient) do(method, path string, body any, out any) error {
	return c.Do(context.Background(), method, path, body, out)
}

// Do sends one request with body as JSON and decodes the answer into out.
// An error the server answered comes back as the same kind of error
// (*billing.ErrInsufficient, *billing.ErrUnknownUser, billing.ErrInvalid).
func (c *AdminClient) Do(ctx context.Context, method, path string, body any, out any) error {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, adminTimeout)
		defer cancel()
	}
	var rd *bytes.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	} else {
		rd = bytes.NewReader(nil)
	}
	req, err := http.NewRequestWithContext(ctx, method, "http://creditdesk"+path, rd)
	if err != nil {
		return err
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return unwrapURLError(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		var e adminError
		if err := json.NewDecoder(resp.Body).Decode(&e); err != nil {
			return fmt.Errorf("running creditdesk answered %s", resp.Status)
		}
		switch {
		case e.Insufficient != nil:
			return e.Insufficient
		case e.UnknownUser != nil:
			return e.UnknownUser
		case e.Invalid:
			// The message already says "invalid: …"; keep the kind, not a
			// second prefix.
			return fmt.Errorf("%w: %s", billing.ErrInvalid, strings.TrimPrefix(e.Error, billing.ErrInvalid.Error()+": "))
		}
		return errors.New(e.Error)
	}
	return json.NewDecoder(resp.Body).Decode(out)
}

// UsersPage is billing.Service.UsersPage, remotely.
func (c *AdminClient) UsersPage(after, filter string, limit int) ([]billing.User, error) {
	var out []billing.User
	q := fmt.Sprintf("/users?after=%s&filter=%s&limit=%d", urlq(after), urlq(filter), limit)
	return out, c.do(http.MethodGet, q, nil, &out)
}

// EventsPage is billing.Service.EventsPage, remotely.
func (c *AdminClient) EventsPage(before uint64, limit int) ([]billing.EventRecord, error) {
	var out []billing.EventRecord
	return out, c.do(http.MethodGet, fmt.Sprintf("/events/page?before=%d&limit=%d", before, limit), nil, &out)
}

// PurchasesPage is billing.Service.PurchasesPage, remotely.
func (c *AdminClient) PurchasesPage(before uint64, limit int) ([]billing.Purchase, error) {
	var out []billing.Purchase
	return out, c.do(http.MethodGet, fmt.Sprintf("/purchases/page?before=%d&limit=%d", before, limit), nil, &out)
}

// EventsInState is billing.Service.EventsInState, remotely.
func (c *AdminClient) EventsInState(state string, limit int) ([]billing.EventRecord, error) {
	var out []billing.EventRecord
	return out, c.do(http.MethodGet, fmt.Sprintf("/events?state=%s&limit=%d", urlq(state), limit), nil, &out)
}

// Ledger is billing.Service.Ledger, remotely.
func (c *AdminClient) Ledger(user string, limit int) ([]billing.Entry, error) {
	var out []billing.Entry
	return out, c.do(http.MethodGet, fmt.Sprintf("/ledger?user=%s&limit=%d", urlq(user), limit), nil, &out)
}

// Adjust is billing.Service.Adjust, remotely.
func (c *AdminClient) Adjust(ctx context.Context, a billing.Adjustment) (billing.Entry, error) {
	var out billing.Entry
	return out, c.Do(ctx, http.MethodPost, "/adjust", a, &out)
}

// Insight is billing.Service.Insight, remotely.
func (c *AdminClient) Insight(since, until time.Time) (billing.Insight, error) {
	var out billing.Insight
	q := fmt.Sprintf("/insight?since=%s&until=%s", urlq(since.UTC().Format(time.RFC3339)), urlq(until.UTC().Format(time.RFC3339)))
	return out, c.do(http.MethodGet, q, nil, &out)
}

// Reconcile is billing.Service.Reconcile, remotely.
func (c *AdminClient) Reconcile(l billing.StripeListing) ([]billing.Difference, error) {
	var out []billing.Difference
	return out, c.do(http.MethodPost, "/reconcile", l, &out)
}

// Attention is billing.Service.Attention, remotely.
func (c *AdminClient) Attention() ([]billing.AttentionItem, error) {
	var out []billing.AttentionItem
	return out, c.do(http.MethodGet, "/attention", nil, &out)
}

// ListAPIKeys is billing.Service.ListAPIKeys, remotely.
func (c *AdminClient) ListAPIKeys() ([]billing.APIKey, error) {
	var out []billing.APIKey
	return out, c.do(http.MethodGet, "/apikeys", nil, &out)
}

// CreateAPIKey is billing.Service.CreateAPIKey, remotely: the key comes
// back once, over the socket.
func (c *AdminClient) CreateAPIKey(_ context.Context, name string) (string, error) {
	var out struct{ Key string }
	err := c.do(http.MethodPost, "/apikeys/"+url.PathEscape(name), nil, &out)
	return out.Key, err
}

// RevokeAPIKey is billing.Service.RevokeAPIKey, remotely.
func (c *AdminClient) RevokeAPIKey(_ context.Context, name string) error {
	var out map[string]bool
	return c.do(http.MethodDelete, "/apikeys/"+url.PathEscape(name), nil, &out)
}

// Retry is billing.Service.Retry, remotely.
func (c *AdminClient) Retry(ctx context.Context, eventID string) error {
	var out map[string]bool
	return c.Do(ctx, http.MethodPost, "/retry/"+url.PathEscape(eventID), nil, &out)
}

// NoteBackup tells the running process about a backup the command line
// took from it and verified.
func (c *AdminClient) NoteBackup(r billing.BackupReport) {
	var out map[string]bool
	_ = c.Do(context.Background(), http.MethodPost, "/backup/done", r, &out)
}

// WriteBackup is billing.Service.WriteBackup, remotely: the running
// process streams a copy from one read transaction.
func (c *AdminClient) WriteBackup(w io.Writer) (int64, error) {
	body, err := c.Stream(context.Background(), "/backup")
	if err != nil {
		return 0, err
	}
	defer body.Close()
	return io.Copy(w, body)
}

// Verify is billing.Service.Verify, remotely.
func (c *AdminClient) Verify() (billing.VerifyReport, error) {
	var out billing.VerifyReport
	return out, c.do(http.MethodGet, "/verify", nil, &out)
}

func urlq(s string) string { return url.QueryEscape(s) }
