package billing

import (
	"strconv"
	"strings"
)

// Money in customer emails.
//
// Stripe sends every amount as an integer of the currency's minor unit
// (docs.stripe.com/currencies): cents for most currencies, the unit itself
// for the zero-decimal ones (JPY, KRW, …), thousandths for the
// three-decimal ones (KWD, BHD, …). FormatMoney writes such an amount the
// way a customer of that currency reads prices: each currency has one
// style, that of its home locale, with a symbol that cannot be taken for
// another currency's (CA$ and A$, not a bare $; CN¥ beside JPY's ¥).
// Currencies without a style of their own are written as
// "1,234.50 XYZ". The style follows the currency, not the customer: payflow
// does not know the customer's language, and a euro amount reads
// "19,00 €" to most of the euro area.

// nbsp keeps a symbol on the line of its number.
const nbsp = "\u00a0"

// moneyStyle is how one currency is written.
type moneyStyle struct {
	symbol  string
	after   bool   // symbol after the number
	space   bool   // a no-break space between number and symbol
	decimal string // decimal separator
	group   string // thousands separator
	indian  bool   // en-IN grouping: 1,23,45,678
}

var (
	enStyle = moneyStyle{decimal: ".", group: ","}
	deStyle = moneyStyle{after: true, space: true, decimal: ",", group: "."}
	frStyle = moneyStyle{after: true, space: true, decimal: ",", group: nbsp}
)

// moneyStyles: each currency's home-locale style (the locale in the
// comment). Read-only.
var moneyStyles = map[string]moneyStyle{
	"USD": with(enStyle, "$", false, false),                       // en-US   $1,234.50
	"CAD": with(enStyle, "CA$", false, false),                     // en-CA   CA$1,234.50
	"AUD": with(enStyle, "A$", false, false),                      // en-AU   A$1,234.50
	"NZD": with(enStyle, "NZ$", false, false),                     // en-NZ   NZ$1,234.50
	"HKD": with(enStyle, "HK$", false, false),                     // en-HK   HK$1,234.50
	"SGD": with(enStyle, "S$", false, false),                      // en-SG   S$1,234.50
	"MXN": with(enStyle, "MX$", false, false),                     // es-MX   MX$1,234.50
	"GBP": with(enStyle, "£", false, false),                       // en-GB   £1,234.50
	"JPY": with(enStyle, "¥", false, false),                       // ja-JP   ¥1,900
	"KRW": with(enStyle, "₩", false, false),                       // ko-KR   ₩1,900
	"CNY": with(enStyle, "CN¥", false, false),                     // zh-CN   CN¥1,234.50
	"ILS": with(enStyle, "₪", false, false),                       // he-IL   ₪1,234.50
	"INR": indian(with(enStyle, "₹", false, false)),               // en-IN   ₹1,23,456.50
	"EUR": with(deStyle, "€", true, true),                         // de-DE   1.234,50 €
	"DKK": with(deStyle, "kr.", true, true),                       // da-DK   1.234,50 kr.
	"ISK": with(deStyle, "kr.", true, true),                       // is-IS   1.235 kr.
	"BRL": with(deStyle, "R$", false, true),                       // pt-BR   R$ 1.234,50
	"SEK": with(frStyle, "kr", true, true),                        // sv-SE   1 234,50 kr
	"NOK": with(frStyle, "kr", true, true),                        // nb-NO   1 234,50 kr
	"PLN": with(frStyle, "zł", true, true),                        // pl-PL   1 234,50 zł
	"CZK": with(frStyle, "Kč", true, true),                        // cs-CZ   1 234,50 Kč
	"HUF": with(frStyle, "Ft", true, true),                        // hu-HU   1 234,50 Ft
	"CHF": {symbol: "CHF", space: true, decimal: ".", group: "’"}, // de-CH CHF 1’234.50
	// Three-decimal currencies: the code before the amount, as banks in
	// the Gulf and Jordan print it.
	"BHD": with(enStyle, "BHD", false, true), // BHD 1,234.500
	"JOD": with(enStyle, "JOD", false, true),
	"KWD": with(enStyle, "KWD", false, true),
	"OMR": with(enStyle, "OMR", false, true),
	"TND": with(enStyle, "TND", false, true),
}

