package billing

import (
	"encoding/json"
	"fmt"
	"strconv"
	"time"
)

// What the Stripe API told creditdesk, written by billing's commands: the
// Stripe client (internal/stripeapi) returns facts — a customer was
// created, the catalog lists these prices — and never writes the store.

// Stripe catalog cache keys: one place for each prefix.

// ProductKey is the store key of a cached Stripe product.
func ProductKey(id string) string { return "product:" + id }

// PriceKey is the store key of a cached Stripe price.
func PriceKey(id string) string { return "price:" + id }

// CouponKey is the store key of a cached Stripe coupon.
func CouponKey(id string) string { return "coupon:" + id }

// catalogSyncedKey keeps when the catalog was last listed.
const catalogSyncedKey = "catalog:synced_at"

// CachedProduct is a Stripe product as the store keeps it.
type CachedProduct struct {
	ID      string `json:"id"`
	Name    string `json:"name"`
	Type    string `json:"type,omitempty"`
	Credits int64  `json:"credits,omitempty"`
	Active  bool   `json:"active"`
	Updated int64  `json:"updated"`
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
		for _, p := range l.Products {
			if err := putNewer(tx, ProductKey(p.ID), p, p.Updated); err != nil {
				return err
			}
		}
		for _, p := range l.Prices {
			if err := putNewer(tx, PriceKey(p.ID), p, p.Updated); err != nil {
				return err
			}
		}
		for _, k := range l.Coupons {
			if err := putNewer(tx, CouponKey(k.ID), k, k.Updated); err != nil {
				return err
			}
		}
		return tx.PutKV(catalogSyncedKey, l.At)
	})
	s.noteWrite(err)
	return err
}

// putNewer stores v unless the cache holds a value a webhook event wrote
// later than updated.
func putNewer(tx Tx, key string, v any, updated int64) error {
	var prev struct {
		Updated int64 `json:"updated"`
	}
	if ok, err := tx.GetKV(key, &prev); err != nil {
		return err
	} else if ok && prev.Updated > updated {
		return nil
	}
	return tx.PutKV(key, v)
}

// CachedCatalog is the Stripe catalog as the store keeps it, products and
// prices in id order.
func (s *Service) CachedCatalog() (CatalogListing, error) {
	var l CatalogListing
	err := s.store.View(s.now(), func(tx Tx) error {
		var err error
		scan := func(prefix string, fn func([]byte) error) {
			tx.ScanKV(prefix, func(_ string, raw []byte) bool {
				err = fn(raw)
				return err == nil
			})
		}
		scan(ProductKey(""), func(raw []byte) error {
			var p CachedProduct
			l.Products = append(l.Products, p)
			return json.Unmarshal(raw, &l.Products[len(l.Products)-1])
		})
		if err != nil {
			return err
		}
		scan(PriceKey(""), func(raw []byte) error {
			var p CachedPrice
			l.Prices = append(l.Prices, p)
			return json.Unmarshal(raw, &l.Prices[len(l.Prices)-1])
		})
		if err != nil {
			return err
		}
		scan(CouponKey(""), func(raw []byte) error {
			var k CachedCoupon
			l.Coupons = append(l.Coupons, k)
			return json.Unmarshal(raw, &l.Coupons[len(l.Coupons)-1])
		})
		if err != nil {
			return err
		}
		_, err = tx.GetKV(catalogSyncedKey, &l.At)
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
		ok, err = tx.GetKV(PriceKey(id), &p)
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
