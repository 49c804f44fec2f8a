package payflow_test

import (
	"testing"

	"github.com/payflow/payflow"
)

func TestFormatAmount(t *testing.T) {
	cases := []struct {
		amount   int64
		currency string
		want     string
	}{
		{2000, "usd", "20.00 USD"},
		{1999, "USD", "19.99 USD"},
		{5, "eur", "0.05 EUR"},
		{0, "usd", "0.00 USD"},
		{123456789, "gbp", "1234567.89 GBP"},
		{2000, "", "20.00 USD"},
		{-2000, "usd", "-20.00 USD"},
		{-5, "usd", "-0.05 USD"},
		{2000, "jpy", "2000 JPY"},
		{500, "krw", "500 KRW"},
		{-500, "jpy", "-500 JPY"},
		{1500, "vnd", "1500 VND"},
		{12345, "kwd", "12.345 KWD"},
		{-1000, "bhd", "-1.000 BHD"},
	}
	for _, tc := range cases {
		if got := payflow.FormatAmount(tc.amount, tc.currency); got != tc.want {
			t.Errorf("FormatAmount(%d, %q) = %q, want %q", tc.amount, tc.currency, got, tc.want)
		}
	}
}
