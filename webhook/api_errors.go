package webhook

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	"creditdesk/billing"
)

// apiError is an error answer: {"error": {"code", "message"}} with Status.
type apiError struct {
	Status  int
	Code    string
	Message string
}

func (e *apiError) Error() string { return e.Code + ": " + e.Message }

type errorJSON struct {
	Error errorDetail `json:"error"`
}

type errorDetail struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	// Credits is the spendable balance, on insufficient_credits only.
	Credits *int64 `json:"credits,omitempty"`
}

func writeError(w http.ResponseWriter, e *apiError) {
	writeJSON(w, e.Status, errorJSON{Error: errorDetail{Code: e.Code, Message: e.Message}})
}

var errUnauthorized = &apiError{http.StatusUnauthorized, "unauthorized", "missing or invalid API key"}

func invalid(msg string) *apiError { return &apiError{http.StatusBadRequest, "invalid_request", msg} }

// decodeJSON reads one JSON object of at most MaxAPIBody bytes into v,
// refusing unknown fields and anything after the object.
func decodeJSON(body io.Reader, v any) *apiError {
	raw, err := io.ReadAll(io.LimitReader(body, MaxAPIBody+1))
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			return errTooLarge
		}
		return &apiError{http.StatusBadRequest, "invalid_body", "could not read the request body"}
	}
	if len(raw) > MaxAPIBody {
		return errTooLarge
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		msg := "request body must be one JSON object"
		var typeErr *json.UnmarshalTypeError
		switch {
		case errors.As(err, &typeErr) && typeErr.Field != "":
			msg = fmt.Sprintf("field %q has the wrong type (%s)", typeErr.Field, typeErr.Value)
		case strings.HasPrefix(err.Error(), "json: unknown field "):
			return &apiError{http.StatusBadRequest, "unknown_field", strings.TrimPrefix(err.Error(), "json: ")}
		case errors.Is(err, io.EOF):
			msg = "request body is empty; send a JSON object"
		}
		return &apiError{http.StatusBadRequest, "invalid_json", msg}
	}
	if _, err := dec.Token(); err != io.EOF {
		return &apiError{http.StatusBadRequest, "invalid_json", "request body must be exactly one JSON object"}
	}
	return nil
}

// request is a JSON body the API reads; check says what is wrong with it.
type request interface{ check() *apiError }

// decodeRequest reads one T as decodeJSON does, then checks it.
func decodeRequest[T request](body io.Reader) (T, *apiError) {
	var req T
	if e := decodeJSON(body, &req); e != nil {
		return req, e
	}
	return req, req.check()
}

// readRequest is decodeRequest of r's body, read up to MaxAPIBody. A bad
// body is answered here, and ok is false.
func readRequest[T request](w http.ResponseWriter, r *http.Request) (req T, ok bool) {
	req, e := decodeRequest[T](http.MaxBytesReader(w, r.Body, MaxAPIBody))
	if e != nil {
		writeError(w, e)
		return req, false
	}
	return req, true
}

var errTooLarge = &apiError{http.StatusRequestEntityTooLarge, "body_too_large", "request body is larger than 64 KiB"}

func (a *API) internal(w http.ResponseWriter, what string, err error) {
	if billing.IsStoreFault(err) {
		// The disk, for now (full, failing, read-only), or a damaged file:
		// nothing was written.
		// Not logged per request; the processor logs the change once.
		writeError(w, &apiError{http.StatusServiceUnavailable, "unavailable",
			"could not " + what + ": the server cannot write to its database right now; retry later with the same Idempotency-Key"})
		return
	}
	a.logger().Error("api "+what, "err", err)
	writeError(w, &apiError{http.StatusInternalServerError, "internal", "could not " + what + "; retry (with the same Idempotency-Key)"})
}
