package billing

import (
	"fmt"
	"strings"
	"time"
)

// State is what the rules may read: the store as it stands before the
// event. Tx satisfies it; tests use a map.
type State interface {
	CustomerUser(customerID string) string
	User(id string) (User, bool, error)
	Purchase(id string) (Purchase, bool, error)
	Subscription(id string) (Subscription, bool, error)
	// Grants returns the user's open grants in spending order;
	// EntryByKey the ledger entry an idempotency key wrote.
	Grants(userID string) ([]Grant, error)
	EntryByKey(key string) (Entry, bool, error)
	// UserSubscriptions returns the subscriptions of one user.
	UserSubscriptions(userID string) ([]Subscription, error)
	// LineItems returns a checkout session's cached line items.
	LineItems(sessionID string) (LineItems, bool, error)
	// Assignment returns the purchase type an operator assigned to an
	// unresolved purchase.
	Assignment(purchaseID string) (string, bool, error)
	// PaymentIntentPurchase and ChargePurchase return the purchase a
	// payment intent or a charge paid for, or "".
	PaymentIntentPurchase(pi string) (string, error)
	ChargePurchase(charge string) (string, error)
}

// Rules are the billing rules with their configuration.
type Rules struct {
	Catalog Catalog
	// LineItems is true when a Stripe secret key is configured, so a
	// checkout whose type the event does not carry can be resolved from its
	// line items through the API.
	LineItems bool
}

// Decision is what one event does: plain data that the service writes in
// one transaction with the event's new state.
type Decision struct {
	State  EventState
	Reason string
	// User is who the event is about, for the live feed (which shows the
	// credits the written entries add up to).
	User string

	// Retry, with State waiting, asks for another attempt after backoff
	// (an API that could not be reached) rather than when something else
	// arrives.
	Retry bool
	// NeedLineItems asks the service to fetch the checkout session's line
	// items through the Stripe API and decide again.
	NeedLineItems string

	Users     []UserPatch
	Links     []Link
	Purchases []Purchase
	Subs      []Subscription
	// PaymentIntents and Charges index a purchase by what paid for it.
	PaymentIntents []PaymentRef
	Charges        []PaymentRef
	// Products and Prices keep the Stripe catalog cache fresh; a deleted
	// one is removed.
	Products        []CachedProduct
	Prices          []CachedPrice
	DeletedProducts []string
	DeletedPrices   []string
	// ExpirePlans lists subscriptions whose unexpired plan credits expire
	// now, before Postings are written: only that subscription's grants.
	ExpirePlans []PlanEnd
	Postings    []Posting
	Flags       []Flag
	Unflags     []FlagID
}

// PlanEnd is a subscription that ended: its user's plan grants paid by it
// expire.
type PlanEnd struct{ User, Subscription, Plan string }

// UserPatch sets the non-empty fields on a user, creating it if new.
type UserPatch struct {
	ID             string
	Email          string
	Name           string
	Tier           string
	CustomerID     string
	SubscriptionID string
	Unlinked       *bool
}

// Link ties a Stripe customer to a user.
type Link struct{ Customer, User string }

// PaymentRef ties a payment intent or a charge (ID) to the purchase it
// paid for.
type PaymentRef struct{ ID, Purchase string }

// Flag is an item in the Attention tab.
type Flag struct {
	Kind   FlagKind  `json:"kind"`
	ID     string    `json:"id"`
	User   string    `json:"user,omitempty"`
	Detail string    `json:"detail"`
	At     time.Time `json:"at"`
}

// FlagID names one attention flag.
type FlagID struct {
	Kind FlagKind
	ID   string
}

func ignored(reason string) Decision { return Decision{State: StateIgnored, Reason: reason} }

func waiting(reason string) Decision { return Decision{State: StateWaiting, Reason: reason} }

// Decide applies the billing rules to one event. It reads st and returns
// what to write; it never writes, and an error means the event is malformed
// for its type (the event is marked failed). An event of a type the rules
// do not use is ignored without its payload being decoded.
func (r Rules) Decide(ev Event, st State, now time.Time) (Decision, error) {
	if !Uses(ev.Type) {
		return notUsed, nil
	}
	obj, err := DataObject(ev.Payload)
	if err != nil {
		return Decision{}, err
	}
	return r.DecideObject(ev, obj, st, now)
}

