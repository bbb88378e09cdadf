package billing

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"regexp"
	"slices"
	"sort"
	"strings"

	"github.com/BurntSushi/toml"
)

// Plan is a subscription that grants MonthlyCredits per paid invoice.
type Plan struct {
	Name           string `toml:"-"`
	MonthlyCredits int64  `toml:"monthly_credits"`
	Rollover       bool   `toml:"rollover"`
	Sale
}

// Pack is a one-time purchase of Credits that never expire.
type Pack struct {
	Name    string `toml:"-"`
	Credits int64  `toml:"credits"`
	Sale
}

// Sale is how a plan or pack is sold, and what it unlocks.
type Sale struct {
	// PriceIDs are the Stripe prices that sell it.
	PriceIDs []string `toml:"price_ids"`
	// Amount (in the currency's smallest unit) and Currency sell it with
	// an ad-hoc price when it has no Stripe price id.
	Amount   int64  `toml:"amount"`
	Currency string `toml:"currency"`
	// Features are what it unlocks in the app (max_projects = 5,
	// models = [...]): a plan's are returned by GET /api/users/{id}, and
	// a plan's or pack's are carried by its messages.
	Features map[string]any `toml:"features"`
}

// Offer is a purchase type of the catalog as a checkout sells it and the
// console lists it: a plan (Credits a month) or a pack (Credits once).
type Offer struct {
	Name    string
	Kind    PurchaseKind
	Credits int64
	Sale
}

// Offer returns the plan or pack named n; ok is false when there is none.
func (c Catalog) Offer(n string) (o Offer, ok bool) {
	if p, ok := c.Plans[n]; ok {
		return Offer{Name: n, Kind: PurchasePlan, Credits: p.MonthlyCredits, Sale: p.Sale}, true
	}
	if p, ok := c.Packs[n]; ok {
		return Offer{Name: n, Kind: PurchasePack, Credits: p.Credits, Sale: p.Sale}, true
	}
	return Offer{}, false
}

// Catalog is what can be bought. A plan's or pack's name is its purchase type.
type Catalog struct {
	FreeCredits int64            `toml:"free_credits"`
	AllowDebt   bool             `toml:"allow_debt"`
	Plans       map[string]*Plan `toml:"plans"`
	Packs       map[string]*Pack `toml:"packs"`
	// ProductMap maps a Stripe price or product id to a purchase type
	// (STRIPE_PRODUCT_MAP and STRIPE_<NAME>_PRICE_ID).
	ProductMap map[string]string `toml:"product_map"`
	// PaymentLinks maps a purchase type to a payment-link URL kept in config.
	PaymentLinks map[string]string `toml:"payment_links"`
	// FreeFeatures are what a user without a plan has; a plan's features
	// are merged over them.
	FreeFeatures map[string]any `toml:"free_features"`
}

// ProductState is what TierFeatures reads of the Stripe catalog cache
// (a Tx has it).
type ProductState interface {
	Price(id string) (CachedPrice, bool, error)
	Product(id string) (CachedProduct, bool, error)
}

