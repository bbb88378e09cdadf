package webhook

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// A CA that finalizes asynchronously answers the finalize POST with the
// order, "processing", and no Location: the transport adds the order's URL,
// learnt from the new-order answer.
func TestOrderLocationsAddsTheOrderURLToAFinalizeAnswer(t *testing.T) {
	var srv *httptest.Server
	srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/new-order":
			w.Header().Set("Location", srv.URL+"/order/1")
			w.WriteHeader(http.StatusCreated)
			io.WriteString(w, `{"status":"pending","finalize":"`+srv.URL+`/finalize/1"}`)
		case "/finalize/1":
			io.WriteString(w, `{"status":"processing","finalize":"`+srv.URL+`/finalize/1"}`)
		}
	}))
	defer srv.Close()
	c := &http.Client{Transport: newOrderLocations(http.DefaultTransport)}

	resp, err := c.Post(srv.URL+"/new-order", "application/jose+json", strings.NewReader("{}"))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(body), `"finalize"`) {
		t.Fatalf("the new-order body was not passed on intact: %q", body)
	}
	resp, err = c.Post(srv.URL+"/finalize/1", "application/jose+json", strings.NewReader("{}"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if loc := resp.Header.Get("Location"); loc != srv.URL+"/order/1" {
		t.Fatalf("finalize answer Location %q, want the order URL", loc)
	}
}
