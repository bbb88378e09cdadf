package stripeapi

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/stripe/stripe-go/v76"

	"creditdesk/billing"
	"creditdesk/internal/config"
)

// Level is how a doctor's finding stands.
type Level int

const (
	// OK: nothing to do.
	OK Level = iota
	// Warn: worth a look, not broken.
	Warn
	// Problem: something is wrong; Fix says what to do.
	Problem
)

func (l Level) String() string {
	switch l {
	case OK:
		return "ok"
	case Warn:
		return "warn"
	}
	return "problem"
}

// Finding is one line of the doctor's report.
type Finding struct {
	Check string
	Level Level
	// Text is what was found, one line.
	Text string
	// Fix is what to do about it, one line; empty when OK.
	Fix string
}

func (f Finding) String() string {
	s := fmt.Sprintf("%-7s %-16s %s", f.Level, f.Check, f.Text)
	if f.Fix != "" {
		s += " → " + f.Fix
	}
	return s
}

// Failed reports whether any finding is a problem.
func Failed(fs []Finding) bool {
	for _, f := range fs {
		if f.Level == Problem {
			return true
		}
	}
	return false
}

// DoctorInput is what the doctor looks at.
type DoctorInput struct {
	Config config.Config
	// Client is nil when no usable key is configured.
	Client *Client
	// Service is nil when the database could not be opened; StoreErr says
	// why.
	Service  *billing.Service
	StoreErr error
	Now      time.Time
	// HTTPS is the client for the https check of --domain and
	// CREDITDESK_PUBLIC_URL (nil: system roots, 10 s timeout).
	HTTPS *http.Client
}

// Doctor checks the setup and returns one finding per check: the key's kind
// and mode, that it works, the webhook endpoints registered in Stripe, the
// webhook secret, the mode of the events received against the key's, the
// last event's age, and events waiting or failed; with a domain or a public
// URL, that it answers over https with a certificate valid 14 more days.
func Doctor(ctx context.Context, in DoctorInput) []Finding {
	if in.Now.IsZero() {
		in.Now = time.Now()
	}
	cfg := in.Config
	var out []Finding
	add := func(check string, l Level, text, fix string) {
		out = append(out, Finding{Check: check, Level: l, Text: text, Fix: fix})
	}

	// The key.
	kind, keyErr := config.CheckSecretKey(cfg.SecretKey)
	switch {
	case keyErr != nil:
		add("key", Problem, oneLine(keyErr.Error()), "put the secret key (sk_test_… or sk_live_…) in STRIPE_SECRET_KEY in .env")
	case cfg.SecretKey == "":
		add("key", Problem, "STRIPE_SECRET_KEY is not set: checkout, portal, capture, resync and these checks need it",
			"copy the secret key from Stripe Dashboard → Developers → API keys into STRIPE_SECRET_KEY in .env")
	default:
		what := "secret key"
		if kind.Restricted {
			what = "restricted key"
		}
		add("key", OK, fmt.Sprintf("%s %s, %s mode", what, config.Mask(cfg.SecretKey), modeName(kind.Live)), "")
	}
	keyUsable := keyErr == nil && cfg.SecretKey != "" && in.Client != nil

	// The account.
	if keyUsable {
		cctx, cancel := context.WithTimeout(ctx, 15*time.Second)
		acct, err := in.Client.account(cctx)
		cancel()
		if err != nil {
			fix := "check the key in Dashboard → Developers → API keys, and that this machine can reach api.stripe.com"
			if e, ok := StripeError(err); ok && e.Status == http.StatusUnauthorized {
				fix = "the key was rejected: copy a current one from Dashboard → Developers → API keys (it may have been rolled)"
			}
			add("account", Problem, "the key does not work: "+oneLine(err.Error()), fix)
			keyUsable = false
		} else {
			name := acct.ID
			if acct.Settings != nil && acct.Settings.Dashboard != nil && acct.Settings.Dashboard.DisplayName != "" {
				name += " (" + acct.Settings.Dashboard.DisplayName + ")"
			}
			add("account", OK, "the key works: account "+name, "")
		}
	}

	// The webhook endpoints registered in Stripe.
	want := ""
	if cfg.PublicURL != "" {
		want = strings.TrimRight(cfg.PublicURL, "/") + cfg.WebhookPath
	}
	switch {
	case want == "":
		add("public url", Warn, "CREDITDESK_PUBLIC_URL is not set, so which endpoint is this receiver's cannot be checked",
			"set CREDITDESK_PUBLIC_URL to the https address Stripe reaches this server at")
	default:
		if u, err := url.Parse(want); err != nil || IsLocalURL(u) {
			add("public url", Problem, fmt.Sprintf("CREDITDESK_PUBLIC_URL %s is not reachable from the internet", cfg.PublicURL),
				"set it to the public https address; for local testing use `stripe listen --forward-to "+strings.TrimPrefix(strings.TrimPrefix(want, "http://"), "https://")+"`")
		}
	}
	out = append(out, httpsFindings(ctx, cfg, in.HTTPS, in.Now)...)
	if keyUsable {
		cctx, cancel := context.WithTimeout(ctx, 15*time.Second)
		eps, err := in.Client.WebhookEndpoints(cctx)
		cancel()
		if err != nil {
			add("webhook endpoint", Problem, "cannot list webhook endpoints: "+oneLine(err.Error()),
				"a restricted key needs read access to Webhook Endpoints")
		} else {
			out = append(out, endpointFindings(eps, want)...)
		}
	}

	// The webhook secret.
	secrets := config.WebhookSecrets(cfg.WebhookSecret)
	if err := config.CheckWebhookSecrets(secrets, true); err != nil {
		add("webhook secret", Problem, oneLine(err.Error()), "run `creditdesk webhook setup URL` and put the secret it prints in STRIPE_WEBHOOK_SECRET")
	} else {
		add("webhook secret", OK, fmt.Sprintf("STRIPE_WEBHOOK_SECRET set (%d secret(s), %s)", len(secrets), config.Mask(secrets[0])), "")
	}

	// The store: events received.
	if in.Service == nil {
		text := "database not read"
		if in.StoreErr != nil {
			text += ": " + oneLine(in.StoreErr.Error())
		}
		add("events", Warn, text, "run doctor where the database is (--db FILE), or check the Health tab of the running console")
		return out
	}
	out = append(out, eventFindings(in.Service, keyErr == nil && cfg.SecretKey != "", kind.Live, in.Now)...)
	return out
}

