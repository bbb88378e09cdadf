package cli

import (
	"fmt"
	"time"

	"creditdesk/billing"
	"creditdesk/webhook"
)

// reconcileMargin is how much before --since is listed from Stripe too, so
// that a refund near the start finds the payment it refunds.
const reconcileMargin = 7 * 24 * time.Hour

// reconcileJSON is `creditdesk reconcile --json`.
type reconcileJSON struct {
	Since       time.Time            `json:"since"`
	Until       time.Time            `json:"until"`
	Listed      map[string]int       `json:"listed"`
	Differences []billing.Difference `json:"differences"`
}

func runReconcile(env *Env, args []string) error {
	fs := newFlags(env, "reconcile")
	asJSON := fs.Bool("json", false, "print JSON")
	since := fs.String("since", "30d", "from: a number of days ending today (30d), a duration back (72h) or a date (2026-11-01)")
	pos, err := env.parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usageErr("usage: creditdesk reconcile [--since 30d] [--json]")
	}
	from, until, err := reportPeriod(*since, "", time.Now().UTC())
	if err != nil {
		return usageErr(err.Error())
	}
	client, err := catalogFreeClient(env)
	if err != nil {
		return err
	}
	ctx, cancel := apiContext()
	defer cancel()
	from = from.UTC().Truncate(24 * time.Hour)
	listing, err := client.StripePayments(ctx, from, until, reconcileMargin)
	if err != nil {
		return err
	}
	diffs, err := fetch(env, func(svc webhook.AdminService) ([]billing.Difference, error) { return svc.Reconcile(listing) })
	if err != nil {
		return err
	}
	listed := map[string]int{}
	for _, r := range listing.Records {
		if !r.Created.Before(from) {
			listed[string(r.Kind)]++
		}
	}
	if *asJSON {
		if err := printJSON(env, reconcileJSON{Since: from, Until: until, Listed: listed, Differences: diffs}); err != nil {
			return err
		}
	} else {
		fmt.Fprintf(env.Stderr, "Stripe since %s: %d checkouts, %d invoices, %d refunds, %d lost disputes\n", from.Format(time.DateOnly),
			listed[string(billing.StripeCheckout)], listed[string(billing.StripeInvoice)], listed[string(billing.StripeRefund)], listed[string(billing.StripeDispute)])
		for _, d := range diffs {
			fmt.Fprintln(env.Stdout, shown(d.String()))
		}
	}
	if len(diffs) > 0 {
		return &exitError{code: 1, msg: fmt.Sprintf("%d %s between Stripe and creditdesk", len(diffs), plural(len(diffs), "difference", "differences"))}
	}
	if !*asJSON {
		fmt.Fprintln(env.Stdout, "no differences: every payment has its credits once, every refund and lost dispute its clawback")
	}
	return nil
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}
