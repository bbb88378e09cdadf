package billing

import (
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// refObj is Obj as it was before it became a view over the JSON text: the
// object decoded by encoding/json into a map. It is kept as the reference
// the view must agree with (obj_test.go): credits depend on what the rules
// read, so the view has to read exactly what this did, on every input.
type refObj map[string]any

// refDataObject is DataObject as it was: encoding/json over the whole event.
func refDataObject(payload []byte) (refObj, error) {
	var ev struct {
		Data struct {
			Object refObj `json:"object"`
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

func (o refObj) Get(path ...string) any {
	var cur any = map[string]any(o)
	for _, p := range path {
		m, ok := cur.(map[string]any)
		if !ok {
			if om, ok2 := cur.(refObj); ok2 {
				m = om
			} else {
				return nil
			}
		}
		cur = m[p]
	}
	return cur
}

func (o refObj) Str(path ...string) string {
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

func (o refObj) Int(path ...string) (int64, bool) {
	switch v := o.Get(path...).(type) {
	case float64:
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

func (o refObj) Bool(path ...string) (value, present bool) {
	v, ok := o.Get(path...).(bool)
	return v, ok
}

func (o refObj) Child(path ...string) refObj {
	if m, ok := o.Get(path...).(map[string]any); ok {
		return m
	}
	return nil
}

func (o refObj) List(path ...string) []refObj {
	v := o.Get(path...)
	if m, ok := v.(map[string]any); ok {
		v = m["data"]
	}
	arr, _ := v.([]any)
	out := make([]refObj, 0, len(arr))
	for _, x := range arr {
		if m, ok := x.(map[string]any); ok {
			out = append(out, m)
		}
	}
	return out
}

func (o refObj) First(paths ...[]string) string {
	for _, p := range paths {
		if s := o.Str(p...); s != "" {
			return s
		}
	}
	return ""
}

func (o refObj) Time(path ...string) time.Time {
	if n, ok := o.Int(path...); ok && n > 0 {
		return time.Unix(n, 0).UTC()
	}
	return time.Time{}
}
