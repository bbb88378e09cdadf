package stripeapi

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/stripe/stripe-go/v76"

	"creditdesk/billing"
)

// CachedCoupon is a Stripe coupon as the store keeps it under "coupon:ID".
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
	return billing.FormatAmount(c.AmountOff, c.Currency) + " off"
}

// catalogSyncedKey keeps when the catalog was last listed.
const catalogSyncedKey = "catalog:synced_at"

// CatalogSync counts what SyncCatalog stored.
type CatalogSync struct {
	Products, Prices, Coupons int
	At                        time.Time
}

func (s CatalogSync) String() string {
	return fmt.Sprintf("catalog synced: %d products, %d prices, %d coupons", s.Products, s.Prices, s.Coupons)
}

// maxListed bounds each list: a catalog is small; this keeps a runaway
// account from holding the sync forever.
const maxListed = 10000

// SyncCatalog lists products, prices and coupons and stores them in the kv
// cache ("product:ID", "price:ID", "coupon:ID"), where the billing rules
// keep them fresh from product.*, price.* and coupon.* events.
func (c *Client) SyncCatalog(ctx context.Context) (CatalogSync, error) {
	svc, err := c.service()
	if err != nil {
		return CatalogSync{}, err
	}
	var products []billing.CachedProduct
	pp := &stripe.ProductListParams{}
	pp.Context, pp.Limit = ctx, stripe.Int64(100)
	pit := c.api.Products.List(pp)
	for n := 0; n < maxListed && pit.Next(); n++ {
		p := pit.Product()
		credits, _ := strconv.ParseInt(strings.TrimSpace(p.Metadata["credits"]), 10, 64)
		products = append(products, billing.CachedProduct{ID: p.ID, Name: p.Name, Type: p.Metadata["type"], Credits: credits,
			Active: p.Active, Updated: p.Updated})
	}
	if err := pit.Err(); err != nil {
		return CatalogSync{}, wrap("listing products", err)
	}
	var prices []billing.CachedPrice
	rp := &stripe.PriceListParams{}
	rp.Context, rp.Limit = ctx, stripe.Int64(100)
	rit := c.api.Prices.List(rp)
	for n := 0; n < maxListed && rit.Next(); n++ {
		p := rit.Price()
		cp := billing.CachedPrice{ID: p.ID, UnitAmount: p.UnitAmount, Currency: string(p.Currency), Recurring: p.Recurring != nil,
			Active: p.Active, Updated: p.Created}
		if p.Product != nil {
			cp.Product = p.Product.ID
		}
		prices = append(prices, cp)
	}
	if err := rit.Err(); err != nil {
		return CatalogSync{}, wrap("listing prices", err)
	}
	var coupons []CachedCoupon
	cpp := &stripe.CouponListParams{}
	cpp.Context, cpp.Limit = ctx, stripe.Int64(100)
	cit := c.api.Coupons.List(cpp)
	for n := 0; n < maxListed && cit.Next(); n++ {
		k := cit.Coupon()
		coupons = append(coupons, CachedCoupon{ID: k.ID, Name: k.Name, PercentOff: k.PercentOff, AmountOff: k.AmountOff,
			Currency: string(k.Currency), Duration: string(k.Duration), DurationInMonths: k.DurationInMonths, Valid: k.Valid,
			Updated: k.Created})
	}
	if err := cit.Err(); err != nil {
		return CatalogSync{}, wrap("listing coupons", err)
	}
	now := c.now()
	res := CatalogSync{Products: len(products), Prices: len(prices), Coupons: len(coupons), At: now}
	err = svc.Store().Update(now, func(tx billing.Tx) error {
		for _, p := range products {
			if err := putNewer(tx, "product:"+p.ID, p, p.Updated); err != nil {
				return err
			}
		}
		for _, p := range prices {
			if err := putNewer(tx, "price:"+p.ID, p, p.Updated); err != nil {
				return err
			}
		}
		for _, k := range coupons {
			if err := putNewer(tx, "coupon:"+k.ID, k, k.Updated); err != nil {
				return err
			}
		}
		return tx.PutKV(catalogSyncedKey, now)
	})
	if err != nil {
		return res, fmt.Errorf("storing the catalog: %w", err)
	}
	c.log.Info("catalog synced", "products", res.Products, "prices", res.Prices, "coupons", res.Coupons)
	return res, nil
}

