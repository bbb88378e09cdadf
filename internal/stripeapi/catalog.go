package stripeapi

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/stripe/stripe-go/v76"

	"creditdesk/billing"
)

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

// listed reads up to most objects of a Stripe list, every page (what names
// it in an error), and returns those conv keeps (ok), converted.
func listed[S, T any](it *stripe.Iter, most int, what string, conv func(S) (v T, ok bool)) ([]T, error) {
	var out []T
	for n := 0; n < most && it.Next(); n++ {
		if v, ok := conv(it.Current().(S)); ok {
			out = append(out, v)
		}
	}
	if err := it.Err(); err != nil {
		return nil, wrap("listing "+what, err)
	}
	return out, nil
}

// SyncCatalog lists products, prices and coupons and has billing record
// them (billing.Service.CatalogListed), where the billing rules keep them
// fresh from product.*, price.* and coupon.* events.
func (c *Client) SyncCatalog(ctx context.Context) (CatalogSync, error) {
	rec, err := c.records()
	if err != nil {
		return CatalogSync{}, err
	}
	pp := &stripe.ProductListParams{}
	pp.Context, pp.Limit = ctx, stripe.Int64(100)
	products, err := listed(c.api.Products.List(pp).Iter, maxListed, "products", func(p *stripe.Product) (billing.CachedProduct, bool) {
		credits, _ := strconv.ParseInt(strings.TrimSpace(p.Metadata["credits"]), 10, 64)
		return billing.CachedProduct{ID: p.ID, Name: p.Name, Type: p.Metadata["type"], Credits: credits,
			Active: p.Active, Updated: p.Updated, Features: billing.FeaturesFromMetadata(p.Metadata)}, true
	})
	if err != nil {
		return CatalogSync{}, err
	}
	rp := &stripe.PriceListParams{}
	rp.Context, rp.Limit = ctx, stripe.Int64(100)
	prices, err := listed(c.api.Prices.List(rp).Iter, maxListed, "prices", func(p *stripe.Price) (billing.CachedPrice, bool) {
		cp := billing.CachedPrice{ID: p.ID, UnitAmount: p.UnitAmount, Currency: string(p.Currency), Recurring: p.Recurring != nil,
			Active: p.Active, Updated: p.Created}
		if p.Product != nil {
			cp.Product = p.Product.ID
		}
		return cp, true
	})
	if err != nil {
		return CatalogSync{}, err
	}
	cpp := &stripe.CouponListParams{}
	cpp.Context, cpp.Limit = ctx, stripe.Int64(100)
	coupons, err := listed(c.api.Coupons.List(cpp).Iter, maxListed, "coupons", func(k *stripe.Coupon) (billing.CachedCoupon, bool) {
		return billing.CachedCoupon{ID: k.ID, Name: k.Name, PercentOff: k.PercentOff, AmountOff: k.AmountOff,
			Currency: string(k.Currency), Duration: string(k.Duration), DurationInMonths: k.DurationInMonths, Valid: k.Valid,
			Updated: k.Created}, true
	})
	if err != nil {
		return CatalogSync{}, err
	}
	now := c.now()
	res := CatalogSync{Products: len(products), Prices: len(prices), Coupons: len(coupons), At: now}
	err = rec.CatalogListed(billing.CatalogListing{Products: products, Prices: prices, Coupons: coupons, At: now})
	if err != nil {
		return res, fmt.Errorf("storing the catalog: %w", err)
	}
	c.log.Info("catalog synced", "products", res.Products, "prices", res.Prices, "coupons", res.Coupons)
	return res, nil
}

// CatalogView is the catalog as the Catalog tab and `creditdesk catalog`
// show it: Stripe's prices with the catalog type each maps to, coupons,
// and the configured plans and packs with their payment links.
type CatalogView struct {
	Prices   []PriceRow
	Coupons  []billing.CachedCoupon
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
	rec, err := c.records()
	if err != nil {
		return CatalogView{}, err
	}
	return ReadCatalog(rec, c.cfg.Catalog)
}

// CatalogReader is where ReadCatalog reads the cached catalog; a
// *billing.Service is one.
type CatalogReader interface {
	CachedCatalog() (billing.CatalogListing, error)
}

// ReadCatalog reads the cached catalog through rec and maps it onto cat.
// It needs no key.
func ReadCatalog(rec CatalogReader, cat billing.Catalog) (CatalogView, error) {
	l, err := rec.CachedCatalog()
	if err != nil {
		return CatalogView{}, err
	}
	v := CatalogView{Coupons: l.Coupons, SyncedAt: l.At}
	products := map[string]billing.CachedProduct{}
	for _, p := range l.Products {
		products[p.ID] = p
	}
	for _, p := range l.Prices {
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
		o, _ := cat.Offer(n)
		t := TypeRow{Name: n, Kind: string(o.Kind), Credits: o.Credits, PriceIDs: o.PriceIDs, PaymentLink: cat.PaymentLinks[n]}
		if o.Amount > 0 {
			t.Amount = billing.FormatAmount(o.Amount, o.Currency)
			if o.Kind == billing.PurchasePlan {
				t.Amount += "/month"
			}
		}
		v.Types = append(v.Types, t)
	}
	return v, nil
}
