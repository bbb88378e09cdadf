package billing

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
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

// Obj is a JSON object of an event, read by path, so that fields that moved
// between Stripe API versions can be read from their old and new places. It
// is the object's JSON text, not a decoded map: the rules read a handful of
// the hundred-odd fields of an object, so an Obj notes where each of its
// members is once and a lookup decodes only the value it wants, scanning
// the nested objects on its path for their key. What it reads is what
// encoding/json decoding the object into a map[string]any reads: the last
// of a repeated key, keys and strings unescaped as encoding/json unescapes
// them, numbers as float64.
//
// The zero Obj is no object: every path in it is missing.
type Obj struct {
	raw     string   // `{...}`, valid JSON; "" for the zero Obj
	members []member // raw's members in order
}

// member is one member of an object: its key as encoding/json decodes it,
// and its value's JSON text.
type member struct{ key, val string }

// newObj is the Obj of the valid JSON object raw.
func newObj(raw string) Obj {
	ms, _, _ := indexObject(raw, 0)
	return Obj{raw: raw, members: ms}
}

// maxDepth is how deeply encoding/json lets arrays and objects nest; a
// deeper body is not JSON to it.
const maxDepth = 10000

// DataObject returns the event's data.object. It refuses exactly the
// bodies decoding the event with encoding/json into a struct holding
// data.object as a map refused (the rules used to read it that way): not
// JSON (gjson checks the grammar, which is the same), nested too deeply,
// data or data.object of the wrong type, or a number in data.object too
// large for a float64. Like it, it matches "data" and "object" whatever
// their case, and merges the members of a repeated "object" unless a null
// came between. The Obj reads its own copy of payload, which may be reused.
func DataObject(payload []byte) (Obj, error) {
	if tooDeep(payload) || !gjson.ValidBytes(payload) {
		return Obj{}, fmt.Errorf("%w: not JSON", ErrMalformed)
	}
	// One copy, which the Obj's text and members are parts of.
	s := string(payload)
	i := skipSpace(s, 0)
	switch s[i] {
	case '{':
	case 'n':
		return Obj{}, fmt.Errorf("%w: no data.object", ErrMalformed)
	default:
		return Obj{}, fmt.Errorf("%w: not a JSON object", ErrMalformed)
	}
	var d dataReader
	for i++; ; {
		k, vs, ok := nextKey(s, i)
		if !ok {
			break
		}
		switch data := strings.EqualFold(jsonString(k), "data"); {
		case data && s[vs] == '{':
			i = d.read(s, vs)
		case data && s[vs] != 'n': // a null leaves a struct as it is
			d.wrong = true
			fallthrough
		default:
			i = valueEnd(s, vs)
		}
	}
	switch {
	case d.wrong:
		return Obj{}, fmt.Errorf("%w: data or data.object is not an object", ErrMalformed)
	case d.huge:
		return Obj{}, fmt.Errorf("%w: a number in data.object is too large for a float64", ErrMalformed)
	case len(d.objs) == 0:
		return Obj{}, fmt.Errorf("%w: no data.object", ErrMalformed)
	case len(d.objs) == 1:
		return d.objs[0], nil
	}
	return newObj(joinObjects(d.objs)), nil
}

// dataReader reads an event's data members as encoding/json decoding them
// into a struct with an "object" map would.
type dataReader struct {
	// objs are the objects decoded into data.object since the last null,
	// which reset it.
	objs []Obj
	// wrong: a data or data.object of the wrong type; huge: a number in a
	// data.object too large for a float64 (both errors to encoding/json).
	wrong, huge bool
}

// read reads the data object that starts at s[i] and returns the index
// past it.
func (d *dataReader) read(s string, i int) int {
	for i++; ; {
		k, vs, ok := nextKey(s, i)
		if !ok {
			return vs + 1 // past the '}'
		}
		if !strings.EqualFold(jsonString(k), "object") {
			i = valueEnd(s, vs)
			continue
		}
		switch s[vs] {
		case 'n':
			d.objs = d.objs[:0]
			i = vs + len("null")
		case '{':
			ms, end, huge := indexObject(s, vs)
			d.objs = append(d.objs, Obj{raw: s[vs:end], members: ms})
			d.huge = d.huge || huge
			i = end
		default:
			d.wrong = true
			i = valueEnd(s, vs)
		}
	}
}

// joinObjects returns the text of one object holding the members of objs
// in order: read with the last of a repeated key winning, it is the map
// encoding/json fills by decoding each of objs into it in turn.
func joinObjects(objs []Obj) string {
	var b strings.Builder
	b.WriteByte('{')
	for _, o := range objs {
		inner := strings.TrimSpace(o.raw[1 : len(o.raw)-1])
		if inner == "" {
			continue
		}
		if b.Len() > 1 {
			b.WriteByte(',')
		}
		b.WriteString(inner)
	}
	b.WriteByte('}')
	return b.String()
}