// putNewer stores v unless the cache holds a value a webhook event wrote
// later than updated.
func putNewer(tx billing.Tx, key string, v any, updated int64) error {
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

// CatalogView is the catalog as the Catalog tab and `creditdesk catalog`
// show it: Stripe's prices with the catalog type each maps to, coupons,
// and the configured plans and packs with their payment links.
type CatalogView struct {
	Prices   []PriceRow
	Coupons  []CachedCoupon
	Types    []TypeRow
	SyncedAt time.Time
}

// PriceRow is one cached Stripe price.
type PriceRow struct {
	PriceID   string
	ProductID string
	Product   string
	// Amount is formatted in the price's currency: "20.00 USD", "500 JPY".
	Amount    string
	Recurring bool
	Active    bool
	// Type is the catalog purchase type the price maps to, "" when none.
	Type string
}

// TypeRow is one plan or pack of the configured catalog.
type TypeRow struct {
	Name    string
	Kind    string // plan or pack
	Credits int64
	// PriceIDs are the Stripe prices it is sold with; none means an ad-hoc
	// price from Amount.
	PriceIDs []string
	Amount   string
	// PaymentLink is a payment-link URL kept in config for the type.
	PaymentLink string
}

// Catalog reads the cached catalog from the store; no API call.
func (c *Client) CatalogView() (CatalogView, error) {
	svc, err := c.service()
	if err != nil {
		return CatalogView{}, err
	}
	return ReadCatalog(svc, c.cfg.Catalog)
}

// ReadCatalog reads the cached catalog from svc's store and maps it onto
// cat. It needs no key.
func ReadCatalog(svc *billing.Service, cat billing.Catalog) (CatalogView, error) {
	var v CatalogView
	products := map[string]billing.CachedProduct{}
	err := svc.Store().View(time.Now(), func(tx billing.Tx) error {
		var err error
		scan := func(prefix string, fn func([]byte) error) {
			tx.ScanKV(prefix, func(_ string, raw []byte) bool {
				err = fn(raw)
				return err == nil
			})
		}
		scan("product:", func(raw []byte) error {
			var p billing.CachedProduct
			if err := json.Unmarshal(raw, &p); err != nil {
				return err
			}
			products[p.ID] = p
			return nil
		})
		if err != nil {
			return err
		}
		scan("price:", func(raw []byte) error {
			var p billing.CachedPrice
			if err := json.Unmarshal(raw, &p); err != nil {
				return err
			}
			prod := products[p.Product]
			row := PriceRow{PriceID: p.ID, ProductID: p.Product, Product: prod.Name, Amount: billing.FormatAmount(p.UnitAmount, p.Currency),
				Recurring: p.Recurring, Active: p.Active}
			if n, ok := cat.ByPrice(p.ID, p.Product); ok {
				row.Type = n
			} else if n, ok := cat.Resolve(prod.Type); ok {
				row.Type = n
			} else if prod.Credits > 0 {
				row.Type = fmt.Sprintf("credits (%d)", prod.Credits)
			}
			v.Prices = append(v.Prices, row)
			return nil
		})
		if err != nil {
			return err
		}
		scan("coupon:", func(raw []byte) error {
			var k CachedCoupon
			if err := json.Unmarshal(raw, &k); err != nil {
				return err
			}
			v.Coupons = append(v.Coupons, k)
			return nil
		})
		if err != nil {
			return err
		}
		_, err = tx.GetKV(catalogSyncedKey, &v.SyncedAt)
		return err
	})
	if err != nil {
		return v, err
	}
	sort.SliceStable(v.Prices, func(i, j int) bool {
		a, b := v.Prices[i], v.Prices[j]
		if a.Active != b.Active {
			return a.Active
		}
		if a.Product != b.Product {
			return a.Product < b.Product
		}
		return a.PriceID < b.PriceID
	})
	for _, n := range cat.Names() {
		t := TypeRow{Name: n, PaymentLink: cat.PaymentLinks[n]}
		if p, ok := cat.Plans[n]; ok {
			t.Kind, t.Credits, t.PriceIDs = "plan", p.MonthlyCredits, p.PriceIDs
			if p.Amount > 0 {
				t.Amount = billing.FormatAmount(p.Amount, p.Currency) + "/month"
			}
		} else {
			p := cat.Packs[n]
			t.Kind, t.Credits, t.PriceIDs = "pack", p.Credits, p.PriceIDs
			if p.Amount > 0 {
				t.Amount = billing.FormatAmount(p.Amount, p.Currency)
			}
		}
		v.Types = append(v.Types, t)
	}
	return v, nil
}
