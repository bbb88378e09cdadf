package billing

import (
	"strconv"
	"strings"
)

// zeroDecimal are the currencies Stripe counts in whole units: an amount of
// 500 jpy is ¥500, not ¥5.00.
var zeroDecimal = map[string]bool{
	"bif": true, "clp": true, "djf": true, "gnf": true, "jpy": true, "kmf": true, "krw": true, "mga": true,
	"pyg": true, "rwf": true, "ugx": true, "vnd": true, "vuv": true, "xaf": true, "xof": true, "xpf": true,
}

// threeDecimal are the currencies Stripe counts in thousandths.
var threeDecimal = map[string]bool{"bhd": true, "jod": true, "kwd": true, "omr": true, "tnd": true}

// FormatAmount writes an amount in a currency's smallest unit as people read
// it: 1250 usd → "12.50 USD", 500 jpy → "500 JPY", 1000 kwd → "1.000 KWD".
func FormatAmount(minor int64, currency string) string {
	cur := strings.ToLower(currency)
	decimals := 2
	switch {
	case zeroDecimal[cur]:
		decimals = 0
	case threeDecimal[cur]:
		decimals = 3
	}
	neg := minor < 0
	u := uint64(minor)
	if neg {
		u = uint64(-minor)
	}
	div := uint64(1)
	for range decimals {
		div *= 10
	}
	s := Credits(int64(u / div))
	if decimals > 0 {
		frac := strconv.FormatUint(u%div, 10)
		s += "." + strings.Repeat("0", decimals-len(frac)) + frac
	}
	if neg {
		s = "-" + s
	}
	if cur != "" {
		s += " " + strings.ToUpper(cur)
	}
	return s
}
