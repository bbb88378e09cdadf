package billing

import (
	"fmt"
	"sort"
	"strings"
	"time"
)

// Reconciliation: what Stripe says was paid and given back, against the
// purchases and the ledger. The Stripe side is listed by internal/stripeapi
// (StripeListing, plain facts); Reconcile compares, reading the store in
// one transaction, and says each difference with its fix.

// StripeKind is what a listed Stripe object is.
type StripeKind string

const (
	// StripeCheckout is a completed Checkout Session.
	StripeCheckout StripeKind = "checkout"
	// StripeInvoice is a paid invoice of a subscription.
	StripeInvoice StripeKind = "invoice"
	// StripeRefund is a refund that succeeded.
	StripeRefund StripeKind = "refund"
	// StripeDispute is a dispute the founder lost.
	StripeDispute StripeKind = "dispute"
)

// StripeRecord is one payment, refund or lost dispute as Stripe lists it.
type StripeRecord struct {
	Kind     StripeKind `json:"kind"`
	ID       string     `json:"id"`
	Created  time.Time  `json:"created"`
	Amount   int64      `json:"amount"`
	Currency string     `json:"currency"`
	// Mode is a checkout session's (payment, subscription).
	Mode string `json:"mode,omitempty"`
	// PaymentStatus is a checkout session's (paid, unpaid,
	// no_payment_required).
	PaymentStatus string `json:"payment_status,omitempty"`
	PaymentIntent string `json:"payment_intent,omitempty"`
	Charge        string `json:"charge,omitempty"`
	Subscription  string `json:"subscription,omitempty"`
	// BillingReason is an invoice's (subscription_create, subscription_cycle…).
	BillingReason string `json:"billing_reason,omitempty"`
}

// StripeListing is everything Stripe listed for a period.
type StripeListing struct {
	Since   time.Time      `json:"since"`
	Until   time.Time      `json:"until"`
	Records []StripeRecord `json:"records"`
}

// Difference is one way creditdesk and Stripe disagree, with its fix.
type Difference struct {
	// What is missing, unresolved, unpaid, no_credits, amount, refund,
	// clawback, twice, dispute or unknown_payment.
	What string `json:"what"`
	// Stripe is the Stripe object's id; Purchase the purchase's.
	Stripe   string `json:"stripe,omitempty"`
	Purchase string `json:"purchase,omitempty"`
	User     string `json:"user,omitempty"`
	Detail   string `json:"detail"`
	Fix      string `json:"fix"`
}

// String is the difference on one line: what, where, why, then the fix.
func (d Difference) String() string {
	id := d.Stripe
	if id == "" {
		id = d.Purchase
	}
	return fmt.Sprintf("%-10s %s: %s → %s", d.What, id, d.Detail, d.Fix)
}

// resyncFix is the fix for something Stripe has that never arrived.
func resyncFix(since time.Time, now time.Time) string {
	h := int(now.Sub(since).Hours()) + 1
	return fmt.Sprintf("its event never arrived: creditdesk resync --since %dh", min(max(h, 1), 720))
}

