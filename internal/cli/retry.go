package cli

import (
	"fmt"
	"strings"

	"creditdesk/billing"
	"creditdesk/webhook"
)

// runRetry queues events again now: one by id, every failed one, or
// everything the Attention tab offers to retry (waiting, failed, set
// aside). It works while creditdesk runs, through its socket, so a
// headless serve needs no console for it.
func runRetry(env *Env, args []string) error {
	fs := newFlags(env, "retry")
	failed := fs.Bool("failed", false, "retry every failed event")
	all := fs.Bool("all", false, "retry everything Attention offers to retry: waiting, failed and set-aside events")
	pos, err := env.parse(fs, args)
	if err != nil {
		return err
	}
	const use = "usage: creditdesk retry EVENT | --failed | --all"
	if (len(pos) == 1) == (*failed || *all) || len(pos) > 1 || *failed && *all {
		return &exitError{code: 2, msg: use}
	}
	svc, done, err := env.data(true)
	if err != nil {
		return err
	}
	defer done()
	ids := pos
	if len(pos) == 0 {
		items, err := svc.Attention()
		if err != nil {
			return err
		}
		for _, it := range items {
			if it.Action == "retry" && (*all || it.Kind == billing.AttnFailed) {
				ids = append(ids, it.ID)
			}
		}
	}
	n := 0
	for _, id := range ids {
		if err := svc.Retry(env.ctx(), id); err != nil {
			if n > 0 {
				return fmt.Errorf("retry %s: %w (%d queued before it)", id, err, n)
			}
			return fmt.Errorf("retry %s: %w", id, err)
		}
		n++
	}
	when := "creditdesk applies them now"
	if _, running := svc.(*webhook.AdminClient); !running {
		when = "nothing runs on this database now: they are applied when creditdesk next starts"
	}
	switch {
	case n == 0:
		fmt.Fprintln(env.Stdout, "nothing to retry")
	case n == 1:
		fmt.Fprintf(env.Stdout, "queued %s again; %s (creditdesk attention shows what still waits)\n", ids[0], strings.Replace(when, "them", "it", 1))
	default:
		fmt.Fprintf(env.Stdout, "queued %d events again; %s\n", n, when)
	}
	return nil
}
