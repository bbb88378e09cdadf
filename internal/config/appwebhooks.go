package config

import (
	"errors"
	"fmt"
	"net/url"
	"os"
	"strconv"
	"strings"

	"creditdesk/billing"

	"github.com/BurntSushi/toml"
)

// AppWebhook is one endpoint of the founder's app that creditdesk sends
// its messages to: `[[app_webhooks]]` in creditdesk.toml, or
// CREDITDESK_APP_WEBHOOK_URL.
type AppWebhook struct {
	URL string `toml:"url"`
	// Events it receives (empty: every kind but the opt-in credits.spent).
	Events []string `toml:"events"`
	// AllowPrivate lets requests reach loopback and private addresses.
	AllowPrivate bool `toml:"allow_private"`
}

// AppWebhooks is what the catalog file says of the app's webhooks.
type AppWebhooks struct {
	Endpoints []AppWebhook `toml:"app_webhooks"`
	// LowCredits is the balance below which credits.low is sent (0: never).
	LowCredits int64 `toml:"low_credits"`
	// KeepDeliveriesDays is how many days a delivered message stays listed
	// in Deliveries before it is removed (0: 7).
	KeepDeliveriesDays int `toml:"keep_deliveries_days"`
}

// LoadAppWebhooks reads the [[app_webhooks]] tables, low_credits and
// keep_deliveries_days of the catalog file at path (none: ""), then
// CREDITDESK_APP_WEBHOOK_URL (and CREDITDESK_APP_WEBHOOK_ALLOW_PRIVATE=true)
// from getenv, and checks them.
func LoadAppWebhooks(path string, getenv func(string) string) (AppWebhooks, error) {
	var w AppWebhooks
	if path != "" {
		raw, err := os.ReadFile(path)
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			return w, fmt.Errorf("catalog: %w", err)
		}
		if _, err := toml.Decode(string(raw), &w); err != nil {
			return w, fmt.Errorf("%s: app_webhooks: %v", path, strings.TrimPrefix(err.Error(), "toml: "))
		}
	}
	if u := strings.TrimSpace(getenv("CREDITDESK_APP_WEBHOOK_URL")); u != "" {
		allow := false
		if v := strings.TrimSpace(getenv("CREDITDESK_APP_WEBHOOK_ALLOW_PRIVATE")); v != "" {
			b, err := strconv.ParseBool(v)
			if err != nil {
				return w, fmt.Errorf("CREDITDESK_APP_WEBHOOK_ALLOW_PRIVATE=%q: want true or false", v)
			}
			allow = b
		}
		w.Endpoints = append(w.Endpoints, AppWebhook{URL: u, AllowPrivate: allow})
	}
	where := path
	if where == "" {
		where = "CREDITDESK_APP_WEBHOOK_URL"
	}
	if w.LowCredits < 0 || w.LowCredits > billing.MaxCredits {
		return w, fmt.Errorf("%s: low_credits must be a whole number from 0 to %s", where, billing.Credits(billing.MaxCredits))
	}
	if w.KeepDeliveriesDays < 0 || w.KeepDeliveriesDays > 3650 {
		return w, fmt.Errorf("%s: keep_deliveries_days must be a whole number of days from 1 to 3650 (0 or absent: 7)", where)
	}
	seen := map[string]bool{}
	for i, e := range w.Endpoints {
		u, err := url.Parse(e.URL)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			return w, fmt.Errorf("%s: app_webhooks[%d].url %q is not an http(s) URL", where, i, MaskURL(e.URL))
		}
		if u.User != nil {
			return w, fmt.Errorf("%s: app_webhooks[%d].url must not carry a user or password", where, i)
		}
		if seen[e.URL] {
			return w, fmt.Errorf("%s: app webhook %s is listed twice", where, MaskURL(e.URL))
		}
		seen[e.URL] = true
		for _, k := range e.Events {
			if !billing.KnownMessageKind(k) {
				return w, fmt.Errorf("%s: app_webhooks[%d].events: %q is not a message creditdesk sends (%s)", where, i, k, strings.Join(billing.MessageKinds, ", "))
			}
		}
	}
	return w, nil
}

// MaskURL is a URL without its query (which may carry a token), for
// messages.
func MaskURL(s string) string {
	if i := strings.IndexAny(s, "?#"); i >= 0 {
		return s[:i] + "?…"
	}
	return s
}
