package cli

import (
	"fmt"

	"creditdesk/billing"
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
			return fmt.Errorf("retry %s: %w (%d queued before it)", id, err, n)
		}
		n++
	}
	switch {
	case n == 0:
		fmt.Fprintln(env.Stdout, "nothing to retry")
	case len(pos) == 1:
		fmt.Fprintf(env.Stdout, "queued %s again; creditdesk applies it now (creditdesk events --state failed shows what did not apply)\n", ids[0])
	default:
		fmt.Fprintf(env.Stdout, "queued %d events again; creditdesk applies them now\n", n)
	}
	return nil
}
