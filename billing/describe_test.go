package billing

import (
	"testing"
	"time"
)

func TestDescribeCampaigns(t *testing.T) {
	day := func(d, h, m int) time.Time { return time.Date(2024, 4, d, h, m, 0, 0, time.UTC) }
	ptr := func(t time.Time) *time.Time { return &t }
	p := DefaultPolicy()
	stripe := p
	stripe.Mode = ModeStripe
	unpaid := p
	unpaid.FinalAction = FinalUnpaid
	for _, tc := range []struct {
		name string
		c    Campaign
		want string
	}{
		{"retry scheduled after one failed",
			Campaign{InvoiceID: "in_123", Policy: p, FailedAt: day(1, 13, 30), DeclineCode: "insufficient_funds", Attempts: 1,
				NextRetryAt: ptr(day(6, 13, 30)), GraceEndsAt: day(7, 13, 30), FinalAt: ptr(day(8, 13, 30))},
			"sub_1: past_due; invoice in_123 failed 2024-04-01 13:30 UTC (insufficient_funds), retry 1 failed, " +
				"retry 2 of 3 on 2024-04-06 13:30 UTC, access suspended from 2024-04-07 13:30 UTC, final action cancel on 2024-04-08 13:30 UTC"},
		{"first retry, soft decline with its code",
			Campaign{InvoiceID: "in_1", Policy: p, FailedAt: day(1, 0, 0), DeclineCode: "generic_decline",
				NextRetryAt: ptr(day(4, 0, 0)), GraceEndsAt: day(7, 0, 0), FinalAt: ptr(day(8, 0, 0))},
			"sub_1: past_due; invoice in_1 failed 2024-04-01 00:00 UTC (soft: generic_decline), " +
				"retry 1 of 3 on 2024-04-04 00:00 UTC, access suspended from 2024-04-07 00:00 UTC, final action cancel on 2024-04-08 00:00 UTC"},
		{"hard decline waits for a card",
			Campaign{InvoiceID: "in_1", Policy: p, FailedAt: day(1, 0, 0), DeclineCode: "stolen_card", HardDecline: true,
				GraceEndsAt: day(7, 0, 0), FinalAt: ptr(day(8, 0, 0))},
			"sub_1: past_due; invoice in_1 failed 2024-04-01 00:00 UTC (hard: stolen_card), waiting for a new card, " +
				"access suspended from 2024-04-07 00:00 UTC, final action cancel on 2024-04-08 00:00 UTC"},
		{"suspended, last retry charging",
			Campaign{InvoiceID: "in_1", Policy: unpaid, FailedAt: day(1, 0, 0), DeclineCode: "insufficient_funds", Attempts: 2, ChargePending: 3,
				Suspended: true, GraceEndsAt: day(7, 0, 0), FinalAt: ptr(day(8, 0, 0))},
			"sub_1: past_due; invoice in_1 failed 2024-04-01 00:00 UTC (insufficient_funds), retries 1-2 failed, access suspended, " +
				"retry 3 of 3 charging, final action unpaid on 2024-04-08 00:00 UTC"},
		{"3-D Secure",
			Campaign{InvoiceID: "in_1", Policy: p, FailedAt: day(1, 0, 0), ActionRequired: true, GraceEndsAt: day(7, 0, 0)},
			"sub_1: past_due; invoice in_1 failed 2024-04-01 00:00 UTC (authentication_required), waiting for the customer to authenticate, " +
				"access suspended from 2024-04-07 00:00 UTC"},
		{"decline being asked",
			Campaign{InvoiceID: "in_1", Policy: p, FailedAt: day(1, 0, 0), DeclinePending: true, GraceEndsAt: day(7, 0, 0)},
			"sub_1: past_due; invoice in_1 failed 2024-04-01 00:00 UTC (decline pending), asking Stripe why, access suspended from 2024-04-07 00:00 UTC"},
		{"final action taken",
			Campaign{InvoiceID: "in_1", Policy: p, FailedAt: day(1, 0, 0), DeclineCode: "insufficient_funds", Attempts: 3, Suspended: true, Final: true},
			"sub_1: past_due; invoice in_1 failed 2024-04-01 00:00 UTC (insufficient_funds), retries 1-3 failed, access suspended, final action cancel taken"},
		{"stripe mode retrying",
			Campaign{InvoiceID: "in_1", Policy: stripe, FailedAt: day(1, 0, 0), DeclineCode: "insufficient_funds", StripeAttempt: 3,
				GraceEndsAt: day(7, 0, 0)},
			"sub_1: past_due; invoice in_1 failed 2024-04-01 00:00 UTC (insufficient_funds), Stripe attempts 2-3 failed, Stripe is retrying, " +
				"access suspended from 2024-04-07 00:00 UTC"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := Subscription{ID: "sub_1", Status: StatusPastDue, Campaigns: []Campaign{tc.c}}
			if got := s.Describe(); got != tc.want {
				t.Errorf("Describe\n got %q\nwant %q", got, tc.want)
			}
		})
	}
}