// DecideObject is Decide with the event's data.object already read
// (DataObject): the processor reads payloads before it joins a commit, so
// the decoding is not done while the store's write lock is held.
func (r Rules) DecideObject(ev Event, obj Obj, st State, now time.Time) (Decision, error) {
	if rule, ok := eventRules[ev.Type]; ok {
		return rule(r, ev, obj, st, now)
	}
	if strings.HasPrefix(ev.Type, "coupon.") {
		return Decision{State: StateApplied, Reason: "coupon " + obj.Str("id") + " " + strings.TrimPrefix(ev.Type, "coupon.")}, nil
	}
	return notUsed, nil
}

// Uses reports whether the rules read events of this type (eventRules, and
// coupon.*). Every other type is ignored as "not used by creditdesk", and
// the processor does not decode its payload.
func Uses(eventType string) bool {
	_, ok := eventRules[eventType]
	return ok || strings.HasPrefix(eventType, "coupon.")
}

var notUsed = ignored("not used by creditdesk")

// rule decides one event type.
type rule func(r Rules, ev Event, obj Obj, st State, now time.Time) (Decision, error)

// eventRules is the rule for each event type creditdesk applies.
var eventRules = map[string]rule{
	"checkout.session.completed":               checkoutCompleted,
	"checkout.session.async_payment_succeeded": checkoutCompleted,
	"checkout.session.async_payment_failed": func(r Rules, ev Event, obj Obj, st State, _ time.Time) (Decision, error) {
		return r.checkoutClosed(ev, obj, st, "failed", "async payment failed")
	},
	"checkout.session.expired": func(r Rules, ev Event, obj Obj, st State, _ time.Time) (Decision, error) {
		return r.checkoutClosed(ev, obj, st, "abandoned", "checkout expired")
	},
	"invoice.paid":                             Rules.invoicePaid,
	"invoice.payment_succeeded":                Rules.invoicePaid,
	"invoice.payment_failed":                   withoutNow(Rules.invoiceFailed),
	"customer.subscription.created":            Rules.subscriptionChanged,
	"customer.subscription.updated":            Rules.subscriptionChanged,
	"customer.subscription.deleted":            Rules.subscriptionChanged,
	"customer.subscription.paused":             Rules.subscriptionChanged,
	"customer.subscription.resumed":            Rules.subscriptionChanged,
	"charge.refunded":                          Rules.chargeRefunded,
	"charge.dispute.created":                   withoutNow(Rules.disputeCreated),
	"charge.dispute.closed":                    Rules.disputeClosed,
	"customer.created":                         customerChanged,
	"customer.updated":                         customerChanged,
	"customer.deleted":                         customerDeleted,
	"payment_intent.succeeded":                 withoutNow(Rules.paymentCaptured),
	"payment_intent.amount_capturable_updated": withoutNow(Rules.paymentAuthorized),
	"payment_intent.canceled":                  withoutNow(Rules.paymentCanceled),
	"payment_intent.payment_failed":            paymentFailed,
	"product.created":                          cachedProduct,
	"product.updated":                          cachedProduct,
	"product.deleted":                          cachedProduct,
	"price.created":                            cachedPrice,
	"price.updated":                            cachedPrice,
	"price.deleted":                            cachedPrice,
}

// withoutNow is a rule that does not read the clock.
func withoutNow(f func(Rules, Event, Obj, State) (Decision, error)) rule {
	return func(r Rules, ev Event, obj Obj, st State, _ time.Time) (Decision, error) { return f(r, ev, obj, st) }
}

func checkoutCompleted(r Rules, ev Event, obj Obj, st State, _ time.Time) (Decision, error) {
	return r.checkoutCompleted(ev, obj, st)
}

func customerChanged(r Rules, _ Event, obj Obj, st State, _ time.Time) (Decision, error) {
	return r.customerChanged(obj, st)
}

func customerDeleted(_ Rules, _ Event, obj Obj, st State, _ time.Time) (Decision, error) {
	return Decision{State: StateApplied, Reason: "customer deleted in Stripe", User: st.CustomerUser(obj.Str("id"))}, nil
}

func paymentFailed(r Rules, _ Event, obj Obj, st State, _ time.Time) (Decision, error) {
	return Decision{State: StateApplied, Reason: "payment failed: " + paymentError(obj), User: r.userOf(obj, st)}, nil
}

func cachedProduct(_ Rules, ev Event, obj Obj, _ State, _ time.Time) (Decision, error) {
	return cacheProduct(ev, obj), nil
}

func cachedPrice(_ Rules, ev Event, obj Obj, _ State, _ time.Time) (Decision, error) {
	return cachePrice(ev, obj), nil
}