// tooDeep reports whether arrays and objects in b nest more than maxDepth
// deep. Only a body with that many brackets can, so most are not scanned.
func tooDeep(b []byte) bool {
	if bytes.Count(b, []byte{'{'})+bytes.Count(b, []byte{'['}) <= maxDepth {
		return false
	}
	depth := 0
	s := unsafeString(b)
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '"':
			i = stringEnd(s, i)
		case '{', '[':
			if depth++; depth > maxDepth {
				return true
			}
		case '}', ']':
			depth--
		}
	}
	return false
}

// The scanning below reads JSON text that is known to be valid (gjson
// checked it), so it only finds where things end: it never checks them.

// skipSpace returns the index of the first byte at or after s[i] that is
// not white space or a comma (between members, a comma is nothing more).
func skipSpace(s string, i int) int {
	for i < len(s) && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r' || s[i] == ',') {
		i++
	}
	return i
}

// stringEnd returns the index of the quote closing the string that opens
// at s[i], or len(s) when it is not closed.
func stringEnd(s string, i int) int {
	for {
		j := strings.IndexByte(s[i+1:], '"')
		if j < 0 {
			return len(s)
		}
		i += 1 + j
		n := 0
		for k := i - 1; s[k] == '\\'; k-- {
			n++
		}
		if n%2 == 0 {
			return i
		}
	}
}

// valueEnd returns the index just past the value that starts at s[i].
func valueEnd(s string, i int) int {
	end, _ := scanValue(s, i)
	return end
}

// scanValue returns the index just past the value that starts at s[i], and
// whether it holds a number too large for a float64 (1e400), which
// encoding/json refuses to decode into an any. Only a number with an
// exponent or of 300 characters or more can be, so only those are parsed.
func scanValue(s string, i int) (end int, huge bool) {
	depth := 0
	for ; i < len(s); i++ {
		switch c := s[i]; c {
		case '"':
			i = stringEnd(s, i)
		case '{', '[':
			depth++
			continue
		case '}', ']':
			depth--
		case ' ', '\t', '\n', '\r', ',', ':':
			continue
		case 't', 'n': // true, null
			i += 3
		case 'f': // false
			i += 4
		default: // a number
			j, exp := i+1, false
			for ; j < len(s); j++ {
				if d := s[j]; d == 'e' || d == 'E' {
					exp = true
				} else if !('0' <= d && d <= '9' || d == '.' || d == '+' || d == '-') {
					break
				}
			}
			if exp || j-i >= 300 {
				if _, err := strconv.ParseFloat(s[i:j], 64); err != nil {
					huge = true
				}
			}
			i = j - 1
		}
		if depth == 0 {
			return i + 1, huge
		}
	}
	return len(s), huge
}

// nextKey reads the key of the member of an object that starts at or after
// s[i] (past the object's '{' or a previous member): the key's literal and
// the index of its value. At the object's end ok is false and vstart is
// the index of its '}'.
func nextKey(s string, i int) (key string, vstart int, ok bool) {
	i = skipSpace(s, i)
	if i >= len(s) || s[i] != '"' {
		return "", i, false
	}
	e := stringEnd(s, i) + 1
	colon := skipSpace(s, e)
	return s[i:e], skipSpace(s, colon+1), true
}

// indexObject reads the members of the object that starts at s[i], and
// returns them, the index past the object, and whether a number in it is
// too large for a float64 (see scanValue).
func indexObject(s string, i int) (ms []member, end int, huge bool) {
	// Most objects have fewer members than buf holds, so the only
	// allocation is that of the result, of its exact size.
	var buf [64]member
	var more []member
	n := 0
	for i++; ; {
		k, vs, ok := nextKey(s, i)
		if !ok {
			end = vs + 1
			break
		}
		e, h := scanValue(s, vs)
		if m := (member{key: jsonString(k), val: s[vs:e]}); n < len(buf) {
			buf[n] = m
		} else {
			more = append(more, m)
		}
		n++
		huge = huge || h
		i = e
	}
	ms = make([]member, n)
	copy(ms[copy(ms, buf[:min(n, len(buf))]):], more)
	return ms, end, huge
}

// jsonString is the JSON string literal raw as encoding/json decodes it.
// Most literals are their own text (no escape, valid UTF-8). The others are
// decoded by encoding/json itself, because gjson's unescaping differs from
// it on lone surrogates and invalid UTF-8, each of which encoding/json
// turns into U+FFFD.
func jsonString(raw string) string {
	if inner := raw[1 : len(raw)-1]; plain(inner) {
		return inner
	}
	var s string
	_ = json.Unmarshal([]byte(raw), &s) // raw is a valid literal: no error
	return s
}

// plain reports whether the inside of a JSON string literal is the string
// it stands for: no escape, and valid UTF-8.
func plain(inner string) bool { return strings.IndexByte(inner, '\\') < 0 && utf8.ValidString(inner) }

