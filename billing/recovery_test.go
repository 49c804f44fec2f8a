package billing

import "testing"

func TestDeclineCategory(t *testing.T) {
	p := DefaultPolicy()
	for _, tc := range []struct{ code, want string }{
		{"stolen_card", DeclineHard},
		{"lost_card", DeclineHard},
		{"fraudulent", DeclineHard},
		{"expired_card", DeclineHard},
		{"insufficient_funds", DeclineInsufficientFunds},
		{"card_velocity_exceeded", DeclineInsufficientFunds},
		{"withdrawal_count_limit_exceeded", DeclineInsufficientFunds},
		{"authentication_required", DeclineAuthenticationRequired},
		{"generic_decline", DeclineSoft},
		{"do_not_honor", DeclineSoft},
		{"processing_error", DeclineSoft},
		{"", DeclineSoft},
		{"something_new", DeclineSoft},
	} {
		if got := p.DeclineCategory(tc.code); got != tc.want {
			t.Errorf("DeclineCategory(%q) = %q, want %q", tc.code, got, tc.want)
		}
	}
	// hard is the policy's list: a policy without it calls stolen_card soft.
	if got := (Policy{}).DeclineCategory("stolen_card"); got != DeclineSoft {
		t.Errorf("empty policy: stolen_card = %q, want soft", got)
	}
}

func TestCampaignDeclineCategoryAndRecovery(t *testing.T) {
	p := DefaultPolicy()
	for _, tc := range []struct {
		name         string
		c            Campaign
		inv          Invoice
		category     string
		attempt      string
		amount       int64
		currencyWant string
	}{
		{"first retry paid", Campaign{InvoiceID: "in_1", Policy: p, DeclineCode: "insufficient_funds"},
			Invoice{ID: "in_1", Status: InvoicePaid, AmountPaid: 2000, Currency: "usd"}, DeclineInsufficientFunds, "1", 2000, "usd"},
		{"hard decline, card updated after two retries", Campaign{InvoiceID: "in_1", Policy: p, DeclineCode: "stolen_card", HardDecline: true, Attempts: 2},
			Invoice{ID: "in_1", Status: InvoicePaid, AmountPaid: 500, Currency: "eur"}, DeclineHard, "3", 500, "eur"},
		{"3-D Secure", Campaign{InvoiceID: "in_1", Policy: p, ActionRequired: true},
			Invoice{ID: "in_1", Status: InvoicePaid, AmountPaid: 700, Currency: "gbp"}, DeclineAuthenticationRequired, "1", 700, "gbp"},
		{"stripe attempt count, capped", Campaign{InvoiceID: "in_1", Policy: p, StripeAttempt: 4},
			Invoice{ID: "in_1", Status: InvoicePaid, AmountPaid: 100, AttemptCount: 6, Currency: "usd"}, DeclineSoft, "4+", 100, "usd"},
		{"paid amount unknown: amount due", Campaign{InvoiceID: "in_1", Policy: p, DeclineCode: "generic_decline", Attempts: 1},
			Invoice{ID: "in_1", Status: InvoicePaid, AmountDue: 900, Currency: "usd"}, DeclineSoft, "2", 900, "usd"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := RecoveryOf(tc.c, Subscription{Invoices: []Invoice{tc.inv}})
			want := Recovery{Category: tc.category, Attempt: tc.attempt, Amount: tc.amount, Currency: tc.currencyWant}
			if r != want {
				t.Errorf("RecoveryOf = %+v, want %+v", r, want)
			}
		})
	}
}
