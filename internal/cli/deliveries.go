package cli

import (
	"fmt"
	"os"
	"strconv"
	"time"

	"creditdesk/billing"
	"creditdesk/internal/appwebhook"
	"creditdesk/internal/config"
	"creditdesk/webhook"
)

// runAppWebhook is `creditdesk appwebhook secret`: it makes the signing
// secret of the app webhooks (or a new one: the old keeps signing for
// 24 hours) and shows it once.
func runAppWebhook(env *Env, args []string) error {
	fs := newFlags(env, "appwebhook")
	pos, err := env.parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 || pos[0] != "secret" {
		return &exitError{code: 2, msg: "usage: creditdesk appwebhook secret"}
	}
	path := appwebhook.SecretPath(env.Config.DB)
	secret, old, err := appwebhook.RotateSecret(path, time.Now())
	if err != nil {
		return err
	}
	if old == "" {
		fmt.Fprintln(env.Stdout, "Created the signing secret of your app webhooks. Copy it now: it is shown only this once.")
	} else {
		fmt.Fprintf(env.Stdout, "Rotated the signing secret. The old one (%s) also signs for %s, until your app uses this one.\n", old, appwebhook.RotationOverlap)
		fmt.Fprintln(env.Stdout, "Copy it now: it is shown only this once.")
	}
	fmt.Fprintln(env.Stdout, "Your app verifies webhook-signature with it (any Standard Webhooks library):")
	fmt.Fprintln(env.Stdout, secret)
	fmt.Fprintf(env.Stderr, "(kept in %s, mode 0600; a running creditdesk reads it again before each round of deliveries)\n", path)
	return nil
}

// runDeliveries is `creditdesk deliveries [--failed] [--json]` and
// `creditdesk deliveries resend ID|--failed` / `deliveries enable ENDPOINT`.
func runDeliveries(env *Env, args []string) error {
	fs := newFlags(env, "deliveries")
	failed := fs.Bool("failed", false, "only the messages given up on (with resend: resend them all)")
	asJSON := fs.Bool("json", false, "print JSON")
	limit := fs.Int("limit", 50, "show at most N messages")
	pos, err := env.parse(fs, args)
	if err != nil {
		return err
	}
	const use = "usage: creditdesk deliveries [--failed] [--json] | deliveries resend ID | deliveries resend --failed | deliveries enable ENDPOINT"
	if len(pos) > 0 {
		switch {
		case pos[0] == "resend" && (len(pos) == 2) != *failed && len(pos) <= 2:
		case pos[0] == "enable" && len(pos) == 2:
		default:
			return &exitError{code: 2, msg: use}
		}
		svc, done, err := env.data(true)
		if err != nil {
			return err
		}
		defer done()
		_, running := svc.(*webhook.AdminClient)
		when := "creditdesk sends it now"
		if !running {
			when = "nothing runs on this database now: it goes out when creditdesk next starts"
		}
		switch {
		case pos[0] == "enable":
			if err := svc.EnableEndpoint(pos[1]); err != nil {
				return err
			}
			fmt.Fprintf(env.Stdout, "re-enabled %s; its waiting messages go out again\n", pos[1])
		case *failed:
			n, err := svc.ResendFailed()
			if err != nil {
				return err
			}
			fmt.Fprintf(env.Stdout, "queued %d failed messages again; %s\n", n, when)
		default:
			seq, err := parseDeliveryID(pos[1])
			if err != nil {
				return err
			}
			if err := svc.ResendDelivery(seq); err != nil {
				return err
			}
			fmt.Fprintf(env.Stdout, "queued %s again (same webhook-id); %s\n", pos[1], when)
		}
		return nil
	}
	if *limit <= 0 || *limit > 1000 {
		return &exitError{code: 2, msg: "--limit must be from 1 to 1000"}
	}
	ds, err := fetch(env, func(svc webhook.AdminService) ([]billing.Delivery, error) {
		return svc.Deliveries(0, *limit, *failed)
	})
	if err != nil {
		return err
	}
	urls := map[string]string{}
	if hooks, err := config.LoadAppWebhooks(env.Config.CatalogPath, os.Getenv); err == nil {
		for _, h := range hooks.Endpoints {
			urls[appwebhook.EndpointID(h.URL)] = config.MaskURL(h.URL)
		}
	}
	for i := range ds {
		if ds[i].URL == "" {
			ds[i].URL = urls[ds[i].Endpoint]
		}
		ds[i].URL = config.MaskURL(ds[i].URL)
	}
	if *asJSON {
		if ds == nil {
			ds = []billing.Delivery{}
		}
		return printJSON(env, ds)
	}
	empty := "no messages to your app yet (configure [[app_webhooks]] in creditdesk.toml)"
	if *failed {
		empty = "no failed messages"
	}
	return printRows(env, ds, empty, "ID\tTYPE\tUSER\tSTATE\tTRIES\tLAST\tNEXT\tURL", func(d billing.Delivery) string {
		return fmt.Sprintf("%d\t%s\t%s\t%s\t%d\t%s\t%s\t%s", d.Seq, d.Type, shown(d.User), d.State, d.Attempts,
			shown(lastAnswer(d.OutboxMessage)), nextTry(d.OutboxMessage), shown(d.URL))
	})
}

// parseDeliveryID reads a delivery's number: 12, or its webhook-id msg_12_….
func parseDeliveryID(s string) (uint64, error) {
	if len(s) > 4 && s[:4] == "msg_" {
		s = s[4:]
		for i := range s {
			if s[i] == '_' {
				s = s[:i]
				break
			}
		}
	}
	n, err := strconv.ParseUint(s, 10, 64)
	if err != nil || n == 0 {
		return 0, &exitError{code: 2, msg: fmt.Sprintf("%q is not a delivery: give the ID column of creditdesk deliveries, or its webhook-id", s)}
	}
	return n, nil
}

// lastAnswer is what the last attempt got: "503 busy", "timeout", "-".
func lastAnswer(m billing.OutboxMessage) string {
	switch {
	case m.Attempts == 0:
		return "-"
	case m.LastError != "":
		return truncate(m.LastError, 40)
	}
	return truncate(strconv.Itoa(m.LastStatus)+" "+m.LastResponse, 40)
}

func nextTry(m billing.OutboxMessage) string {
	if m.State != billing.DeliveryPending || m.NextAttempt.IsZero() {
		return "-"
	}
	return m.NextAttempt.Local().Format("Jan 2 15:04:05")
}

func truncate(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}
