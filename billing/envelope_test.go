package billing

import (
	"os"
	"strconv"
	"testing"

	"github.com/tidwall/gjson"
)

// envelopeByPaths reads the envelope the plain way, one gjson.Get per
// field: ParseEnvelope must agree with it on every body.
func envelopeByPaths(payload []byte) (Envelope, bool) {
	var env Envelope
	if !gjson.ValidBytes(payload) || !gjson.ParseBytes(payload).IsObject() {
		return env, false
	}
	f := gjson.GetManyBytes(payload, envelopeFields...)
	for i, p := range []*string{&env.ID, &env.Object, &env.Type, nil, &env.APIVersion} {
		if p != nil {
			switch f[i].Type {
			case gjson.String:
				*p = f[i].Str
			case gjson.Null:
			default:
				return env, false
			}
		}
	}
	switch f[3].Type {
	case gjson.Number:
		n, err := strconv.ParseInt(f[3].Raw, 10, 64)
		if err != nil {
			return env, false
		}
		env.Created = n
	case gjson.Null:
	default:
		return env, false
	}
	switch f[5].Type {
	case gjson.True, gjson.False:
		env.Livemode = f[5].Bool()
	case gjson.Null:
	default:
		return env, false
	}
	ok := env.ID != "" && len(env.ID) <= MaxEventID && env.Type != "" && (env.Object == "" || env.Object == "event")
	return env, ok
}

var envelopeSeeds = []string{
	`{"id":"evt_1","object":"event","type":"invoice.paid","created":1700000000,"api_version":"2023-10-16","livemode":true,"data":{"object":{"id":"in_1","type":"x"}}}`,
	` 	{"data":{"object":{"id":"nested","type":"inner","created":"no"}},"type":"a.b","id":"evt_2"}`,
	`{"id":"evt_dup","id":"evt_second","type":"t","type":"u"}`,
	`{"id":"evt_\u0031\"q","type":"t\n","created":-5,"livemode":null}`,
	`{"id":"evt_3","type":"t","created":1.5}`,
	`{"id":"evt_4","type":"t","livemode":"yes"}`,
	`{"id":"evt_5","type":"t","object":"charge"}`,
	`{"id":5,"type":"t"}`,
	`["id","evt_6"]`,
	`"evt_7"`,
	`{"type":"t"}`,
	`{"id":"evt_8","type":"t",}`,
	``,
}

func checkEnvelope(t *testing.T, body []byte) {
	want, wantOK := envelopeByPaths(body)
	got, err := ParseEnvelope(body)
	if (err == nil) != wantOK || (wantOK && got != want) {
		t.Fatalf("%q:\n got  %+v, %v\n want %+v, ok=%v", body, got, err, want, wantOK)
	}
}

// ParseEnvelope (one pass over the top level) reads what a gjson.Get per
// field reads, on bodies built to trip it (keys repeated, keys nested
// below data, escapes, white space, wrong types) and on the real corpora.
func TestParseEnvelopeAgreesWithAPathPerField(t *testing.T) {
	for _, s := range envelopeSeeds {
		checkEnvelope(t, []byte(s))
	}
}

func TestParseEnvelopeAgreesOnTheRealCorpora(t *testing.T) {
	for _, f := range corpusFiles(t) {
		body, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		checkEnvelope(t, body)
	}
}

// The strings ParseEnvelope returns do not change when the buffer they
// were read from is reused (the receiver pools its buffers).
func TestParseEnvelopeKeepsNothingOfTheBuffer(t *testing.T) {
	body := []byte(envelopeSeeds[0])
	env, err := ParseEnvelope(body)
	if err != nil {
		t.Fatal(err)
	}
	for i := range body {
		body[i] = 'x'
	}
	if env.ID != "evt_1" || env.Type != "invoice.paid" || env.APIVersion != "2023-10-16" || env.Object != "event" {
		t.Fatalf("envelope changed with its buffer: %+v", env)
	}
}

func FuzzParseEnvelope(f *testing.F) {
	for _, s := range envelopeSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(checkEnvelope)
}
