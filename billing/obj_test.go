package billing

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"unsafe"

	"creditdesk/internal/fixtures"
)

// objOf is the Obj of the object m as JSON, for tests that build one by
// hand instead of reading it from an event.
func objOf(m map[string]any) Obj {
	b, err := json.Marshal(m)
	if err != nil {
		panic(err)
	}
	return newObj(string(b))
}

// sameValue is reflect.DeepEqual for what encoding/json decodes into an
// any, except that a float64 must match to the bit: -0 is not 0.
func sameValue(a, b any) bool {
	switch a := a.(type) {
	case nil:
		return b == nil
	case float64:
		b, ok := b.(float64)
		return ok && math.Float64bits(a) == math.Float64bits(b)
	case string, bool:
		return a == b
	case map[string]any:
		b, ok := b.(map[string]any)
		if !ok || (a == nil) != (b == nil) || len(a) != len(b) {
			return false
		}
		for k, v := range a {
			w, ok := b[k]
			if !ok || !sameValue(v, w) {
				return false
			}
		}
		return true
	case []any:
		b, ok := b.([]any)
		if !ok || (a == nil) != (b == nil) || len(a) != len(b) {
			return false
		}
		for i := range a {
			if !sameValue(a[i], b[i]) {
				return false
			}
		}
		return true
	}
	panic(fmt.Sprintf("sameValue: %T", a))
}

// objPaths is every key path in the decoded object m (each member, at every
// depth through objects), and after each of them a path that is not there:
// the path with one more component ("id", which an expanded object has, and
// one no object has), and the last component changed (upper-cased, since
// keys are case-sensitive, and with a gjson path character added, since
// components are keys, not gjson paths). The empty path comes first.
func objPaths(m map[string]any) [][]string {
	out := [][]string{{}, {"no such key"}, {"id", "no such key"}}
	var walk func(prefix []string, m map[string]any)
	walk = func(prefix []string, m map[string]any) {
		keys := make([]string, 0, len(m))
		for k := range m {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			p := append(slices.Clip(prefix), k)
			out = append(out, p,
				append(slices.Clip(p), "id"), append(slices.Clip(p), "no such key"),
				append(slices.Clip(prefix), strings.ToUpper(k)), append(slices.Clip(prefix), k+"*"), append(slices.Clip(prefix), k+".id"))
			if c, ok := m[k].(map[string]any); ok {
				walk(p, c)
			}
		}
	}
	walk(nil, m)
	return out
}

// objCompare counts what compareObj compared.
type objCompare struct{ objects, paths int }

// compareObj checks that got reads what want (the decoded map) reads on
// every path of objPaths and on extra (paths that need not be in want),
// through every method, and recursively on each object List returns.
func (c *objCompare) compareObj(t testing.TB, where string, want refObj, got Obj, extra ...[]string) {
	t.Helper()
	c.objects++
	if (want == nil) != got.IsZero() {
		t.Fatalf("%s: IsZero %v, want %v", where, got.IsZero(), want == nil)
	}
	paths := append(objPaths(want), extra...)
	for _, p := range paths {
		c.paths++
		at := fmt.Sprintf("%s %q", where, p)
		if w, g := want.Get(p...), got.Get(p...); !sameValue(w, g) {
			t.Fatalf("%s: Get %#v, want %#v", at, g, w)
		}
		if w, g := want.Str(p...), got.Str(p...); w != g {
			t.Fatalf("%s: Str %q, want %q", at, g, w)
		}
		wn, wok := want.Int(p...)
		if gn, gok := got.Int(p...); gn != wn || gok != wok {
			t.Fatalf("%s: Int %d, %v, want %d, %v", at, gn, gok, wn, wok)
		}
		wb, wok := want.Bool(p...)
		if gb, gok := got.Bool(p...); gb != wb || gok != wok {
			t.Fatalf("%s: Bool %v, %v, want %v, %v", at, gb, gok, wb, wok)
		}
		if w, g := want.Time(p...), got.Time(p...); !w.Equal(g) {
			t.Fatalf("%s: Time %v, want %v", at, g, w)
		}
		if w, g := want.First(p, []string{"id"}), got.First(p, []string{"id"}); w != g {
			t.Fatalf("%s: First %q, want %q", at, g, w)
		}
		wc, gc := want.Child(p...), got.Child(p...)
		// What is in the child is read through p above; here, that it is
		// one, and a read from it.
		if (wc == nil) != gc.IsZero() || wc.Str("id") != gc.Str("id") || !sameValue(wc.Get("object"), gc.Get("object")) {
			t.Fatalf("%s: Child %#v, want %#v", at, gc.Get(), map[string]any(wc))
		}
		wl, gl := want.List(p...), got.List(p...)
		if len(wl) != len(gl) || (wl == nil) != (gl == nil) {
			t.Fatalf("%s: List of %d, want %d", at, len(gl), len(wl))
		}
		for i := range wl {
			c.compareObj(t, fmt.Sprintf("%s[%d]", at, i), wl[i], gl[i], extra...)
		}
	}
}