// userOf finds the user an object belongs to: metadata.user_id,
// metadata.userId, client_reference_id, then the stored customer link.
func (r Rules) userOf(obj Obj, st State) string {
	if u := obj.First([]string{"metadata", "user_id"}, []string{"metadata", "userId"}, []string{"client_reference_id"}); u != "" {
		return u
	}
	return st.CustomerUser(obj.Str("customer"))
}

func paymentError(obj Obj) string {
	if m := obj.Str("last_payment_error", "message"); m != "" {
		return m
	}
	if c := obj.Str("last_payment_error", "code"); c != "" {
		return c
	}
	return "no reason given"
}

// purchaseType resolves what a checkout bought, first match wins: session
// metadata.type; metadata.credits/tokens as an ad-hoc pack; the line items'
// product metadata.type; the product map (price, then product); a catalog
// price id.
type resolved struct {
	Type    string
	Kind    PurchaseKind
	Credits int64
	// Problem, when the type is not resolved, says what in the metadata or
	// line items was unusable (credits that are not a whole number from 1 to
	// MaxCredits).
	Problem string
}

func (r Rules) purchaseType(obj Obj, items *LineItems) (resolved, bool) {
	if t := obj.Str("metadata", "type"); t != "" {
		if n, ok := r.Catalog.Resolve(t); ok {
			return r.catalogType(n), true
		}
	}
	for _, k := range []string{"credits", "tokens"} {
		raw := obj.Get("metadata", k)
		if raw == nil || raw == "" {
			continue
		}
		n, ok := obj.Int("metadata", k)
		if !ok || n <= 0 || n > MaxCredits {
			// Never truncated ("9.5" is not 9) nor wrapped: the operator decides.
			return resolved{Problem: fmt.Sprintf("invalid credits: metadata.%s %q is not a whole number from 1 to %s",
				k, fmt.Sprint(raw), Credits(MaxCredits))}, false
		}
		t := "credits"
		if mt := obj.Str("metadata", "type"); mt != "" {
			t = mt
		}
		return resolved{Type: t, Kind: PurchasePack, Credits: n}, true
	}
	if items != nil {
		for _, it := range items.Items {
			if n, ok := r.Catalog.Resolve(it.ProductType); ok {
				return r.catalogType(n), true
			}
			if it.ProductCredits > 0 {
				n, ok := MulCredits(it.ProductCredits, max(it.Quantity, 1))
				if !ok || n > MaxCredits {
					return resolved{Problem: fmt.Sprintf("invalid credits: product %s credits %s × quantity %d is more than %s",
						it.ProductID, Credits(it.ProductCredits), it.Quantity, Credits(MaxCredits))}, false
				}
				return resolved{Type: "credits", Kind: PurchasePack, Credits: n}, true
			}
		}
		for _, it := range items.Items {
			if n, ok := r.Catalog.ByPrice(it.PriceID, it.ProductID); ok {
				return r.catalogType(n), true
			}
		}
	}
	return resolved{}, false
}

func (r Rules) catalogType(n string) resolved {
	o, _ := r.Catalog.Offer(n)
	return resolved{Type: n, Kind: o.Kind, Credits: o.Credits}
}

// LineItems is what the Stripe API says a checkout session sold, cached
// in the store (Tx.PutLineItems).
type LineItems struct {
	Items []LineItem `json:"items"`
}

// LineItem is one line of a checkout session.
type LineItem struct {
	PriceID        string `json:"price_id"`
	ProductID      string `json:"product_id"`
	ProductType    string `json:"product_type,omitempty"`
	ProductCredits int64  `json:"product_credits,omitempty"`
	Quantity       int64  `json:"quantity"`
}