// Reconcile compares the listing with the purchases and the ledger in tx:
//   - every completed checkout and paid subscription invoice has its
//     purchase, its credits exactly once, and the same amount;
//   - every purchase that took money in the period is a payment Stripe
//     lists;
//   - every refund and lost dispute is applied: the purchase records the
//     money, and its credits were clawed back once (a manual revoke that
//     repeats a refund's clawback is a difference).
//
// Stripe objects created before l.Since are read only to match refunds to
// what they refund.
func Reconcile(tx Tx, l StripeListing) ([]Difference, error) {
	var out []Difference
	add := func(d Difference) { out = append(out, d) }
	now := tx.Now()
	inPeriod := func(t time.Time) bool { return !t.Before(l.Since) && !t.After(l.Until) }
	listed := map[string]bool{}
	refunds := map[string][]StripeRecord{}
	var refundOrder []string
	for _, r := range l.Records {
		switch r.Kind {
		case StripeCheckout, StripeInvoice:
			listed[r.ID] = true
		}
	}
	for _, r := range l.Records {
		switch r.Kind {
		case StripeCheckout, StripeInvoice:
			if !inPeriod(r.Created) {
				continue
			}
			if r.Kind == StripeInvoice && (r.Subscription == "" || r.BillingReason != "subscription_create" && r.BillingReason != "subscription_cycle" && r.BillingReason != "") {
				continue // the rules grant nothing for it
			}
			if r.Kind == StripeCheckout && r.PaymentStatus == "unpaid" {
				continue // an async payment still on its way
			}
			if err := checkPayment(tx, r, l.Since, now, add); err != nil {
				return nil, err
			}
		case StripeRefund, StripeDispute:
			p, ok, err := purchaseOfStripe(tx, r)
			if err != nil {
				return nil, err
			}
			if !ok {
				if inPeriod(r.Created) {
					add(Difference{What: "unknown_payment", Stripe: r.ID, Detail: fmt.Sprintf("%s of %s (%s) is for a payment creditdesk does not know",
						r.Kind, r.Charge, FormatAmount(r.Amount, r.Currency)), Fix: resyncFix(l.Since, now)})
				}
				continue
			}
			if r.Kind == StripeDispute {
				if inPeriod(r.Created) && p.AmountDisputed < r.Amount {
					add(Difference{What: "dispute", Stripe: r.ID, Purchase: p.ID, User: p.UserID,
						Detail: fmt.Sprintf("lost in Stripe (%s), not applied to %s", FormatAmount(r.Amount, r.Currency), p.ID),
						Fix:    resyncFix(l.Since, now)})
				}
				continue
			}
			if _, seen := refunds[p.ID]; !seen {
				refundOrder = append(refundOrder, p.ID)
			}
			refunds[p.ID] = append(refunds[p.ID], r)
		}
	}
	for _, id := range refundOrder {
		if err := checkRefunds(tx, id, refunds[id], l, now, add); err != nil {
			return nil, err
		}
	}
	// The other way: what took money here is a payment Stripe lists.
	err := tx.ScanPurchases(func(p Purchase) bool {
		if TakesMoney(p) && inPeriod(p.CreatedAt) && !listed[p.ID] && p.AmountTotal > 0 {
			add(Difference{What: "unpaid", Purchase: p.ID, User: p.UserID,
				Detail: fmt.Sprintf("%s took %s and granted %s credits, and Stripe lists no completed payment for it", p.ID,
					FormatAmount(p.AmountTotal, p.Currency), Credits(p.Credits)),
				Fix: fmt.Sprintf("check %s in the Stripe Dashboard; if it was never paid, creditdesk revoke %s %d --reason \"not paid\"", p.ID, p.UserID, p.Credits)})
		}
		return true
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// checkPayment: a completed checkout or paid invoice has its purchase, its
// credits and its amount.
func checkPayment(tx Tx, r StripeRecord, since, now time.Time, add func(Difference)) error {
	p, ok, err := tx.Purchase(r.ID)
	if err != nil {
		return err
	}
	money := FormatAmount(r.Amount, r.Currency)
	if !ok {
		what := "checkout completed"
		if r.Kind == StripeInvoice {
			what = "invoice paid"
		}
		add(Difference{What: "missing", Stripe: r.ID, Detail: fmt.Sprintf("%s in Stripe (%s), no purchase here", what, money), Fix: resyncFix(since, now)})
		return nil
	}
	switch p.Status {
	case "unresolved":
		add(Difference{What: "unresolved", Stripe: r.ID, Purchase: p.ID, User: p.UserID,
			Detail: fmt.Sprintf("paid in Stripe (%s), its purchase type is unknown, no credits granted", money),
			Fix:    "give it a type in the Attention tab (a), or set metadata.type / STRIPE_PRODUCT_MAP"})
		return nil
	case "pending", "authorized", "failed", "abandoned", "canceled":
		add(Difference{What: "unpaid", Stripe: r.ID, Purchase: p.ID, User: p.UserID,
			Detail: fmt.Sprintf("paid in Stripe (%s), %s here (event %s)", money, p.Status, p.EventID),
			Fix:    "creditdesk resync: the event that confirms the payment never arrived"})
		return nil
	}
	if p.AmountTotal != r.Amount || !strings.EqualFold(p.Currency, r.Currency) {
		add(Difference{What: "amount", Stripe: r.ID, Purchase: p.ID, User: p.UserID,
			Detail: fmt.Sprintf("Stripe says %s, creditdesk %s (event %s)", money, FormatAmount(p.AmountTotal, p.Currency), p.EventID),
			Fix:    "compare event " + p.EventID + " with " + r.ID + " in the Stripe Dashboard"})
	}
	if r.Kind == StripeCheckout && (r.Mode == "subscription" || p.Kind == PurchasePlan) {
		return nil // a plan's credits come with its invoice, checked on its own
	}
	key := "purchase:" + p.ID
	if r.Kind == StripeInvoice {
		key = "invoice:" + p.ID
	}
	e, ok, err := tx.EntryByKey(key)
	if err != nil {
		return err
	}
	if !ok {
		add(Difference{What: "no_credits", Stripe: r.ID, Purchase: p.ID, User: p.UserID,
			Detail: fmt.Sprintf("paid (%s), no credits granted for it (event %s)", money, p.EventID),
			Fix:    "creditdesk retry " + p.EventID})
	} else if p.Credits != 0 && e.Delta != p.Credits {
		add(Difference{What: "amount", Stripe: r.ID, Purchase: p.ID, User: p.UserID,
			Detail: fmt.Sprintf("granted %s credits (entry %d), the purchase is for %s", Credits(e.Delta), e.ID, Credits(p.Credits)),
			Fix:    "see entry " + fmt.Sprint(e.ID) + " and event " + p.EventID})
	}
	return nil
}

// purchaseOfStripe finds the purchase a refund or dispute is about.
func purchaseOfStripe(tx Tx, r StripeRecord) (Purchase, bool, error) {
	for _, find := range []func() (string, error){
		func() (string, error) { return tx.PaymentIntentPurchase(r.PaymentIntent) },
		func() (string, error) { return tx.ChargePurchase(r.Charge) },
	} {
		id, err := find()
		if err != nil {
			return Purchase{}, false, err
		}
		if id != "" {
			return tx.Purchase(id)
		}
	}
	return Purchase{}, false, nil
}

// checkRefunds: the purchase records the money its refunds gave back, its
// credits were clawed back, and no manual revoke took them again.
func checkRefunds(tx Tx, id string, rs []StripeRecord, l StripeListing, now time.Time, add func(Difference)) error {
	p, _, err := tx.Purchase(id)
	if err != nil {
		return err
	}
	sort.Slice(rs, func(i, j int) bool { return rs[i].Created.Before(rs[j].Created) })
	var total int64
	var ids []string
	for _, r := range rs {
		total += r.Amount
		ids = append(ids, r.ID)
	}
	refs := strings.Join(ids, ", ")
	last := rs[len(rs)-1]
	switch {
	case p.AmountRefunded < total:
		add(Difference{What: "refund", Stripe: last.ID, Purchase: p.ID, User: p.UserID,
			Detail: fmt.Sprintf("Stripe refunded %s of %s (%s), creditdesk has %s", FormatAmount(total, last.Currency), p.ID, refs,
				FormatAmount(p.AmountRefunded, p.Currency)),
			Fix: resyncFix(l.Since, now)})
		return nil
	case p.AmountRefunded > total && !p.CreatedAt.Before(l.Since):
		add(Difference{What: "refund", Stripe: last.ID, Purchase: p.ID, User: p.UserID,
			Detail: fmt.Sprintf("creditdesk has %s refunded of %s, Stripe %s (%s)", FormatAmount(p.AmountRefunded, p.Currency), p.ID,
				FormatAmount(total, last.Currency), refs),
			Fix: "compare the charge.refunded events of " + p.ID + " with Stripe's refunds"})
	}
	if p.AmountTotal <= 0 || p.Credits <= 0 {
		return nil
	}
	want := min(p.Credits, int64(float64(p.Credits)*float64(min(p.AmountRefunded, p.AmountTotal))/float64(p.AmountTotal)+0.5))
	if p.RefundedCredits < want {
		add(Difference{What: "clawback", Stripe: last.ID, Purchase: p.ID, User: p.UserID,
			Detail: fmt.Sprintf("refunded %s, %s of its %s credits clawed back, want %s", FormatAmount(p.AmountRefunded, p.Currency),
				Credits(p.RefundedCredits), Credits(p.Credits), Credits(want)),
			Fix: "retry the charge.refunded event of " + p.ID + " (creditdesk retry EVENT)"})
	}
	// A revoke by hand that names the refund, the charge or the purchase
	// takes the same credits a second time.
	es, err := tx.Entries(p.UserID, 0, 1000)
	if err != nil {
		return err
	}
	names := append([]string{p.ID, p.PaymentIntent}, ids...)
	for _, r := range rs {
		names = append(names, r.Charge)
	}
	for _, e := range es {
		if e.Kind != KindManual || e.Delta >= 0 {
			continue
		}
		for _, n := range names {
			if n != "" && strings.Contains(e.Reason, n) {
				who := ""
				if e.Operator != "" {
					who = " by " + e.Operator
				}
				add(Difference{What: "twice", Stripe: last.ID, Purchase: p.ID, User: p.UserID,
					Detail: fmt.Sprintf("the refund's credits were clawed back by the rules (%s), and again by hand%s: entry %d, %s credits (%q)",
						Credits(p.ClawedOwn+p.ClawedSpent), who, e.ID, Credits(-e.Delta), e.Reason),
					Fix: fmt.Sprintf("creditdesk grant %s %d --reason \"undo entry %d: refund %s clawed back twice\"", p.UserID, -e.Delta, e.ID, p.ID)})
				break
			}
		}
	}
	return nil
}

// Reconcile compares what Stripe listed with the store, in one read
// transaction (billing.Reconcile).
func (s *Service) Reconcile(l StripeListing) ([]Difference, error) {
	out := []Difference{}
	err := s.store.View(s.now(), func(tx Tx) error {
		d, err := Reconcile(tx, l)
		if d != nil {
			out = d
		}
		return err
	})
	return out, err
}
