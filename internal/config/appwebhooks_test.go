package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The environment's endpoint and its allow_private switch, as a founder
// types them: any spelling strconv.ParseBool takes, and a clear line for
// anything else instead of a silent "no".
func TestAppWebhookFromEnvironment(t *testing.T) {
	for _, c := range []struct {
		allow   string
		want    bool
		wantErr string
	}{
		{"", false, ""},
		{"true", true, ""},
		{"1", true, ""},
		{"false", false, ""},
		{"yes please", false, `CREDITDESK_APP_WEBHOOK_ALLOW_PRIVATE="yes please": want true or false`},
	} {
		env := map[string]string{"CREDITDESK_APP_WEBHOOK_URL": "http://127.0.0.1:9/hooks", "CREDITDESK_APP_WEBHOOK_ALLOW_PRIVATE": c.allow}
		w, err := LoadAppWebhooks("", func(k string) string { return env[k] })
		if c.wantErr != "" {
			if err == nil || err.Error() != c.wantErr {
				t.Errorf("allow %q: error %v, want %q", c.allow, err, c.wantErr)
			}
			continue
		}
		if err != nil || len(w.Endpoints) != 1 || w.Endpoints[0].AllowPrivate != c.want {
			t.Errorf("allow %q: %+v, %v; want one endpoint with allow_private %v", c.allow, w.Endpoints, err, c.want)
		}
	}
}

func TestAppWebhookConfigMistakes(t *testing.T) {
	for _, c := range []struct{ toml, want string }{
		{"[[app_webhooks]]\nurl = \"ftp://app.example/hooks\"\n", "is not an http(s) URL"},
		{"[[app_webhooks]]\nurl = \"https://me:pw@app.example/hooks\"\n", "must not carry a user or password"},
		{"[[app_webhooks]]\nurl = \"https://app.example/a\"\n[[app_webhooks]]\nurl = \"https://app.example/a\"\n", "listed twice"},
		{"keep_deliveries_days = -1\n", "keep_deliveries_days must be a whole number of days from 1 to 3650"},
		{"keep_deliveries_days = \"a week\"\n", "keep_deliveries_days"},
	} {
		path := filepath.Join(t.TempDir(), "creditdesk.toml")
		if err := os.WriteFile(path, []byte(c.toml), 0o600); err != nil {
			t.Fatal(err)
		}
		_, err := LoadAppWebhooks(path, func(string) string { return "" })
		if err == nil || !strings.Contains(err.Error(), c.want) || strings.Contains(err.Error(), "pw@") {
			t.Errorf("%q: error %v, want one naming %q (and no password)", c.toml, err, c.want)
		}
	}
}

// keep_deliveries_days, a top-level key, says how long delivered messages
// stay listed; absent, the outbox's default (7) applies.
func TestKeepDeliveriesDays(t *testing.T) {
	for toml, want := range map[string]int{"keep_deliveries_days = 30\n[[app_webhooks]]\nurl = \"https://app.example/a\"\n": 30, "": 0} {
		path := filepath.Join(t.TempDir(), "creditdesk.toml")
		if err := os.WriteFile(path, []byte(toml), 0o600); err != nil {
			t.Fatal(err)
		}
		w, err := LoadAppWebhooks(path, func(string) string { return "" })
		if err != nil || w.KeepDeliveriesDays != want {
			t.Errorf("%q: %d %v, want %d", toml, w.KeepDeliveriesDays, err, want)
		}
	}
}