func modeName(live bool) string {
	if live {
		return "live"
	}
	return "test"
}

func (c *Client) account(ctx context.Context) (*stripe.Account, error) {
	p := &stripe.AccountParams{}
	p.Context = ctx
	acct := &stripe.Account{}
	if err := c.backend.Call(http.MethodGet, "/v1/account", c.key, p, acct); err != nil {
		return nil, wrap("retrieving the account", err)
	}
	return acct, nil
}

// endpointFindings checks the registered endpoints against want, the
// receiver's public webhook URL ("" when unknown).
func endpointFindings(eps []RegisteredEndpoint, want string) []Finding {
	var out []Finding
	add := func(l Level, text, fix string) {
		out = append(out, Finding{Check: "webhook endpoint", Level: l, Text: text, Fix: fix})
	}
	if len(eps) == 0 {
		target := want
		if target == "" {
			target = "https://YOUR-HOST/api/stripe/webhook"
		}
		add(Problem, "no webhook endpoint is registered in Stripe: no events reach creditdesk",
			"run `creditdesk webhook setup "+target+"`")
		return out
	}
	found := false
	for _, e := range eps {
		u, _ := url.Parse(e.URL)
		mine := want != "" && strings.TrimRight(e.URL, "/") == strings.TrimRight(want, "/")
		found = found || mine
		switch {
		case u != nil && IsLocalURL(u):
			add(Problem, fmt.Sprintf("%s points at %s, which Stripe cannot reach", e.ID, e.URL),
				"delete it in Dashboard → Developers → Webhooks; locally use `stripe listen --forward-to`")
			continue
		case !mine && want != "":
			continue // someone else's endpoint
		}
		before := len(out)
		if e.Status != "" && e.Status != "enabled" {
			add(Problem, fmt.Sprintf("%s (%s) is %s", e.ID, e.URL, e.Status), "enable it in Dashboard → Developers → Webhooks")
		}
		if miss := MissingEvents(e.Events); len(miss) > 0 {
			add(Problem, fmt.Sprintf("%s (%s) does not send %d event type(s) creditdesk needs: %s", e.ID, e.URL, len(miss), short(miss, 4)),
				"enable them in Dashboard → Developers → Webhooks → "+e.ID)
		}
		if e.APIVersion != "" && e.APIVersion != stripe.APIVersion {
			add(Warn, fmt.Sprintf("%s sends API version %s; creditdesk is built on %s (the rules read both)", e.ID, e.APIVersion, stripe.APIVersion),
				"nothing required; a new endpoint from `creditdesk webhook setup` pins "+stripe.APIVersion)
		}
		if len(out) == before {
			v := e.APIVersion
			if v == "" {
				v = "the account's default"
			}
			add(OK, fmt.Sprintf("%s → %s, API version %s, %d event types", e.ID, e.URL, v, len(e.Events)), "")
		}
	}
	if want != "" && !found {
		add(Problem, fmt.Sprintf("none of the %d registered endpoint(s) points at %s", len(eps), want),
			"run `creditdesk webhook setup "+want+"`")
	}
	return out
}

