package webhook

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"strconv"
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
	Ledger(user string, limit int) ([]billing.Entry, error)
	Adjust(ctx context.Context, user string, delta int64, reason string, force bool, key string) (billing.Entry, error)
	Verify() (billing.VerifyReport, error)
	Attention() ([]billing.AttentionItem, error)
	CreateAPIKey(name string) (string, error)
	ListAPIKeys() ([]billing.APIKey, error)
	RevokeAPIKey(name string) error
}

// AdminSocketPath is the socket beside a database file.
func AdminSocketPath(db string) string { return db + ".sock" }

type adjustRequest struct {
	User   string `json:"user"`
	Delta  int64  `json:"delta"`
	Reason string `json:"reason"`
	Force  bool   `json:"force"`
	Key    string `json:"key"`
}

type adminError struct {
	Error        string                   `json:"error"`
	Insufficient *billing.ErrInsufficient `json:"insufficient,omitempty"`
	Invalid      bool                     `json:"invalid,omitempty"`
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
	reply := func(w http.ResponseWriter, v any, err error) {
		if err != nil {
			body := adminError{Error: err.Error(), Invalid: errors.Is(err, billing.ErrInvalid)}
			var ins *billing.ErrInsufficient
			if errors.As(err, &ins) {
				body.Insufficient = ins
			}
			writeJSON(w, http.StatusConflict, body)
			return
		}
		writeJSON(w, http.StatusOK, v)
	}
	mux.HandleFunc("GET /users", func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		v, err := svc.UsersPage(q.Get("after"), q.Get("filter"), limit(r))
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
		plain, err := svc.CreateAPIKey(r.PathValue("name"))
		reply(w, map[string]string{"key": plain}, err)
	})
	mux.HandleFunc("DELETE /apikeys/{name}", func(w http.ResponseWriter, r *http.Request) {
		reply(w, map[string]bool{"revoked": true}, svc.RevokeAPIKey(r.PathValue("name")))
	})
	mux.HandleFunc("GET /verify", func(w http.ResponseWriter, r *http.Request) {
		v, err := svc.Verify()
		reply(w, v, err)
	})
	mux.HandleFunc("POST /adjust", func(w http.ResponseWriter, r *http.Request) {
		var req adjustRequest
		if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 64<<10)).Decode(&req); err != nil {
			reply(w, nil, fmt.Errorf("%w: %v", billing.ErrInvalid, err))
			return
		}
		v, err := svc.Adjust(r.Context(), req.User, req.Delta, req.Reason, req.Force, req.Key)
		reply(w, v, err)
	})
	return mux
}

// ServeAdmin listens on the admin socket for db and serves svc until the
// returned function is called, which also removes the socket.
func ServeAdmin(db string, svc AdminService) (stop func(), err error) {
	path := AdminSocketPath(db)
	_ = os.Remove(path) // left by a process that was killed; the database lock says it is gone
	ln, err := net.Listen("unix", path)
	if err != nil {
		return nil, fmt.Errorf("admin socket %s: %w", path, err)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		ln.Close()
		return nil, err
	}
	srv := &http.Server{Handler: NewAdminHandler(svc), ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(ln)
	return func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
		_ = os.Remove(path)
	}, nil
}

// AdminClient talks to a running creditdesk through its admin socket.
type AdminClient struct {
	http *http.Client
}

// DialAdmin returns a client for the socket beside db, or an error when no
// running creditdesk serves one.
func DialAdmin(db string) (*AdminClient, error) {
	path := AdminSocketPath(db)
	conn, err := net.DialTimeout("unix", path, time.Second)
	if err != nil {
		return nil, err
	}
	conn.Close()
	return &AdminClient{http: &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", path)
		},
	}}}, nil
}

func (c *AdminClient) do(method, path string, body any, out any) error {
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
	req, err := http.NewRequest(method, "http://creditdesk"+path, rd)
	if err != nil {
		return err
	}
	resp, err := c.http.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return fmt.Errorf("running creditdesk: %w", err)
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
		case e.Invalid:
			return fmt.Errorf("%w: %s", billing.ErrInvalid, e.Error)
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
func (c *AdminClient) Adjust(ctx context.Context, user string, delta int64, reason string, force bool, key string) (billing.Entry, error) {
	var out billing.Entry
	return out, c.do(http.MethodPost, "/adjust", adjustRequest{User: user, Delta: delta, Reason: reason, Force: force, Key: key}, &out)
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
func (c *AdminClient) CreateAPIKey(name string) (string, error) {
	var out struct{ Key string }
	err := c.do(http.MethodPost, "/apikeys/"+url.PathEscape(name), nil, &out)
	return out.Key, err
}

// RevokeAPIKey is billing.Service.RevokeAPIKey, remotely.
func (c *AdminClient) RevokeAPIKey(name string) error {
	var out map[string]bool
	return c.do(http.MethodDelete, "/apikeys/"+url.PathEscape(name), nil, &out)
}

// Verify is billing.Service.Verify, remotely.
func (c *AdminClient) Verify() (billing.VerifyReport, error) {
	var out billing.VerifyReport
	return out, c.do(http.MethodGet, "/verify", nil, &out)
}

func urlq(s string) string { return url.QueryEscape(s) }
