package billing

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
	"unsafe"

	"github.com/tidwall/gjson"
)

// unsafeString is b as a string without a copy, for reading only while b
// is not changed; nothing read through it may be kept without a copy.
func unsafeString(b []byte) string { return unsafe.String(unsafe.SliceData(b), len(b)) }

// Envelope is the part of a Stripe event every API version agrees on.
type Envelope struct {
	ID         string
	Object     string
	Type       string
	Created    int64
	APIVersion string
	Livemode   bool
}

// ErrMalformed marks a body that is not a Stripe event.
var ErrMalformed = errors.New("malformed event")

// MaxEventID is the longest event id accepted, in bytes. Stripe's are about
// 30; a longer one is refused as malformed (400) rather than failing in the
// store on every redelivery.
const MaxEventID = 255

// envelopeFields are the fields ParseEnvelope reads, in Envelope's order.
var envelopeFields = []string{"id", "object", "type", "created", "api_version", "livemode"}

// ParseEnvelope reads the event header from a raw body: it checks that the
// body is JSON and reads those six fields in place (gjson, one pass over
// the top level, values skipped), without decoding data.object, which the
// processor reads once, later. It does not look at the API version: events
// of any version are accepted and read field by field. The strings it
// returns are its own (payload may be reused).
func ParseEnvelope(payload []byte) (Envelope, error) {
	var env Envelope
	if !gjson.ValidBytes(payload) {
		return env, fmt.Errorf("%w: not JSON", ErrMalformed)
	}
	if i := strings.IndexFunc(unsafeString(payload), func(r rune) bool { return r != ' ' && r != '\t' && r != '\n' && r != '\r' }); i < 0 || payload[i] != '{' {
		return env, fmt.Errorf("%w: not a JSON object", ErrMalformed)
	}
	var f [6]gjson.Result
	var seen [6]bool
	gjson.Parse(unsafeString(payload)).ForEach(func(k, v gjson.Result) bool {
		for i, name := range envelopeFields {
			if !seen[i] && k.Str == name {
				f[i], seen[i] = v, true // the first of a repeated key, as gjson.Get reads it
			}
		}
		return true
	})
	for i, p := range []*string{&env.ID, &env.Object, &env.Type, nil, &env.APIVersion} {
		if p == nil {
			continue
		}
		switch f[i].Type {
		case gjson.String:
			*p = strings.Clone(f[i].Str)
		case gjson.Null:
		default:
			return env, fmt.Errorf("%w: %s is not a string", ErrMalformed, envelopeFields[i])
		}
	}
	switch c := f[3]; c.Type {
	case gjson.Number:
		n, err := strconv.ParseInt(c.Raw, 10, 64)
		if err != nil {
			return env, fmt.Errorf("%w: created is not a whole number", ErrMalformed)
		}
		env.Created = n
	case gjson.Null:
	default:
		return env, fmt.Errorf("%w: created is not a number", ErrMalformed)
	}
	switch l := f[5]; l.Type {
	case gjson.True, gjson.False:
		env.Livemode = l.Bool()
	case gjson.Null:
	default:
		return env, fmt.Errorf("%w: livemode is not a boolean", ErrMalformed)
	}
	switch {
	case env.ID == "":
		return env, fmt.Errorf("%w: no id", ErrMalformed)
	case len(env.ID) > MaxEventID:
		return env, fmt.Errorf("%w: id is %d bytes, more than %d", ErrMalformed, len(env.ID), MaxEventID)
	case env.Type == "":
		return env, fmt.Errorf("%w: no type", ErrMalformed)
	case env.Object != "" && env.Object != "event":
		return env, fmt.Errorf("%w: object is %q, not event", ErrMalformed, env.Object)
	}
	return env, nil
}

// StoredEvent turns a verified body into the record the inbox stores.
func StoredEvent(env Envelope, payload []byte, source string, now time.Time) Event {
	return Event{
		EventRecord: EventRecord{
			ID: env.ID, Type: env.Type, Created: env.Created, APIVersion: env.APIVersion,
			Livemode: env.Livemode, ReceivedAt: now.UTC(), State: StateReceived, Source: source,
		},
		Payload: payload,
	}
}

// Obj is a decoded JSON object read by path, so that fields that moved
// between Stripe API versions can be read from their old and new places.
type Obj map[string]any

// DataObject returns the event's data.object.
func DataObject(payload []byte) (Obj, error) {
	var ev struct {
		Data struct {
			Object Obj `json:"object"`
		} `json:"data"`
	}
	if err := json.Unmarshal(payload, &ev); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	if ev.Data.Object == nil {
		return nil, fmt.Errorf("%w: no data.object", ErrMalformed)
	}
	return ev.Data.Object, nil
}

// Get walks path through nested objects; nil when any step is missing.
func (o Obj) Get(path ...string) any {
	var cur any = map[string]any(o)
	for _, p := range path {
		m, ok := cur.(map[string]any)
		if !ok {
			if om, ok2 := cur.(Obj); ok2 {
				m = om
			} else {
				return nil
			}
		}
		cur = m[p]
	}
	return cur
}

// Str returns the string at path. An expanded object yields its id, so
// "customer" reads the same whether Stripe sent an id or the object.
func (o Obj) Str(path ...string) string {
	switch v := o.Get(path...).(type) {
	case string:
		return v
	case map[string]any:
		if id, ok := v["id"].(string); ok {
			return id
		}
	case float64:
		return strconv.FormatFloat(v, 'f', -1, 64)
	case bool:
		return strconv.FormatBool(v)
	}
	return ""
}

// Int returns the integer at path, reading numbers and numeric strings.
func (o Obj) Int(path ...string) (int64, bool) {
	switch v := o.Get(path...).(type) {
	case float64:
		// A JSON number that is not a whole number in int64's range (9.5,
		// 1e300) is not an integer: never truncated or wrapped.
		if v != math.Trunc(v) || v < -(1<<63) || v >= 1<<63 {
			return 0, false
		}
		return int64(v), true
	case string:
		n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
		return n, err == nil
	}
	return 0, false
}

// Bool returns the boolean at path.
func (o Obj) Bool(path ...string) (value, present bool) {
	v, ok := o.Get(path...).(bool)
	return v, ok
}

// Child returns the object at path, or nil.
func (o Obj) Child(path ...string) Obj {
	if m, ok := o.Get(path...).(map[string]any); ok {
		return m
	}
	return nil
}

// List returns the objects of the list at path; a Stripe list object
// ({"data": [...]}) and a plain array both work.
func (o Obj) List(path ...string) []Obj {
	v := o.Get(path...)
	if m, ok := v.(map[string]any); ok {
		v = m["data"]
	}
	arr, _ := v.([]any)
	out := make([]Obj, 0, len(arr))
	for _, x := range arr {
		if m, ok := x.(map[string]any); ok {
			out = append(out, m)
		}
	}
	return out
}

// First returns the first non-empty string among paths.
func (o Obj) First(paths ...[]string) string {
	for _, p := range paths {
		if s := o.Str(p...); s != "" {
			return s
		}
	}
	return ""
}

// Time returns the unix time at path.
func (o Obj) Time(path ...string) time.Time {
	if n, ok := o.Int(path...); ok && n > 0 {
		return time.Unix(n, 0).UTC()
	}
	return time.Time{}
}