// checkObj checks DataObject against the decoding it replaced on body: an
// error exactly when that refused the body, and otherwise the same reads.
func (c *objCompare) checkObj(t testing.TB, where string, body []byte, extra ...[]string) {
	t.Helper()
	want, wantErr := refDataObject(body)
	got, err := DataObject(body)
	if (err != nil) != (wantErr != nil) {
		t.Fatalf("%s: DataObject error %v, want %v\n%.2000q", where, err, wantErr, body)
	}
	if err != nil {
		if !errors.Is(err, ErrMalformed) {
			t.Fatalf("%s: %v is not ErrMalformed", where, err)
		}
		return
	}
	c.compareObj(t, where, want, got, extra...)
}

// corpusFiles returns the payloads of both real corpora, or skips t when
// the fixtures are not beside the repository.
func corpusFiles(t testing.TB) []string {
	t.Helper()
	var files []string
	for _, corpus := range []string{"stripe-events-2020", "stripe-events-public"} {
		_ = filepath.WalkDir(fixtures.Dir(t, corpus), func(path string, d fs.DirEntry, err error) error {
			if err == nil && !d.IsDir() && strings.HasSuffix(path, ".json") {
				files = append(files, path)
			}
			return err
		})
	}
	if len(files) < 400 {
		t.Fatalf("%d payloads in the corpora, want their hundreds", len(files))
	}
	return files
}

// The view reads what the decoded map read, through every method, on every
// key path of every object in both real corpora, on paths that are not
// there, and on the objects of every list.
func TestObjAgreesWithTheDecodedMapOnTheRealCorpora(t *testing.T) {
	var c objCompare
	events := 0
	for _, f := range corpusFiles(t) {
		body, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := refDataObject(body); err == nil {
			events++
		}
		c.checkObj(t, filepath.Base(f), body)
	}
	t.Logf("%d payloads with a data.object: %d objects, %d paths compared", events, c.objects, c.paths)
	if events < 400 || c.paths < 100_000 {
		t.Fatalf("only %d events and %d paths compared: the corpora are not being read", events, c.paths)
	}
}