func (r Rules) checkoutCompleted(ev Event, obj Obj, st State) (Decision, error) {
	sid := obj.Str("id")
	if sid == "" {
		return Decision{}, fmt.Errorf("checkout session without id")
	}
	mode := obj.Str("mode")
	if mode == "setup" {
		// A card saved for later: nothing was bought, nobody to link.
		return ignored("setup session: a payment method saved, nothing bought"), nil
	}
	status := obj.Str("payment_status")
	// no_payment_required in payment or subscription mode is a purchase
	// whose total a promotion code brought to zero: it grants credits.
	paid := status == "paid" || status == "no_payment_required" || ev.Type == "checkout.session.async_payment_succeeded"
	customer := obj.Str("customer")
	user := r.userOf(obj, st)
	d := Decision{State: StateApplied}

	prev, seen, err := st.Purchase(sid)
	if err != nil {
		return Decision{}, err
	}
	if seen && (prev.Status == "paid" || prev.Status == "refunded") {
		return ignored("purchase already applied"), nil
	}
	if seen && prev.Status == "failed" && !paid {
		return ignored("purchase already closed"), nil
	}

	var items *LineItems
	if cached, ok, err := st.LineItems(sid); err != nil {
		return Decision{}, err
	} else if ok {
		items = &cached
	}
	assigned, _, err := st.Assignment(sid)
	if err != nil {
		return Decision{}, err
	}
	rt, ok := r.purchaseType(obj, items)
	if n, found := r.Catalog.Resolve(assigned); found {
		rt, ok = r.catalogType(n), true
	}
	if !ok && mode == "subscription" {
		if n, found := r.Catalog.ByPrice(obj.Str("metadata", "price_id")); found {
			rt, ok = r.catalogType(n), true
		}
	}
	if !ok && items == nil && r.LineItems && rt.Problem == "" {
		return Decision{State: StateWaiting, Reason: "reading line items from Stripe", NeedLineItems: sid}, nil
	}

	unlinked := false
	if user == "" {
		user, unlinked = customer, true
		if user == "" {
			user = "unlinked:" + sid
		}
	}
	p := Purchase{
		ID: sid, UserID: user, CustomerID: customer, Mode: mode, AmountTotal: amount(obj, "amount_total"),
		Currency: obj.Str("currency"), PaymentIntent: obj.Str("payment_intent"), Subscription: obj.Str("subscription"),
		EventID: ev.ID, Type: rt.Type, Kind: rt.Kind, Credits: rt.Credits,
	}
	if seen {
		p.Note = prev.Note
		p.AmountRefunded, p.AmountDisputed = prev.AmountRefunded, prev.AmountDisputed
	}
	d.User = user
	patch := UserPatch{ID: user, Email: obj.Str("customer_details", "email"), Name: obj.Str("customer_details", "name"), CustomerID: customer}
	if unlinked {
		patch.Unlinked = &unlinked
		d.Flags = append(d.Flags, Flag{Kind: AttnUnlinked, ID: user, User: user,
			Detail: fmt.Sprintf("purchase %s has no user id; kept under %s", sid, user)})
	} else if customer != "" {
		d.Links = append(d.Links, Link{Customer: customer, User: user})
	}
	d.Users = append(d.Users, patch)
	if p.PaymentIntent != "" {
		d.PaymentIntents = append(d.PaymentIntents, PaymentRef{ID: p.PaymentIntent, Purchase: sid})
	}

	switch {
	case !ok:
		p.Status = "unresolved"
		d.Purchases = append(d.Purchases, p)
		detail, why := "purchase type unknown: set metadata.type, STRIPE_PRODUCT_MAP or a catalog price id, or assign a type here", ""
		if rt.Problem != "" {
			detail, why = rt.Problem+": fix the checkout's metadata, or assign a type here", ": "+rt.Problem
		}
		d.Flags = append(d.Flags, Flag{Kind: AttnUnresolved, ID: sid, User: user, Detail: detail})
		d.Reason = "purchase type unresolved" + why + " (see Attention)"
		return d, nil
	case manualCapture(obj) && rt.Kind == PurchasePack:
		// Authorized, not charged: credits come with the capture.
		p.Status = "authorized"
		if seen && !prev.CaptureBy.IsZero() {
			p.CaptureBy = prev.CaptureBy
		}
		d.Purchases = append(d.Purchases, p)
		d.Reason = "payment authorized: credits follow the capture"
		return d, nil
	case !paid:
		p.Status = "pending"
		d.Purchases = append(d.Purchases, p)
		d.Reason = "payment " + status + ": waiting for async payment"
		return d, nil
	}
	p.Status = "paid"
	d.Purchases = append(d.Purchases, p)
	d.Unflags = append(d.Unflags, FlagID{AttnUnresolved, sid})
	if mode == "subscription" || rt.Kind == PurchasePlan {
		// The period's credits come from its paid invoice, never from here.
		sub := p.Subscription
		d.Reason = "subscribed to " + rt.Type
		rec, known, err := loadSub(st, sub)
		if err != nil {
			return Decision{}, err
		}
		if !known {
			rec = Subscription{ID: sub}
		}
		if sub == "" {
			d.Users[0].Tier = rt.Type
			return d, nil
		}
		rec.CustomerID, rec.UserID = customer, user
		if rec.Plan == "" {
			rec.Plan = rt.Type
		}
		d.Subs = append(d.Subs, rec)
		// The tier is the best plan in force; a cancellation that arrived
		// first keeps this one out of it.
		subs, err := r.tierPatch(st, &d.Users[0], rec)
		if err != nil {
			return Decision{}, err
		}
		if !rec.Deleted {
			d.Postings = append(d.Postings, r.takeBackFree(user, ev.ID, subs)...)
		}
		return d, nil
	}
	d.Reason = fmt.Sprintf("%s pack: +%s credits", rt.Type, Credits(rt.Credits))
	d.Postings = append(d.Postings, Posting{
		UserID: user, Delta: rt.Credits, Key: "purchase:" + sid, Reason: d.Reason,
		Source: ev.ID, Kind: KindPack, PurchaseID: sid,
	})
	return d, nil
}

