package cli

import (
	"fmt"
	"time"

	"creditdesk/billing"
)

// runAPIKey is `creditdesk apikey create|list|revoke`: the bearer keys the
// founder's app calls creditdesk's API with. create prints the key once,
// alone on the last line, so `creditdesk apikey create app | tail -1` is the
// key.
func runAPIKey(env *Env, args []string) error {
	fs := newFlags(env, "apikey")
	asJSON := fs.Bool("json", false, "list: print JSON")
	pos, err := env.parse(fs, args)
	if err != nil {
		return err
	}
	const use = "usage: creditdesk apikey create NAME | list [--json] | revoke NAME"
	if len(pos) == 0 {
		return &exitError{code: 2, msg: use}
	}
	verb, pos := pos[0], pos[1:]
	switch {
	case verb == "list" && len(pos) == 0:
	case (verb == "create" || verb == "revoke") && len(pos) == 1:
	default:
		return &exitError{code: 2, msg: use}
	}
	svc, done, err := env.data(verb != "list")
	if err != nil {
		return err
	}
	defer done()
	switch verb {
	case "create":
		plain, err := svc.CreateAPIKey(env.ctx(), pos[0])
		if err != nil {
			return err
		}
		fmt.Fprintf(env.Stdout, "Created API key %q. Copy it now: it is shown only this once.\n", pos[0])
		fmt.Fprintln(env.Stdout, "Your app sends it as: Authorization: Bearer KEY")
		fmt.Fprintln(env.Stdout, plain)
		return nil
	case "revoke":
		if err := svc.RevokeAPIKey(env.ctx(), pos[0]); err != nil {
			return err
		}
		fmt.Fprintf(env.Stdout, "Revoked API key %q: requests with it now get 401.\n", pos[0])
		return nil
	}
	keys, err := svc.ListAPIKeys()
	if err != nil {
		return err
	}
	if *asJSON {
		type keyJSON struct {
			Name      string    `json:"name"`
			Hint      string    `json:"hint"`
			CreatedAt time.Time `json:"created_at"`
			RevokedAt time.Time `json:"revoked_at,omitzero"`
		}
		out := make([]keyJSON, 0, len(keys))
		for _, k := range keys {
			out = append(out, keyJSON{k.Name, k.Hint, k.CreatedAt, k.RevokedAt})
		}
		return printJSON(env, out)
	}
	return printRows(env, keys, "No API keys yet: creditdesk apikey create NAME", "NAME\tKEY\tCREATED\tSTATUS", func(k billing.APIKey) string {
		status := "active"
		if k.Revoked() {
			status = "revoked " + k.RevokedAt.Local().Format(time.DateTime)
		}
		return fmt.Sprintf("%s\t%s\t%s\t%s", k.Name, k.Hint, k.CreatedAt.Local().Format(time.DateTime), status)
	})
}