// objSeeds are bodies built to trip a reading of data.object that is not
// encoding/json's: repeated keys, escaped keys, keys that are gjson path
// syntax, numbers at the edges of float64 and int64, numeric strings,
// nulls, nested arrays, "data" and "object" in another case or repeated,
// the wrong types, invalid UTF-8 and lone surrogates, nesting at the limit.
var objSeeds = []string{
	`{"data":{"object":{"id":"a","id":"b","metadata":{"k":"1","k":"2"},"metadata":{"k":"3"}}}}`,
	`{"data":{"object":{"\u0041":"x","A":"y","m\u0065tadata":{"user_\u0069d":"u","credits":"5"},"\u00e9":"e","\u00E9t\u00e9":1}}}`,
	`{"data":{"object":{"metadata":{"a.b":"1","*":"2","a?":"3","#":"4","@this":"5","a|b":"6","a\\b":"7","with space":"8","..":"9","":"empty","a\\.b":"10","#(x)":"11","a*":"12","user_id":"u.1"}}}}`,
	`{"data":{"object":{"n":1e400}}}`,
	`{"data":{"object":{"m":{"n":-1E+309}}}}`,
	`{"data":{"object":{"a":[1.7976931348623157e308, 1.7976931348623159e308]}}}`,
	`{"data":{"object":{"n":1e300,"m":-1e300,"z":-0,"z2":-0.0,"h":9.5,"big":12345678901234567890,"max":9223372036854775807,"max1":9223372036854775808,"min":-9223372036854775808,"min1":-9223372036854775809,"e":1E2,"tiny":-1e-400,"frac":0.1,"int":100,"f":1.0,"p":2e-5,"nine":9007199254740993}}}`,
	`{"data":{"object":{"metadata":{"credits":" 42 ","tokens":"\t7\n","bad":"4 2","plus":"+5","hex":"0x10","neg":"-3","long":"9223372036854775808","e":"1e3","dot":"9.5","nbsp":"\u00a042"}}}}`,
	`{"data":{"object":null}}`,
	`{"data":null}`,
	`null`,
	`{"data":{"object":{"a":null,"metadata":null,"lines":null}}}`,
	`{"data":{"object":{"x":1},"object":null}}`,
	`{"data":{"object":{"x":1,"y":1},"object":null,"object":{"y":2}}}`,
	`{"data":{"object":{"x":1e999},"object":null,"object":{"y":2}}}`,
	`{"data":{"object":{"x":1}},"data":{"object":{"y":2,"x":3}},"data":null,"data":{"previous_attributes":{}}}`,
	`{"Data":{"OBJECT":{"id":"up"}},"dAtA":{"Object":{"more":true}},"dat\u0061":{"obj\u0045ct":{"esc":1}}}`,
	`{"data":{"object":{"a":1},"object":{}}}`,
	`{"data":{"object":{}}}`,
	`{"data":{"object":{"lines":{"object":"list","data":[{"id":"l1"},[{"id":"nested"}],"str",5,null,{"id":"l2","period":{"start":1,"end":2}}]},"items":[[1,2],[{"a":1}]],"list":[{"data":[{"id":"x"}]}],"empty":{"data":[]},"notlist":{"data":{"id":"o"}}}}}`,
	`{"data":{"object":[]}}`,
	`{"data":{"object":"obj_1"}}`,
	`{"data":{"object":5}}`,
	`{"data":{"object":true}}`,
	`{"data":"x"}`,
	`{"data":[{"object":{}}]}`,
	`{"data":{"object":{"a":1}},"data":7}`,
	`[]`,
	`"s"`,
	`5`,
	``,
	` `,
	`{"data":{"object":{}}`,
	`{"data":{"object":{"a":1,}}}`,
	`{"data":{"object":{"a":01}}}`,
	`{"data":{"object":{"a":"\x"}}}`,
	`{"data":{"object":{"a":"` + "\x01" + `"}}}`,
	`{"data":{"object":{"a":1}}} x`,
	"\ufeff" + `{"data":{"object":{"a":1}}}`,
	" \t\r\n{ \"data\" : { \"object\" : { \"a\" : [ 1 , { \"b\" : \"c\" } ] , \"d\" : { } } } } \n",
	`{"data":{"object":{"customer":{"id":"cus_1","object":"customer"},"pi":{"id":5},"x":{"id":"a","id":null},"y":{"ID":"no"},"z":{"id":{"id":"deep"}},"w":{"i\u0064":"esc"}}}}`,
	`{"data":{"object":{"s":"\ud800","t":"\ud800\u0041","u":"` + "\xff" + `","` + "\xff" + `":"k","\ufffd":"r","v":"\udc00\ud800","w":"\ud83d\ude00","x":"` + "\xed\xa0\x80" + `","y":"\u0000"}}}`,
	`{"data":{"object":{"metadata":{"` + "\xff" + `":"bad byte","a` + "\xed\xa0\x80" + `":"surrogate"}}}}`,
	`{"data":{"object":{"paid":true,"cancel_at_period_end":false,"s":"true","n":1,"z":0,"nul":null}}}`,
	`{"data":{"object":{"period":{"start":1700000000,"end":"1700000001"},"neg":-5,"zero":0,"period_start":" 1700000000","period_end":1.7e9,"max":9223372036854775807}}}`,
	`{"data":{"object":{"s":"a\\\"b\\\\","t":"\\\\\\\\","u":"\\\\\"","\\\\":"bs","\"":"q","v":"a/b\/c"}}}`,
	`{"data":{"object":{"id":"\u0069d","mode":"pay\u006dent","metadata":{"user_id":"\u0075\u0031"}}}}`,
	`{"data":{"object":{"a":` + strings.Repeat("[", maxDepth-3) + strings.Repeat("]", maxDepth-3) + `}}}`,
	`{"data":{"object":{"a":` + strings.Repeat("[", maxDepth-2) + strings.Repeat("]", maxDepth-2) + `}}}`,
	`{"x":"` + strings.Repeat("[", maxDepth+5) + `","data":{"object":{"a":1}}}`,
	`{"data":{"object":{"n":1` + strings.Repeat("0", 299) + `,"m":1` + strings.Repeat("0", 308) + `}}}`,
	`{"data":{"object":{"n":1` + strings.Repeat("0", 309) + `}}}`,
	`{"data":{"object":{"n":0.` + strings.Repeat("0", 400) + `1}}}`,
	`{"created":1e999,"data":{"request":1e999,"object":{"a":1}}}`,
	`{"data":{"object":{"true":true,"false":false,"null":null,"e":"e","E":[true,false,null,1e1]}}}`,
}

