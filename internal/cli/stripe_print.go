package cli

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"creditdesk/billing"
	"creditdesk/internal/stripeapi"
)

// Printing for the Stripe commands: tables of captures and of the catalog.

// printCaptures is the table of `creditdesk captures`; a deadline under a
// day away says how many hours are left.
func printCaptures(w io.Writer, auths []stripeapi.Authorization, now time.Time) {
	tw := tabwriter.NewWriter(w, 2, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "PAYMENT INTENT\tUSER\tTYPE\tAMOUNT\tCAPTURE BY\tSTATUS")
	for _, a := range auths {
		by := a.Deadline.Local().Format("2006-01-02 15:04")
		if left := a.Deadline.Sub(now); left <= 0 {
			by += " (lapsed)"
		} else if left < 24*time.Hour {
			by += fmt.Sprintf(" (%dh left)", int(left.Hours()))
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", a.PaymentIntent, orDash(a.UserID), orDash(a.Type),
			billing.FormatAmount(a.Amount, a.Currency), by, a.Status)
	}
	tw.Flush()
}

// orDash is s for a table cell (control characters and escape sequences
// stripped: names come from Stripe), "-" when empty.
func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return shown(s)
}

// printCatalog is the table of `creditdesk catalog`: the catalog's types,
// the Stripe prices cached, and the coupons.
func printCatalog(w io.Writer, v stripeapi.CatalogView) {
	tw := tabwriter.NewWriter(w, 2, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "TYPE\tKIND\tCREDITS\tSOLD WITH\tPAYMENT LINK")
	for _, t := range v.Types {
		with := strings.Join(t.PriceIDs, ", ")
		if with == "" {
			with = t.Amount + " (ad-hoc price)"
			if t.Amount == "" {
				with = "no price: add price_ids or amount and currency"
			}
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\n", t.Name, t.Kind, t.Credits, with, orDash(t.PaymentLink))
	}
	if len(v.Types) == 0 {
		fmt.Fprintln(tw, "(no plans or packs in the catalog)\t\t\t\t")
	}
	tw.Flush()
	fmt.Fprintln(w)
	tw = tabwriter.NewWriter(w, 2, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "PRICE\tPRODUCT\tAMOUNT\tBILLING\tACTIVE\tCATALOG TYPE")
	for _, p := range v.Prices {
		billingKind := "one-time"
		if p.Recurring {
			billingKind = "recurring"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%v\t%s\n", p.PriceID, orDash(p.Product), p.Amount, billingKind, p.Active, orDash(p.Type))
	}
	tw.Flush()
	if len(v.Prices) == 0 {
		fmt.Fprintln(w, "(no Stripe prices cached: run `creditdesk catalog --sync`)")
	}
	if len(v.Coupons) > 0 {
		fmt.Fprintln(w)
		tw = tabwriter.NewWriter(w, 2, 8, 2, ' ', 0)
		fmt.Fprintln(tw, "COUPON\tNAME\tOFF\tDURATION\tVALID")
		for _, c := range v.Coupons {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%v\n", c.ID, orDash(c.Name), c.Off(), c.Duration, c.Valid)
		}
		tw.Flush()
	}
	if !v.SyncedAt.IsZero() {
		fmt.Fprintf(w, "\nlast synced %s\n", v.SyncedAt.Local().Format("2006-01-02 15:04"))
	}
}