func amount(obj Obj, field string) int64 {
	n, _ := obj.Int(field)
	return n
}

func (r Rules) checkoutClosed(ev Event, obj Obj, st State, status, reason string) (Decision, error) {
	sid := obj.Str("id")
	if obj.Str("mode") == "setup" {
		return ignored("setup session: a payment method saved, nothing bought"), nil
	}
	prev, seen, err := st.Purchase(sid)
	if err != nil {
		return Decision{}, err
	}
	if seen && (prev.Status == "paid" || prev.Status == "refunded") {
		return ignored("purchase already paid"), nil
	}
	user := r.userOf(obj, st)
	p := Purchase{ID: sid, UserID: user, CustomerID: obj.Str("customer"), Mode: obj.Str("mode"), Status: status,
		AmountTotal: amount(obj, "amount_total"), Currency: obj.Str("currency"), EventID: ev.ID}
	if seen {
		p.Type, p.Kind, p.Credits = prev.Type, prev.Kind, prev.Credits
	} else if rt, ok := r.purchaseType(obj, nil); ok {
		p.Type, p.Kind, p.Credits = rt.Type, rt.Kind, rt.Credits
	}
	return Decision{State: StateApplied, Reason: reason, User: user, Purchases: []Purchase{p}}, nil
}

func (r Rules) customerChanged(obj Obj, st State) (Decision, error) {
	cus := obj.Str("id")
	user := obj.First([]string{"metadata", "user_id"}, []string{"metadata", "userId"})
	d := Decision{State: StateApplied, Reason: "customer " + cus}
	if user == "" {
		user = st.CustomerUser(cus)
	}
	if user == "" {
		d.Reason = "customer " + cus + " not linked to a user yet"
		return d, nil
	}
	d.User = user
	d.Links = []Link{{Customer: cus, User: user}}
	d.Users = []UserPatch{{ID: user, Email: obj.Str("email"), Name: obj.Str("name"), CustomerID: cus}}
	return d, nil
}

// cacheDecision starts the decision of caching obj, a product or price
// (kind): its id, and whether the event deletes it.
func cacheDecision(ev Event, obj Obj, kind string) (id string, d Decision, deleted bool) {
	id = obj.Str("id")
	return id, Decision{State: StateApplied, Reason: kind + " " + id + " cached"}, ev.Type == kind+".deleted"
}

func cacheProduct(ev Event, obj Obj) Decision {
	id, d, deleted := cacheDecision(ev, obj, "product")
	if deleted {
		d.DeletedProducts = []string{id}
		return d
	}
	credits, _ := obj.Int("metadata", "credits")
	md := map[string]string{}
	if m, ok := obj.Get("metadata").(map[string]any); ok {
		for k, v := range m {
			if s, ok := v.(string); ok {
				md[k] = s
			}
		}
	}
	d.Products = []CachedProduct{{ID: id, Name: obj.Str("name"), Type: obj.Str("metadata", "type"),
		Credits: credits, Active: obj.Str("active") == "true", Updated: ev.Created, Features: FeaturesFromMetadata(md)}}
	return d
}

func cachePrice(ev Event, obj Obj) Decision {
	id, d, deleted := cacheDecision(ev, obj, "price")
	if deleted {
		d.DeletedPrices = []string{id}
		return d
	}
	unit, _ := obj.Int("unit_amount")
	d.Prices = []CachedPrice{{ID: id, Product: obj.Str("product"), UnitAmount: unit,
		Currency: obj.Str("currency"), Recurring: !obj.Child("recurring").IsZero(), Active: obj.Str("active") == "true", Updated: ev.Created}}
	return d
}
