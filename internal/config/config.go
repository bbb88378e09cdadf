// Package config reads creditdesk's settings from the environment and a
// .env file (the command line's flags, in internal/cli, change them), and
// checks them, turning each setup mistake into one line that names the fix.
package config

import (
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/joho/godotenv"
)

// Config is everything creditdesk reads from its environment.
type Config struct {
	DB            string
	Addr          string
	WebhookPath   string
	SecretKey     string
	WebhookSecret string
	// CatalogPath is the catalog file: --config, else CREDITDESK_CONFIG,
	// else creditdesk.toml when the working directory has one.
	CatalogPath string
	APIBase     string
	PublicURL   string
	// SuccessURL and CancelURL are where Checkout sends the buyer back
	// (CREDITDESK_SUCCESS_URL, CREDITDESK_CANCEL_URL).
	SuccessURL string
	CancelURL  string
	// Domain is the host name(s), comma-separated, serve gets certificates
	// for from Let's Encrypt (CREDITDESK_DOMAIN, --domain); doctor checks
	// they answer over https.
	Domain string
}

// Defaults used when neither a flag nor the environment says otherwise.
const (
	DefaultDB   = "creditdesk.db"
	DefaultAddr = "127.0.0.1:4242"
)

// LoadDotEnv reads .env in the working directory if there is one. Variables
// already set in the environment win.
func LoadDotEnv() error {
	if _, err := os.Stat(".env"); err != nil {
		return nil
	}
	if err := godotenv.Load(".env"); err != nil {
		return fmt.Errorf(".env: %w", err)
	}
	return nil
}

// FromEnv reads the environment.
func FromEnv() Config {
	c := Config{
		DB:            os.Getenv("CREDITDESK_DB"),
		Addr:          os.Getenv("CREDITDESK_ADDR"),
		WebhookPath:   os.Getenv("CREDITDESK_WEBHOOK_PATH"),
		SecretKey:     strings.TrimSpace(os.Getenv("STRIPE_SECRET_KEY")),
		WebhookSecret: strings.TrimSpace(os.Getenv("STRIPE_WEBHOOK_SECRET")),
		CatalogPath:   os.Getenv("CREDITDESK_CONFIG"),
		APIBase:       os.Getenv("STRIPE_API_BASE"),
		PublicURL:     os.Getenv("CREDITDESK_PUBLIC_URL"),
		SuccessURL:    os.Getenv("CREDITDESK_SUCCESS_URL"),
		CancelURL:     os.Getenv("CREDITDESK_CANCEL_URL"),
		Domain:        os.Getenv("CREDITDESK_DOMAIN"),
	}
	if c.DB == "" {
		c.DB = DefaultDB
	}
	if c.Addr == "" {
		c.Addr = DefaultAddr
	}
	if c.WebhookPath == "" {
		c.WebhookPath = "/api/stripe/webhook"
	}
	if c.CatalogPath == "" {
		if _, err := os.Stat("creditdesk.toml"); err == nil {
			c.CatalogPath = "creditdesk.toml"
		}
	}
	return c
}

// KeyKind describes a Stripe API key without revealing it.
type KeyKind struct {
	Secret     bool // sk_ (false: rk_ restricted)
	Live       bool
	Restricted bool
}

// CheckSecretKey says what is wrong with a STRIPE_SECRET_KEY value, in one
// line that names the fix; "" is allowed (no API calls).
func CheckSecretKey(k string) (KeyKind, error) {
	switch {
	case k == "":
		return KeyKind{}, nil
	case strings.HasPrefix(k, "pk_"):
		return KeyKind{}, errors.New("STRIPE_SECRET_KEY holds a publishable key (pk_…): use the secret key (sk_…) from Stripe Dashboard → Developers → API keys")
	case strings.HasPrefix(k, "whsec_"):
		return KeyKind{}, errors.New("STRIPE_SECRET_KEY holds a webhook signing secret (whsec_…): that belongs in STRIPE_WEBHOOK_SECRET; STRIPE_SECRET_KEY takes sk_…")
	case strings.HasPrefix(k, "sk_test_"):
		return KeyKind{Secret: true}, nil
	case strings.HasPrefix(k, "sk_live_"):
		return KeyKind{Secret: true, Live: true}, nil
	case strings.HasPrefix(k, "rk_test_"):
		return KeyKind{Restricted: true}, nil
	case strings.HasPrefix(k, "rk_live_"):
		return KeyKind{Restricted: true, Live: true}, nil
	}
	return KeyKind{}, fmt.Errorf("STRIPE_SECRET_KEY (%s) is not a Stripe secret key: it should start with sk_test_ or sk_live_", Mask(k))
}

// WebhookSecrets splits STRIPE_WEBHOOK_SECRET: several secrets separated by
// commas, so a secret can be rotated with no downtime.
func WebhookSecrets(v string) []string {
	var out []string
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}

// CheckWebhookSecrets says what is wrong with STRIPE_WEBHOOK_SECRET; with
// required, an empty value is an error.
func CheckWebhookSecrets(secrets []string, required bool) error {
	if len(secrets) == 0 {
		if required {
			return errors.New("STRIPE_WEBHOOK_SECRET is not set: copy the signing secret (whsec_…) of your endpoint from Stripe Dashboard → Developers → Webhooks, or from `stripe listen`")
		}
		return nil
	}
	for _, s := range secrets {
		switch {
		case strings.HasPrefix(s, "sk_") || strings.HasPrefix(s, "rk_") || strings.HasPrefix(s, "pk_"):
			return fmt.Errorf("STRIPE_WEBHOOK_SECRET holds an API key (%s): it takes the endpoint's signing secret, whsec_…", Mask(s))
		case !strings.HasPrefix(s, "whsec_"):
			return fmt.Errorf("STRIPE_WEBHOOK_SECRET (%s) does not start with whsec_: copy the endpoint's signing secret", Mask(s))
		}
	}
	return nil
}

// Mask shows a secret as its prefix and last four characters only:
// sk_test_…abcd.
func Mask(s string) string {
	if s == "" {
		return "(empty)"
	}
	prefix := ""
	for _, p := range []string{"sk_test_", "sk_live_", "rk_test_", "rk_live_", "pk_test_", "pk_live_", "whsec_"} {
		if strings.HasPrefix(s, p) {
			prefix = p
			break
		}
	}
	if len(s)-len(prefix) <= 4 {
		return prefix + "…"
	}
	return prefix + "…" + s[len(s)-4:]
}