// TierFeatures returns what tier unlocks (a copy the caller may keep; nil
// when nothing names any): the free tier's features, then the features.*
// metadata of the Stripe products the plan's prices belong to (read from
// st, the catalog cache; nil: none), then the plan's features in the
// catalog file, each merged over the one before.
func (c Catalog) TierFeatures(st ProductState, tier string) map[string]any {
	out := map[string]any{}
	for k, v := range c.FreeFeatures {
		out[k] = v
	}
	if p, ok := c.Plans[tier]; ok {
		if st != nil {
			for _, id := range p.PriceIDs {
				pr, ok, err := st.Price(id)
				if err != nil || !ok {
					continue
				}
				prod, ok, err := st.Product(pr.Product)
				if err != nil || !ok {
					continue
				}
				for k, v := range prod.Features {
					out[k] = FeatureValue(v)
				}
			}
		}
		for k, v := range p.Features {
			out[k] = v
		}
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

// FeaturesFromMetadata picks the features.* keys of a Stripe product's
// metadata ("features.max_projects" = "5"), without the prefix.
func FeaturesFromMetadata(md map[string]string) map[string]string {
	var out map[string]string
	for k, v := range md {
		if name, ok := strings.CutPrefix(k, "features."); ok && name != "" {
			if out == nil {
				out = map[string]string{}
			}
			out[name] = v
		}
	}
	return out
}

// FeatureValue reads a metadata value as the app would want it: JSON when
// it is JSON (5, true, ["gpt-4o","claude"]), else the string.
func FeatureValue(s string) any {
	var v any
	if err := json.Unmarshal([]byte(s), &v); err == nil {
		return v
	}
	return s
}

// DefaultFreeCredits is the free-tier allowance when the catalog names none.
const DefaultFreeCredits = 100

// SampleCatalog is the catalog demo mode uses; it matches the simulator.
func SampleCatalog() Catalog {
	return Catalog{
		FreeCredits: DefaultFreeCredits,
		Plans: map[string]*Plan{
			"pro":        {Name: "pro", MonthlyCredits: 2500, Sale: Sale{PriceIDs: []string{"price_pro_monthly"}, Amount: 4900, Currency: "usd"}},
			"enterprise": {Name: "enterprise", MonthlyCredits: 10000, Sale: Sale{PriceIDs: []string{"price_enterprise_monthly"}, Amount: 19900, Currency: "usd"}},
		},
		Packs: map[string]*Pack{
			"starter": {Name: "starter", Credits: 500, Sale: Sale{PriceIDs: []string{"price_starter"}, Amount: 900, Currency: "usd"}},
			"topup":   {Name: "topup", Credits: 1000, Sale: Sale{PriceIDs: []string{"price_topup"}, Amount: 2000, Currency: "usd"}},
			"bulk":    {Name: "bulk", Credits: 5000, Sale: Sale{PriceIDs: []string{"price_bulk"}, Amount: 7900, Currency: "usd"}},
		},
		ProductMap: map[string]string{},
	}
}

// LoadCatalog reads a creditdesk.toml. Errors name the file, line and key.
func LoadCatalog(path string) (Catalog, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return Catalog{}, fmt.Errorf("catalog: %w", err)
	}
	return ParseCatalog(path, string(raw))
}

// ParseCatalog parses catalog TOML; name is used in error messages.
func ParseCatalog(name, text string) (Catalog, error) {
	var c Catalog
	md, err := toml.Decode(text, &c)
	if err != nil {
		var pe toml.ParseError
		if errors.As(err, &pe) {
			key := ""
			if pe.LastKey != "" {
				key = " (key " + pe.LastKey + ")"
			}
			return Catalog{}, fmt.Errorf("%s:%d: %s%s", name, pe.Position.Line, pe.Message, key)
		}
		return Catalog{}, tomlError(name, err)
	}
	for _, k := range md.Undecoded() {
		// The app's webhooks are settings of the same file that
		// internal/config reads.
		if k[0] == "app_webhooks" || k[0] == "low_credits" {
			continue
		}
		return Catalog{}, fmt.Errorf("%s: unknown key %s", name, k.String())
	}
	if !md.IsDefined("free_credits") {
		c.FreeCredits = DefaultFreeCredits
	}
	if c.FreeCredits < 0 || c.FreeCredits > MaxCredits {
		return Catalog{}, fmt.Errorf("%s: free_credits must be a whole number from 0 to %s", name, Credits(MaxCredits))
	}
	if c.ProductMap == nil {
		c.ProductMap = map[string]string{}
	}
	for n, p := range c.Plans {
		p.Name = n
		if p.MonthlyCredits <= 0 || p.MonthlyCredits > MaxCredits {
			return Catalog{}, fmt.Errorf("%s: plans.%s.monthly_credits must be a whole number from 1 to %s", name, n, Credits(MaxCredits))
		}
	}
	for n, p := range c.Packs {
		p.Name = n
		if p.Credits <= 0 || p.Credits > MaxCredits {
			return Catalog{}, fmt.Errorf("%s: packs.%s.credits must be a whole number from 1 to %s", name, n, Credits(MaxCredits))
		}
		if _, clash := c.Plans[n]; clash {
			return Catalog{}, fmt.Errorf("%s: %q is both a plan and a pack; purchase types must be unique", name, n)
		}
	}
	owner := map[string]string{}
	for _, n := range c.Names() {
		o, _ := c.Offer(n)
		for _, id := range o.PriceIDs {
			if prev, dup := owner[id]; dup {
				return Catalog{}, fmt.Errorf("%s: price %s is listed under both %s and %s; a price sells one thing", name, id, prev, n)
			}
			owner[id] = n
		}
	}
	return c, nil
}

// tomlTypeErr is how the TOML decoder reports a value of the wrong type.
var tomlTypeErr = regexp.MustCompile(`^toml: line (\d+) \(last key "([^"]+)"\): incompatible types: TOML value has type (\w+); destination has type (\w+)`)

// tomlError rewrites a decoder error as file:line: key: problem.
func tomlError(name string, err error) error {
	if m := tomlTypeErr.FindStringSubmatch(err.Error()); m != nil {
		return fmt.Errorf("%s:%s: %s must be %s, not %s", name, m[1], m[2], article(m[4]), article(m[3]))
	}
	return fmt.Errorf("%s: %s", name, strings.TrimPrefix(err.Error(), "toml: "))
}

func article(typ string) string {
	switch typ {
	case "int", "int64", "integer":
		return "a whole number"
	case "bool":
		return "true or false"
	case "string":
		return "a string"
	case "slice", "array":
		return "a list"
	}
	return "a " + typ
}

// ApplyEnv adds the price and product mappings users of the common starter
// kits keep in env vars: STRIPE_PRODUCT_MAP (a JSON object or id=type,id=type)
// and STRIPE_<NAME>_PRICE_ID / STRIPE_PRICE_ID_<NAME>.
func (c *Catalog) ApplyEnv(environ []string) error {
	if c.ProductMap == nil {
		c.ProductMap = map[string]string{}
	}
	if c.PaymentLinks == nil {
		c.PaymentLinks = map[string]string{}
	}
	for _, kv := range environ {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || v == "" {
			continue
		}
		switch {
		case k == "STRIPE_PRODUCT_MAP":
			m, err := parseProductMap(v)
			if err != nil {
				return fmt.Errorf("STRIPE_PRODUCT_MAP: %w", err)
			}
			for id, t := range m {
				c.ProductMap[id] = t
			}
		case strings.HasPrefix(k, "STRIPE_PRICE_ID_"):
			c.ProductMap[v] = strings.ToLower(strings.TrimPrefix(k, "STRIPE_PRICE_ID_"))
		case strings.HasPrefix(k, "STRIPE_") && strings.HasSuffix(k, "_PRICE_ID") && len(k) > len("STRIPE__PRICE_ID"):
			c.ProductMap[v] = strings.ToLower(strings.TrimSuffix(strings.TrimPrefix(k, "STRIPE_"), "_PRICE_ID"))
		case strings.HasPrefix(k, "CHECKOUT_URL_"):
			c.PaymentLinks[strings.ToLower(strings.TrimPrefix(k, "CHECKOUT_URL_"))] = v
		case strings.HasPrefix(k, "STRIPE_") && strings.HasSuffix(k, "_PAYMENT_LINK") && len(k) > len("STRIPE__PAYMENT_LINK"):
			c.PaymentLinks[strings.ToLower(strings.TrimSuffix(strings.TrimPrefix(k, "STRIPE_"), "_PAYMENT_LINK"))] = v
		}
	}
	return nil
}

func parseProductMap(v string) (map[string]string, error) {
	v = strings.TrimSpace(v)
	m := map[string]string{}
	if strings.HasPrefix(v, "{") {
		if err := json.Unmarshal([]byte(v), &m); err != nil {
			return nil, fmt.Errorf("not a JSON object of id to type: %v", err)
		}
		return m, nil
	}
	for _, part := range strings.Split(v, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		id, t, ok := strings.Cut(part, "=")
		if !ok || strings.TrimSpace(id) == "" || strings.TrimSpace(t) == "" {
			return nil, fmt.Errorf("%q is not id=type", part)
		}
		m[strings.TrimSpace(id)] = strings.TrimSpace(t)
	}
	return m, nil
}

// Resolve maps a purchase type as written anywhere (plan-pro, credits-topup,
// PRO) to a catalog name; ok is false when nothing in the catalog matches.
func (c Catalog) Resolve(t string) (name string, ok bool) {
	t = strings.ToLower(strings.TrimSpace(t))
	if t == "" {
		return "", false
	}
	if c.has(t) {
		return t, true
	}
	// plan-pro, credits-topup, pack_topup: the part after the first
	// separator names the type.
	for _, sep := range []string{"-", "_", ":"} {
		if _, rest, found := strings.Cut(t, sep); found && c.has(rest) {
			return rest, true
		}
	}
	return "", false
}

func (c Catalog) has(n string) bool {
	_, ok := c.Offer(n)
	return ok
}

// ByPrice returns the purchase type a price or product id maps to: the
// product map first, then the catalog's price ids.
func (c Catalog) ByPrice(ids ...string) (string, bool) {
	for _, id := range ids {
		if id == "" {
			continue
		}
		if t, ok := c.ProductMap[id]; ok {
			if n, ok := c.Resolve(t); ok {
				return n, true
			}
		}
	}
	for _, id := range ids {
		if id == "" {
			continue
		}
		for _, n := range c.Names() {
			if o, _ := c.Offer(n); slices.Contains(o.PriceIDs, id) {
				return n, true
			}
		}
	}
	return "", false
}

// Names lists every purchase type, plans first, each group sorted.
func (c Catalog) Names() []string {
	var plans, packs []string
	for n := range c.Plans {
		plans = append(plans, n)
	}
	for n := range c.Packs {
		packs = append(packs, n)
	}
	sort.Strings(plans)
	sort.Strings(packs)
	return append(plans, packs...)
}