func short(xs []string, n int) string {
	if len(xs) <= n {
		return strings.Join(xs, ", ")
	}
	return strings.Join(xs[:n], ", ") + fmt.Sprintf(" and %d more", len(xs)-n)
}

// eventFindings checks the received events: their mode against the key's,
// the newest one's age, and events waiting or failed.
func eventFindings(svc *billing.Service, haveKey, liveKey bool, now time.Time) []Finding {
	var out []Finding
	add := func(check string, l Level, text, fix string) {
		out = append(out, Finding{Check: check, Level: l, Text: text, Fix: fix})
	}
	recs, err := svc.EventsPage(0, 100)
	if err != nil {
		add("events", Problem, "cannot read events: "+oneLine(err.Error()), "run `creditdesk verify`")
		return out
	}
	var real []billing.EventRecord
	for _, r := range recs {
		if r.Source != "simulator" {
			real = append(real, r)
		}
	}
	if len(real) == 0 {
		add("last event", Warn, "no Stripe event received yet", "send one with `stripe trigger checkout.session.completed` and check it shows in the Live tab")
	} else {
		last := real[0]
		age := now.Sub(last.ReceivedAt).Round(time.Minute)
		l := OK
		fix := ""
		if age > 7*24*time.Hour {
			l, fix = Warn, "if sales happened since, check the endpoint in Dashboard → Developers → Webhooks, then `creditdesk resync --since 720h`"
		}
		add("last event", l, fmt.Sprintf("%s %s received %s ago", last.Type, last.ID, humanAge(age)), fix)
		if haveKey {
			var live, test int
			for _, r := range real {
				if r.Livemode {
					live++
				} else {
					test++
				}
			}
			switch {
			case liveKey && live == 0:
				add("mode", Problem, fmt.Sprintf("the key is live but the last %d events received are test-mode", test),
					"use the live endpoint's signing secret in STRIPE_WEBHOOK_SECRET, or a test key; never mix the two")
			case !liveKey && test == 0:
				add("mode", Problem, fmt.Sprintf("the key is a test key but the last %d events received are live-mode", live),
					"use the live key (sk_live_…) with the live endpoint, or the test endpoint's secret with the test key")
			case live > 0 && test > 0:
				add("mode", Warn, fmt.Sprintf("the last events mix live (%d) and test (%d) mode", live, test),
					"keep test and live in separate databases (CREDITDESK_DB)")
			default:
				add("mode", OK, "events received are "+modeName(liveKey)+"-mode, like the key", "")
			}
		}
	}
	st := svc.Stats()
	if st.Failed > 0 {
		add("failed", Problem, fmt.Sprintf("%d event(s) failed to apply", st.Failed), "see the Live tab or `creditdesk events`; the reason is on each event")
	}
	if st.Waiting > 0 {
		add("waiting", Warn, fmt.Sprintf("%d event(s) waiting for something creditdesk does not know yet", st.Waiting),
			"the Attention tab (or `creditdesk events --state waiting`) says what each waits for: often a plan missing from creditdesk.toml, or a checkout not received yet")
	}
	if queued := st.Pending - min(st.Pending, st.Waiting); queued > 0 && !svc.Running() {
		add("queued", Warn, fmt.Sprintf("%d event(s) stored but not applied yet", queued), "start `creditdesk serve` (or the console) to apply them")
	}
	if st.Failed == 0 && st.Pending == 0 {
		add("processing", OK, fmt.Sprintf("%d events stored, none waiting or failed", st.Events), "")
	}
	return out
}

func humanAge(d time.Duration) string {
	switch {
	case d < time.Minute:
		return "less than a minute"
	case d < time.Hour:
		return fmt.Sprintf("%d min", int(d.Minutes()))
	case d < 48*time.Hour:
		return fmt.Sprintf("%.0f h", d.Hours())
	}
	return fmt.Sprintf("%.0f days", d.Hours()/24)
}
