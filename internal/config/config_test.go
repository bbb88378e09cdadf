package config

import (
	"strings"
	"testing"
)

func TestMaskShowsPrefixAndLastFourOnly(t *testing.T) {
	cases := map[string]string{
		"sk_test_51ABCdefGHIjklMNOabcd": "sk_test_…abcd",
		"whsec_0123456789wxyz":          "whsec_…wxyz",
		"rk_live_x":                     "rk_live_…",
		"":                              "(empty)",
		"plainsecretvalue":              "…alue",
	}
	for in, want := range cases {
		if got := Mask(in); got != want {
			t.Errorf("Mask(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestKeyMistakesNameTheFix(t *testing.T) {
	if k, err := CheckSecretKey("sk_live_abc123456"); err != nil || !k.Live || !k.Secret {
		t.Fatalf("live secret key: %+v %v", k, err)
	}
	if k, err := CheckSecretKey("rk_test_abc123456"); err != nil || !k.Restricted || k.Live {
		t.Fatalf("restricted test key: %+v %v", k, err)
	}
	for key, want := range map[string]string{
		"pk_test_abc123456":   "use the secret key (sk_…)",
		"whsec_abc123456":     "belongs in STRIPE_WEBHOOK_SECRET",
		"nonsense_abc1234567": "should start with sk_test_ or sk_live_",
	} {
		_, err := CheckSecretKey(key)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want %q", key, err, want)
		}
		if err != nil && strings.Contains(err.Error(), key) {
			t.Errorf("%s: the key itself is in the error", key)
		}
	}
	if err := CheckWebhookSecrets(nil, true); err == nil || !strings.Contains(err.Error(), "STRIPE_WEBHOOK_SECRET is not set") {
		t.Errorf("missing secret: %v", err)
	}
	if err := CheckWebhookSecrets(nil, false); err != nil {
		t.Errorf("optional secret: %v", err)
	}
	if err := CheckWebhookSecrets([]string{"whsec_a", "sk_test_oops12345"}, true); err == nil || strings.Contains(err.Error(), "oops12345") {
		t.Errorf("api key as webhook secret: %v", err)
	}
}
