package billing

import (
	"testing"
	"time"
)

func TestEffectiveAccess(t *testing.T) {
	jan := time.Date(2024, 1, 31, 0, 0, 0, 0, time.UTC)
	feb := time.Date(2024, 2, 29, 0, 0, 0, 0, time.UTC)
	row := func(source, status string, until *time.Time) AccessRow {
		return AccessRow{CustomerID: cus, ProductID: "prod_x", Source: source, Status: status, ValidUntil: until}
	}
	for _, tc := range []struct {
		name  string
		rows  []AccessRow
		want  string
		until *time.Time
	}{
		{"nothing", nil, AccessRevoked, nil},
		{"one grant", []AccessRow{row("order/pi_1", AccessGranted, nil)}, AccessGranted, nil},
		{"grant beats suspension", []AccessRow{row("order/pi_1", AccessSuspended, nil), row("subscription/sub_1", AccessGranted, &jan)}, AccessGranted, &jan},
		{"grant beats revocation", []AccessRow{row("order/pi_1", AccessRevoked, nil), row("subscription/sub_1", AccessGranted, &jan)}, AccessGranted, &jan},
		{"suspension beats revocation", []AccessRow{row("order/pi_1", AccessRevoked, nil), row("subscription/sub_1", AccessSuspended, nil)}, AccessSuspended, nil},
		{"all revoked", []AccessRow{row("order/pi_1", AccessRevoked, nil), row("subscription/sub_1", AccessRevoked, nil)}, AccessRevoked, nil},
		{"latest end", []AccessRow{row("subscription/a", AccessGranted, &jan), row("subscription/b", AccessGranted, &feb)}, AccessGranted, &feb},
		{"no end wins", []AccessRow{row("subscription/a", AccessGranted, &jan), row("order/pi_1", AccessGranted, nil)}, AccessGranted, nil},
		{"later row of a source replaces", []AccessRow{row("order/pi_1", AccessGranted, nil), row("order/pi_1", AccessRevoked, nil)}, AccessRevoked, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := EffectiveAccess(tc.rows)
			if len(tc.rows) == 0 {
				if len(got) != 0 {
					t.Fatalf("got %+v", got)
				}
				return
			}
			if len(got) != 1 || got[0].Status != tc.want {
				t.Fatalf("got %+v, want %s", got, tc.want)
			}
			if (got[0].ValidUntil == nil) != (tc.until == nil) || (tc.until != nil && !got[0].ValidUntil.Equal(*tc.until)) {
				t.Errorf("valid until %v, want %v", got[0].ValidUntil, tc.until)
			}
		})
	}
	// Sorted by customer then product, sources sorted.
	got := EffectiveAccess([]AccessRow{
		{CustomerID: "cus_b", ProductID: "p", Source: "z", Status: AccessGranted},
		{CustomerID: "cus_a", ProductID: "q", Source: "y", Status: AccessGranted},
		{CustomerID: "cus_a", ProductID: "p", Source: "x", Status: AccessGranted},
		{CustomerID: "cus_a", ProductID: "p", Source: "a", Status: AccessRevoked},
	})
	if len(got) != 3 || got[0].ProductID != "p" || got[0].CustomerID != "cus_a" || got[1].ProductID != "q" ||
		got[2].CustomerID != "cus_b" || got[0].Sources[0].Source != "a" {
		t.Errorf("order %+v", got)
	}
}
