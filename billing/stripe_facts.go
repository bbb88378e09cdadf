package billing

import (
	"fmt"
	"strconv"
	"time"
)

// What the Stripe API told creditdesk, written by billing's commands: the
// Stripe client (internal/stripeapi) returns facts — a customer was
// created, the catalog lists these prices — and never writes the store.

// CachedProduct is a Stripe product as the store keeps it.
type CachedProduct struct {
	ID      string `json:"id"`
	Name    string `json:"name"`
	Type    string `json:"type,omitempty"`
	Credits int64  `json:"credits,omitempty"`
	Active  bool   `json:"active"`
	Updated int64  `json:"updated"`
	// Features are the product's features.* metadata, without the prefix.
	Features map[string]string `json:"features,omitempty"`
}

// CachedPrice is a Stripe price as the store keeps it.
type CachedPrice struct {
	ID         string `json:"id"`
	Product    string `json:"product"`
	UnitAmount int64  `json:"unit_amount"`
	Currency   string `json:"currency"`
	Recurring  bool   `json:"recurring"`
	Active     bool   `json:"active"`
	Updated    int64  `json:"updated"`
}

// CachedCoupon is a Stripe coupon as the store keeps it.
type CachedCoupon struct {
	ID               string  `json:"id"`
	Name             string  `json:"name,omitempty"`
	PercentOff       float64 `json:"percent_off,omitempty"`
	AmountOff        int64   `json:"amount_off,omitempty"`
	Currency         string  `json:"currency,omitempty"`
	Duration         string  `json:"duration"`
	DurationInMonths int64   `json:"duration_in_months,omitempty"`
	Valid            bool    `json:"valid"`
	Updated          int64   `json:"updated"`
}

// Off says what the coupon takes off: "20% off", "5.00 USD off".
func (c CachedCoupon) Off() string {
	if c.PercentOff > 0 {
		return strconv.FormatFloat(c.PercentOff, 'f', -1, 64) + "% off"
	}
	return FormatAmount(c.AmountOff, c.Currency) + " off"
}

// CatalogListing is the Stripe catalog: what a listing through the API
// found, or what the store keeps of it.
type CatalogListing struct {
	Products []CachedProduct
	Prices   []CachedPrice
	Coupons  []CachedCoupon
	// At is when it was listed (zero: never).
	At time.Time
}

// CatalogListed stores what a listing of the Stripe catalog found, each
// product, price and coupon unless a webhook event has cached a newer
// version of it, and when it was listed.
func (s *Service) CatalogListed(l CatalogListing) error {
	err := s.store.Update(s.now(), func(tx Tx) error {
		if err := putUnlessNewer(l.Products, tx.Product, tx.PutProduct); err != nil {
			return err
		}
		if err := putUnlessNewer(l.Prices, tx.Price, tx.PutPrice); err != nil {
			return err
		}
		if err := putUnlessNewer(l.Coupons, tx.Coupon, tx.PutCoupon); err != nil {
			return err
		}
		return tx.SetCatalogSynced(l.At)
	})
	s.noteWrite(err)
	return err
}

// cached is a cached Stripe object: its id and when Stripe last changed it.
type cached interface {
	version() (id string, updated int64)
}

func (p CachedProduct) version() (string, int64) { return p.ID, p.Updated }
func (p CachedPrice) version() (string, int64)   { return p.ID, p.Updated }
func (c CachedCoupon) version() (string, int64)  { return c.ID, c.Updated }

// putUnlessNewer stores each listed object unless the store holds a newer
// version of it (one a webhook event cached while the listing ran).
func putUnlessNewer[T cached](listed []T, get func(id string) (T, bool, error), put func(T) error) error {
	for _, x := range listed {
		id, updated := x.version()
		prev, ok, err := get(id)
		if err != nil {
			return err
		}
		if _, was := prev.version(); ok && was > updated {
			continue
		}
		if err := put(x); err != nil {
			return err
		}
	}
	return nil
}

// CachedCatalog is the Stripe catalog as the store keeps it, each list in
// id order.
func (s *Service) CachedCatalog() (CatalogListing, error) {
	var l CatalogListing
	err := s.store.View(s.now(), func(tx Tx) error {
		var err error
		if l.Products, err = tx.Products(); err != nil {
			return err
		}
		if l.Prices, err = tx.Prices(); err != nil {
			return err
		}
		if l.Coupons, err = tx.Coupons(); err != nil {
			return err
		}
		l.At, err = tx.CatalogSynced()
		return err
	})
	return l, err
}

// CachedPrice returns the cached Stripe price id.
func (s *Service) CachedPrice(id string) (CachedPrice, bool, error) {
	var p CachedPrice
	var ok bool
	err := s.store.View(s.now(), func(tx Tx) error {
		var err error
		p, ok, err = tx.Price(id)
		return err
	})
	return p, ok, err
}

// User returns the stored user; ok is false when there is none.
func (s *Service) User(id string) (u User, ok bool, err error) {
	err = s.store.View(s.now(), func(tx Tx) error {
		u, ok, err = tx.User(id)
		return err
	})
	return u, ok, err
}

// CustomerUser returns the user linked to a Stripe customer, or "".
func (s *Service) CustomerUser(customerID string) string {
	var id string
	_ = s.store.View(s.now(), func(tx Tx) error {
		id = tx.CustomerUser(customerID)
		return nil
	})
	return id
}

// CustomerCreated records that Stripe created customerID for userID: the
// user (created if new) keeps it unless it already has one, and the
// customer is linked to the user.
func (s *Service) CustomerCreated(userID, customerID string) error {
	err := s.store.Update(s.now(), func(tx Tx) error {
		u, err := EnsureUser(tx, userID)
		if err != nil {
			return err
		}
		if u.CustomerID == "" {
			u.CustomerID = customerID
			if err := tx.PutUser(u); err != nil {
				return err
			}
		}
		return tx.LinkCustomer(customerID, userID)
	})
	s.noteWrite(err)
	if err != nil {
		return fmt.Errorf("storing customer %s for %s: %w", customerID, userID, err)
	}
	return nil
}
