package storage

import (
	"time"

	"creditdesk/billing"
)

// The Stripe catalog cache, added in schema version 6 (before, kv
// "product:ID", "price:ID", "coupon:ID" and "catalog:synced_at").
var (
	// productsBucket maps a Stripe product id to a billing.CachedProduct (JSON).
	productsBucket = []byte("products")
	// pricesBucket maps a Stripe price id to a billing.CachedPrice (JSON).
	pricesBucket = []byte("prices")
	// couponsBucket maps a Stripe coupon id to a billing.CachedCoupon (JSON).
	couponsBucket = []byte("coupons")
)

// catalogSyncedKey, in meta, is when the catalog was last listed (JSON time).
var catalogSyncedKey = []byte("catalog_synced_at")

// Product returns a cached product.
func (t *Tx) Product(id string) (billing.CachedProduct, bool, error) {
	return get[billing.CachedProduct](t.tx.Bucket(productsBucket), []byte(id))
}

// PutProduct caches a product.
func (t *Tx) PutProduct(p billing.CachedProduct) error {
	return putJSON(t.tx.Bucket(productsBucket), []byte(p.ID), p)
}

// DeleteProduct removes a cached product.
func (t *Tx) DeleteProduct(id string) error { return t.tx.Bucket(productsBucket).Delete([]byte(id)) }

// Products returns every cached product in id order.
func (t *Tx) Products() ([]billing.CachedProduct, error) {
	return all[billing.CachedProduct](t.tx.Bucket(productsBucket))
}

// Price returns a cached price.
func (t *Tx) Price(id string) (billing.CachedPrice, bool, error) {
	return get[billing.CachedPrice](t.tx.Bucket(pricesBucket), []byte(id))
}

// PutPrice caches a price.
func (t *Tx) PutPrice(p billing.CachedPrice) error {
	return putJSON(t.tx.Bucket(pricesBucket), []byte(p.ID), p)
}

// DeletePrice removes a cached price.
func (t *Tx) DeletePrice(id string) error { return t.tx.Bucket(pricesBucket).Delete([]byte(id)) }

// Prices returns every cached price in id order.
func (t *Tx) Prices() ([]billing.CachedPrice, error) {
	return all[billing.CachedPrice](t.tx.Bucket(pricesBucket))
}

// Coupon returns a cached coupon.
func (t *Tx) Coupon(id string) (billing.CachedCoupon, bool, error) {
	return get[billing.CachedCoupon](t.tx.Bucket(couponsBucket), []byte(id))
}

// PutCoupon caches a coupon.
func (t *Tx) PutCoupon(c billing.CachedCoupon) error {
	return putJSON(t.tx.Bucket(couponsBucket), []byte(c.ID), c)
}

// Coupons returns every cached coupon in id order.
func (t *Tx) Coupons() ([]billing.CachedCoupon, error) {
	return all[billing.CachedCoupon](t.tx.Bucket(couponsBucket))
}

// CatalogSynced is when the catalog was last listed; zero when never.
func (t *Tx) CatalogSynced() (time.Time, error) {
	var at time.Time
	_, err := getJSON(t.tx.Bucket(metaBucket), catalogSyncedKey, &at)
	return at, err
}

// SetCatalogSynced records when the catalog was listed.
func (t *Tx) SetCatalogSynced(at time.Time) error {
	return putJSON(t.tx.Bucket(metaBucket), catalogSyncedKey, at)
}