// ownString is jsonString as a string of its own, not a part of the Obj's
// text: a string the rules keep (a user or customer id in a cache) must
// not keep the whole event's text alive with it.
func ownString(raw string) string {
	if inner := raw[1 : len(raw)-1]; plain(inner) {
		return strings.Clone(inner)
	}
	return jsonString(raw) // decoded into a new string
}

// keyIs reports whether the JSON string literal raw, a key, is key once
// decoded, without decoding the common key (no escape, valid UTF-8).
func keyIs(raw, key string) bool {
	if inner := raw[1 : len(raw)-1]; plain(inner) {
		return inner == key
	}
	return jsonString(raw) == key
}

// memberOf returns the text of the value of key in the object obj, the
// last when the key is repeated (as encoding/json keeps), or "".
func memberOf(obj, key string) string {
	var v string
	for i := 1; ; {
		k, vs, ok := nextKey(obj, i)
		if !ok {
			return v
		}
		i = valueEnd(obj, vs)
		if keyIs(k, key) {
			v = obj[vs:i]
		}
	}
}

// value returns the text of the value at path, or "" when a step is
// missing or is not an object.
func (o Obj) value(path []string) string {
	if len(path) == 0 {
		return o.raw
	}
	cur := ""
	for i := len(o.members) - 1; i >= 0; i-- {
		if o.members[i].key == path[0] {
			cur = o.members[i].val
			break
		}
	}
	for _, key := range path[1:] {
		if cur == "" || cur[0] != '{' {
			return ""
		}
		cur = memberOf(cur, key)
	}
	return cur
}

// IsZero reports whether o is no object, as Child returns for a path that
// is missing or not an object.
func (o Obj) IsZero() bool { return o.raw == "" }

// Get returns the value at path as encoding/json decodes it into an any
// (string, float64, bool, map[string]any, []any); nil when any step is
// missing or the value is null. Get with no path on the zero Obj is a nil
// map[string]any, as the decoded map's was.
func (o Obj) Get(path ...string) any {
	if o.raw == "" && len(path) == 0 {
		return map[string]any(nil)
	}
	v := o.value(path)
	if v == "" {
		return nil
	}
	switch v[0] {
	case '"':
		return ownString(v)
	case 't':
		return true
	case 'f':
		return false
	case 'n':
		return nil
	case '{', '[':
		var x any
		_ = json.Unmarshal([]byte(v), &x) // valid, no number too large: no error
		return x
	}
	f, _ := strconv.ParseFloat(v, 64)
	return f
}

// Str returns the string at path. An expanded object yields its id, so
// "customer" reads the same whether Stripe sent an id or the object. A
// number reads as its float64 in decimal, a boolean as true or false.
func (o Obj) Str(path ...string) string {
	v := o.value(path)
	if v == "" {
		return ""
	}
	switch v[0] {
	case '"':
		return ownString(v)
	case '{':
		if id := memberOf(v, "id"); id != "" && id[0] == '"' {
			return ownString(id)
		}
		return ""
	case 't':
		return "true"
	case 'f':
		return "false"
	case '[', 'n':
		return ""
	}
	f, _ := strconv.ParseFloat(v, 64)
	return strconv.FormatFloat(f, 'f', -1, 64)
}

// Int returns the integer at path, reading numbers and numeric strings.
func (o Obj) Int(path ...string) (int64, bool) {
	v := o.value(path)
	if v == "" {
		return 0, false
	}
	switch v[0] {
	case '"':
		n, err := strconv.ParseInt(strings.TrimSpace(jsonString(v)), 10, 64)
		return n, err == nil
	case '{', '[', 't', 'f', 'n':
		return 0, false
	}
	// As the float64 it was decoded into: a JSON number that is not a
	// whole number in int64's range (9.5, 1e300) is not an integer, never
	// truncated or wrapped.
	f, _ := strconv.ParseFloat(v, 64)
	if f != math.Trunc(f) || f < -(1<<63) || f >= 1<<63 {
		return 0, false
	}
	return int64(f), true
}

// Bool returns the boolean at path.
func (o Obj) Bool(path ...string) (value, present bool) {
	v := o.value(path)
	if v == "" {
		return false, false
	}
	switch v[0] {
	case 't':
		return true, true
	case 'f':
		return false, true
	}
	return false, false
}

// Child returns the object at path, or the zero Obj.
func (o Obj) Child(path ...string) Obj {
	if v := o.value(path); v != "" && v[0] == '{' {
		return newObj(v)
	}
	return Obj{}
}

// List returns the objects of the list at path; a Stripe list object
// ({"data": [...]}) and a plain array both work, and what is not an object
// in them is skipped.
func (o Obj) List(path ...string) []Obj {
	v := o.value(path)
	if v != "" && v[0] == '{' {
		v = memberOf(v, "data")
	}
	out := []Obj{}
	if v == "" || v[0] != '[' {
		return out
	}
	for i := 1; ; {
		i = skipSpace(v, i)
		if v[i] == ']' {
			return out
		}
		e := valueEnd(v, i)
		if v[i] == '{' {
			out = append(out, newObj(v[i:e]))
		}
		i = e
	}
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