// Fuzz: DataObject and every method on the view read what the decoded map
// read, on any body, on every key path in it and on paths through key.
// Plain go test runs the seeds: the hand-written bodies, and the corpora's
// when the fixtures are beside the repository.
func FuzzObjAgreesWithTheDecodedMap(f *testing.F) {
	for _, s := range objSeeds {
		f.Add([]byte(s), "id")
	}
	for _, k := range []string{"a.b", "*", "a?", "#", "@this", "a|b", `a\b`, "with space", "", "\ufffd", "\xff", "A", "user_id", "credits", "data", "ID"} {
		f.Add([]byte(objSeeds[2]), k)
	}
	for _, k := range []string{"\xff", "\ufffd", "a\xed\xa0\x80", "a\ufffd\ufffd\ufffd"} {
		f.Add([]byte(objSeeds[42]), k)
	}
	// fixtures.Dir would skip the whole target without the fixtures; the
	// hand-written seeds are worth running even then. The corpora are
	// where fixtures.Dir looks: beside the repository, which is one up
	// from this package.
	for _, corpus := range []string{"stripe-events-2020", "stripe-events-public"} {
		_ = filepath.WalkDir(filepath.Join("..", "..", "shared", "fixtures", corpus), func(path string, d fs.DirEntry, err error) error {
			if err == nil && !d.IsDir() && strings.HasSuffix(path, ".json") {
				if body, err := os.ReadFile(path); err == nil {
					f.Add(body, "id")
				}
			}
			return nil
		})
	}
	f.Fuzz(func(t *testing.T, body []byte, key string) {
		var c objCompare
		c.checkObj(t, "fuzz", body, []string{key}, []string{"metadata", key}, []string{key, key}, []string{"lines", key})
	})
}

// The Obj reads its own copy of the event: reusing the buffer the body was
// read from changes nothing read through it.
func TestObjKeepsNothingOfTheBuffer(t *testing.T) {
	body := []byte(`{"data":{"object":{"id":"cs_1","metadata":{"user_id":"u1"},"lines":{"data":[{"id":"l1"}]}}}}`)
	o, err := DataObject(body)
	if err != nil {
		t.Fatal(err)
	}
	lines := o.List("lines")
	for i := range body {
		body[i] = 'x'
	}
	if o.Str("id") != "cs_1" || o.Str("metadata", "user_id") != "u1" || len(lines) != 1 || lines[0].Str("id") != "l1" {
		t.Fatalf("the Obj changed with its buffer: %q", o.raw)
	}
}

// A string read from an Obj is not a part of the Obj's text, so one kept
// (a customer id in a cache) does not keep the whole event alive.
func TestObjStringsAreTheirOwn(t *testing.T) {
	o, err := DataObject([]byte(`{"data":{"object":{"id":"cs_1","customer":{"id":"cus_1"},"metadata":{"user_id":"u1"}}}}`))
	if err != nil {
		t.Fatal(err)
	}
	start := uintptr(unsafe.Pointer(unsafe.StringData(o.raw)))
	for _, s := range []string{o.Str("id"), o.Str("customer"), o.Str("metadata", "user_id"), o.Get("metadata", "user_id").(string)} {
		if p := uintptr(unsafe.Pointer(unsafe.StringData(s))); p >= start && p < start+uintptr(len(o.raw)) {
			t.Errorf("%q is a part of the Obj's text", s)
		}
	}
}
