package cli

import (
	"context"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

var updateJSONKeys = flag.Bool("update-json-keys", false, "rewrite testdata/json_keys.golden")

// TestJSONOutputKeysAreSnakeCaseAndStable runs every command that takes
// --json over one database and compares the keys of its output with
// testdata/json_keys.golden: renaming a field fails here, and so does a key
// that is not snake_case.
func TestJSONOutputKeysAreSnakeCaseAndStable(t *testing.T) {
	wd, err := os.Getwd() // run changes directory
	if err != nil {
		t.Fatal(err)
	}
	golden := filepath.Join(wd, "testdata", "json_keys.golden")
	db := filepath.Join(t.TempDir(), "j.db")
	st, svc := openSample(t, db)
	body := []byte(`{"id":"evt_m","object":"event","type":"checkout.session.completed","created":1700000000,"data":{"object":{"id":"cs_m","mode":"payment","payment_status":"paid","customer":"cus_1","metadata":{"user_id":"u1","type":"mystery"}}}}`)
	if _, _, err := svc.Ingest(body, "test"); err != nil {
		t.Fatal(err)
	}
	svc.ProcessPending(context.Background())
	st.Close()
	if code, _, stderr := run(t, nil, "grant", "u1", "10", "--reason", "welcome", "--create", "--db", db); code != 0 {
		t.Fatalf("grant: %s", stderr)
	}
	for _, name := range []string{"backend", "old"} {
		if code, _, stderr := run(t, nil, "apikey", "create", name, "--db", db); code != 0 {
			t.Fatalf("apikey create: %s", stderr)
		}
	}
	if code, _, stderr := run(t, nil, "apikey", "revoke", "old", "--db", db); code != 0 {
		t.Fatalf("apikey revoke: %s", stderr)
	}
	commands := [][]string{{"users"}, {"events"}, {"ledger", "u1"}, {"attention"}, {"apikey", "list"},
		{"export", "ledger"}, {"export", "purchases"}, {"export", "events"}}
	got := map[string][]string{}
	for _, c := range commands {
		args := append(append([]string{}, c...), "--json", "--db", db)
		jsonl := c[0] == "export" // JSON lines, one object a line
		if jsonl {
			args = append(append([]string{}, c...), "--format", "jsonl", "--since", "100000d", "--db", db)
		}
		code, out, stderr := run(t, nil, args...)
		if code != 0 {
			t.Fatalf("%v: exit %d %s", args, code, stderr)
		}
		var rows []map[string]any
		var err error
		if jsonl {
			for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
				var r map[string]any
				if err = json.Unmarshal([]byte(line), &r); err != nil {
					break
				}
				rows = append(rows, r)
			}
		} else {
			err = json.Unmarshal([]byte(out), &rows)
		}
		if err != nil || len(rows) == 0 {
			t.Fatalf("%v: %v %q (want a non-empty list)", args, err, out)
		}
		keys := map[string]bool{}
		for _, r := range rows {
			for k := range r {
				keys[k] = true
			}
		}
		var ks []string
		for k := range keys {
			if k != strings.ToLower(k) || strings.ContainsAny(k, " -") {
				t.Errorf("%s --json: key %q is not snake_case", strings.Join(c, " "), k)
			}
			ks = append(ks, k)
		}
		slices.Sort(ks)
		got[strings.Join(c, " ")] = ks
	}
	b, _ := json.MarshalIndent(got, "", "  ")
	b = append(b, '\n')
	if *updateJSONKeys {
		if err := os.WriteFile(golden, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (go test ./internal/cli -run JSONOutputKeys -update-json-keys writes it)", err)
	}
	if string(want) != string(b) {
		t.Fatalf("--json keys changed (a rename breaks every script that reads them; update the README's Commands section and %s):\ngot  %s\nwant %s", golden, b, want)
	}
}
