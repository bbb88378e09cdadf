package billing

import (
	"fmt"
	"time"
)

// CaptureWindow is how long Stripe keeps a card authorization open.
const CaptureWindow = 7 * 24 * time.Hour

// manualCapture reports whether a checkout authorized its payment without
// capturing it (creditdesk's own checkouts say so in metadata.capture).
func manualCapture(session Obj) bool {
	return session.Str("metadata", "capture") == "manual" ||
		session.Str("payment_intent", "capture_method") == "manual"
}

// purchaseOfIntent finds the purchase a payment intent paid for.
func purchaseOfIntent(st State, pi string) (Purchase, bool, error) {
	id, err := st.PaymentIntentPurchase(pi)
	if err != nil || id == "" {
		return Purchase{}, false, err
	}
	return st.Purchase(id)
}

// paymentCaptured applies a purchase whose payment was authorized or
// pending when the checkout completed. Credits are granted here, at
// capture, never at authorization.
func (r Rules) paymentCaptured(ev Event, obj Obj, st State) (Decision, error) {
	pi := obj.Str("id")
	p, ok, err := purchaseOfIntent(st, pi)
	if err != nil {
		return Decision{}, err
	}
	if !ok {
		if obj.Str("capture_method") == "manual" {
			return waiting("waiting for the checkout that authorized " + pi), nil
		}
		return Decision{State: StateApplied, Reason: "payment succeeded", User: r.userOf(obj, st)}, nil
	}
	d := Decision{State: StateApplied, User: p.UserID}
	switch {
	case p.Status == "authorized" || p.Status == "pending":
	case p.Status == "unresolved":
		d.Reason = "payment captured; purchase type still unresolved (see Attention)"
		return d, nil
	default:
		d.Reason = "payment succeeded (purchase " + p.Status + ")"
		return d, nil
	}
	if p.Kind != PurchasePack || p.Credits <= 0 {
		p.Status = "paid"
		d.Purchases = []Purchase{p}
		d.Reason = "payment captured"
		return d, nil
	}
	p.Status, p.CaptureBy = "paid", time.Time{}
	d.Purchases = []Purchase{p}
	d.Reason = fmt.Sprintf("%s pack captured: +%s credits", p.Type, Credits(p.Credits))
	d.Postings = []Posting{{UserID: p.UserID, Delta: p.Credits, Key: "purchase:" + p.ID, Reason: d.Reason,
		Source: ev.ID, Kind: KindPack, PurchaseID: p.ID}}
	return d, nil
}

func (r Rules) paymentAuthorized(ev Event, obj Obj, st State) (Decision, error) {
	pi := obj.Str("id")
	p, ok, err := purchaseOfIntent(st, pi)
	if err != nil {
		return Decision{}, err
	}
	by := obj.Time("created").Add(CaptureWindow)
	if !ok {
		return waiting("waiting for the checkout that authorized " + pi), nil
	}
	d := Decision{State: StateApplied, User: p.UserID, Reason: "authorized; capture by " + by.Format(time.DateOnly)}
	if p.Status == "authorized" || p.Status == "pending" {
		p.Status, p.CaptureBy = "authorized", by
		d.Purchases = []Purchase{p}
	}
	return d, nil
}

func (r Rules) paymentCanceled(ev Event, obj Obj, st State) (Decision, error) {
	p, ok, err := purchaseOfIntent(st, obj.Str("id"))
	if err != nil || !ok {
		return Decision{State: StateApplied, Reason: "payment canceled"}, err
	}
	d := Decision{State: StateApplied, User: p.UserID, Reason: "authorization canceled: no credits"}
	if p.Status == "authorized" || p.Status == "pending" {
		p.Status, p.CaptureBy = "canceled", time.Time{}
		d.Purchases = []Purchase{p}
	}
	return d, nil
}
