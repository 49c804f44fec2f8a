package billing

import (
	"strings"
	"testing"
)

func TestFormatMoney(t *testing.T) {
	sp := func(s string) string { return strings.ReplaceAll(s, "_", "\u00a0") } // _ stands for a no-break space
	for _, tc := range []struct {
		amount   int64
		currency string
		want     string
	}{
		{1900, "usd", "$19.00"},
		{1900, "USD", "$19.00"},
		{123456789, "usd", "$1,234,567.89"},
		{5, "usd", "$0.05"},
		{0, "usd", "$0.00"},
		{-1950, "usd", "-$19.50"},
		{1900, "", "$19.00"},
		{1900, "jpy", "¥1,900"},
		{1234567, "jpy", "¥1,234,567"},
		{50000, "krw", "₩50,000"},
		{1900, "eur", sp("19,00_€")},
		{123456, "eur", sp("1.234,56_€")},
		{-1900, "eur", sp("-19,00_€")},
		{19500, "kwd", sp("KWD_19.500")},
		{1234500, "kwd", sp("KWD_1,234.500")},
		{5, "kwd", sp("KWD_0.005")},
		{19500, "bhd", sp("BHD_19.500")},
		{1900, "gbp", "£19.00"},
		{1900, "cad", "CA$19.00"},
		{1900, "aud", "A$19.00"},
		{12345678, "inr", "₹1,23,456.78"},
		{123456789012, "inr", "₹1,23,45,67,890.12"},
		{123450, "chf", sp("CHF_1’234.50")},
		{123450, "sek", sp("1_234,50_kr")},
		{123450, "dkk", sp("1.234,50_kr.")},
		{123450, "brl", sp("R$_1.234,50")},
		{190000, "isk", sp("1.900_kr.")}, // Stripe takes ISK with two decimals, always 00
		{1900, "clp", sp("1,900_CLP")},   // zero-decimal without a style of its own
		{123450, "zar", sp("1,234.50_ZAR")},
	} {
		if got := FormatMoney(tc.amount, tc.currency); got != tc.want {
			t.Errorf("FormatMoney(%d, %q) = %q, want %q", tc.amount, tc.currency, got, tc.want)
		}
	}
}

func TestCurrencyExponent(t *testing.T) {
	for cur, want := range map[string]int{"usd": 2, "JPY": 0, "krw": 0, "ugx": 0, "kwd": 3, "BHD": 3, "jod": 3, "omr": 3, "tnd": 3, "isk": 2, "huf": 2, "eur": 2} {
		if got := CurrencyExponent(cur); got != want {
			t.Errorf("CurrencyExponent(%q) = %d, want %d", cur, got, want)
		}
	}
}

// The vars of an email built before amount_minor and currency existed
// carry payflow.FormatAmount's text; it reads back exactly.
func TestParseLegacyAmount(t *testing.T) {
	for _, tc := range []struct {
		amount   int64
		currency string
	}{{1900, "usd"}, {-250, "usd"}, {1900, "jpy"}, {19500, "kwd"}, {190000, "isk"}, {0, "eur"}} {
		s := FormatAmount(tc.amount, tc.currency)
		got, cur, ok := parseLegacyAmount(s)
		if !ok || got != tc.amount || cur != strings.ToUpper(tc.currency) {
			t.Errorf("parseLegacyAmount(%q) = %d %q %v, want %d %s", s, got, cur, ok, tc.amount, strings.ToUpper(tc.currency))
		}
	}
	for _, bad := range []string{"", "$20.00", "20.00", "20.0 USD", "20.00 usd", "abc USD", "20 USD"} {
		if _, _, ok := parseLegacyAmount(bad); ok {
			t.Errorf("parseLegacyAmount(%q) read an amount", bad)
		}
	}
}