func with(s moneyStyle, symbol string, after, space bool) moneyStyle {
	s.symbol, s.after, s.space = symbol, after, space
	return s
}

func indian(s moneyStyle) moneyStyle { s.indian = true; return s }

// CurrencyExponent is the number of decimals of the currency's minor unit
// in Stripe's API: 0 for the zero-decimal currencies, 3 for the
// three-decimal ones, else 2 (ISK, HUF and TWD included: Stripe takes them
// with two decimals).
func CurrencyExponent(currency string) int {
	switch strings.ToUpper(currency) {
	case "BIF", "CLP", "DJF", "GNF", "JPY", "KMF", "KRW", "MGA", "PYG", "RWF", "UGX", "VND", "VUV", "XAF", "XOF", "XPF":
		return 0
	case "BHD", "JOD", "KWD", "OMR", "TND":
		return 3
	}
	return 2
}

// displayDecimals is how many decimals a customer sees: the API's, except
// for ISK, which Stripe takes with two decimals (always 00) and which is
// written without them.
func displayDecimals(cur string) int {
	if cur == "ISK" {
		return 0
	}
	return CurrencyExponent(cur)
}

// FormatMoney writes amount (in Stripe's minor units of currency) for a
// customer: $19.00, ¥1,900, 19,00 €, KWD 19.500. An empty currency is USD
// (as payflow.FormatAmount has it).
func FormatMoney(amount int64, currency string) string {
	cur := strings.ToUpper(strings.TrimSpace(currency))
	if cur == "" {
		cur = "USD"
	}
	style, known := moneyStyles[cur]
	if !known {
		style = enStyle
		style.symbol, style.after, style.space = cur, true, true
	}
	sign := ""
	if amount < 0 {
		sign, amount = "-", -amount
	}
	exp, shown := CurrencyExponent(cur), displayDecimals(cur)
	for range exp - shown { // round half up to the decimals shown
		amount = (amount + 5) / 10
	}
	unit := int64(1)
	for range shown {
		unit *= 10
	}
	whole, frac := amount/unit, amount%unit
	num := group(strconv.FormatInt(whole, 10), style)
	if shown > 0 {
		f := strconv.FormatInt(frac, 10)
		num += style.decimal + strings.Repeat("0", shown-len(f)) + f
	}
	space := ""
	if style.space {
		space = nbsp
	}
	if style.after {
		return sign + num + space + style.symbol
	}
	return sign + style.symbol + space + num
}

// group inserts the style's thousands separators into digits.
func group(digits string, s moneyStyle) string {
	if len(digits) <= 3 {
		return digits
	}
	head, tail := digits[:len(digits)-3], digits[len(digits)-3:]
	size := 3
	if s.indian {
		size = 2
	}
	var parts []string
	for len(head) > size {
		parts = append([]string{head[len(head)-size:]}, parts...)
		head = head[:len(head)-size]
	}
	parts = append([]string{head}, parts...)
	return strings.Join(append(parts, tail), s.group)
}

// parseLegacyAmount reads payflow.FormatAmount's "19.00 USD" back into
// minor units and currency: the vars of an email the core built before it
// sent amount_minor and currency (an activity scheduled before an upgrade)
// still render in the currency's style.
func parseLegacyAmount(s string) (int64, string, bool) {
	num, cur, ok := strings.Cut(strings.TrimSpace(s), " ")
	if !ok || len(cur) != 3 || strings.ToUpper(cur) != cur {
		return 0, "", false
	}
	neg := strings.HasPrefix(num, "-")
	num = strings.TrimPrefix(num, "-")
	whole, frac, _ := strings.Cut(num, ".")
	if len(frac) != CurrencyExponent(cur) {
		return 0, "", false
	}
	v, err := strconv.ParseInt(whole+frac, 10, 64)
	if err != nil || v < 0 {
		return 0, "", false
	}
	if neg {
		v = -v
	}
	return v, cur, true
}
