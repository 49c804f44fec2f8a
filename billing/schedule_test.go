package billing

import (
	"slices"
	"strings"
	"testing"
	"time"
)

func scheduledPolicy() Policy {
	p := DefaultPolicy()
	p.Schedules = []DeclineSchedule{
		{Category: DeclineSoft, Delays: []time.Duration{24 * time.Hour, 72 * time.Hour, 168 * time.Hour}},
		{Category: DeclineInsufficientFunds, Delays: []time.Duration{96 * time.Hour, 216 * time.Hour}},
		{Category: DeclineAuthenticationRequired},
	}
	return p
}

// Each decline category follows its own schedule, chosen by the first
// failure's decline code: the retries, the final action at the last one.
func TestScheduleFollowsTheDeclineCategory(t *testing.T) {
	for _, tc := range []struct {
		code       string
		wantDelays []time.Duration
	}{
		{"generic_decline", []time.Duration{24 * time.Hour, 72 * time.Hour, 168 * time.Hour}},
		{"insufficient_funds", []time.Duration{96 * time.Hour, 216 * time.Hour}},
	} {
		t.Run(tc.code, func(t *testing.T) {
			r := failing(t, scheduledPolicy(), DeclineResult{DeclineCode: tc.code, Code: "card_declined"})
			failedAt := r.now
			c := r.s.campaign("in_1")
			if c == nil || !c.Scheduled || !slices.Equal(c.Delays, tc.wantDelays) {
				t.Fatalf("campaign %+v", c)
			}
			last := tc.wantDelays[len(tc.wantDelays)-1]
			if c.FinalAt == nil || !c.FinalAt.Equal(failedAt.Add(last)) {
				t.Fatalf("final at %v, want failure + %s", c.FinalAt, last)
			}
			var at []time.Duration
			r.advance(20*day, func(rc RetryCharge) ChargeResult {
				at = append(at, r.now.Sub(failedAt))
				return ChargeResult{InvoiceID: rc.InvoiceID, Attempt: rc.Attempt, InvoiceStatus: InvoiceOpen, DeclineCode: tc.code}
			}, stillOpen)
			if len(at) != len(tc.wantDelays) {
				t.Fatalf("charged at %v, want %v", at, tc.wantDelays)
			}
			for i := range at {
				if at[i] < tc.wantDelays[i] || at[i] > tc.wantDelays[i]+time.Hour {
					t.Errorf("retry %d at %s, want %s", i+1, at[i], tc.wantDelays[i])
				}
			}
			if c := r.s.campaign("in_1"); c != nil && !c.Final {
				t.Errorf("campaign not final after its last retry: %+v", c)
			}
		})
	}
}

// authentication_required is never retried off-session (Stripe's rule):
// the customer is asked to confirm the payment, no charge is attempted,
// and a new card retries at once.
func TestAuthenticationRequiredWaitsForTheCustomer(t *testing.T) {
	r := failing(t, DefaultPolicy(), DeclineResult{DeclineCode: "authentication_required", Code: "card_declined"})
	c := r.s.campaign("in_1")
	if c == nil || !c.ActionRequired || c.NextRetryAt != nil || c.Stage() != StageAwaitingCustomer {
		t.Fatalf("campaign %+v", c)
	}
	var action int
	for _, e := range of[SendEmail](r.all) {
		switch e.Purpose {
		case PurposeActionRequired:
			action++
		case PurposeDunningFirst, PurposeDunningReminder:
			t.Errorf("retry email %+v", e)
		}
	}
	if action != 1 {
		t.Fatalf("%d action-required emails: %s", action, names(r.all))
	}
	r.advance(5*day, noCharge(t), stillOpen)
	if n := len(of[RetryCharge](r.all)); n != 0 {
		t.Fatalf("%d retries", n)
	}
	r.update(pmUpdate("evt_pm", "payment_method.attached", 35*day+time.Hour), paid)
	if n := len(of[RetryCharge](r.all)); n != 1 {
		t.Fatalf("%d retries after the new card, want 1", n)
	}
	if c := r.s.campaign("in_1"); c != nil {
		t.Errorf("campaign still open after the paid retry: %+v", c)
	}
}

// A retry that comes back needing authentication stops the schedule.
func TestRetryNeedingAuthenticationStopsRetries(t *testing.T) {
	r := failing(t, scheduledPolicy(), DeclineResult{DeclineCode: "generic_decline"})
	r.advance(2*day, declined("authentication_required"), stillOpen)
	if n := len(of[RetryCharge](r.all)); n != 1 {
		t.Fatalf("%d retries", n)
	}
	c := r.s.campaign("in_1")
	if c == nil || !c.ActionRequired || c.NextRetryAt != nil {
		t.Fatalf("campaign %+v", c)
	}
	r.advance(4*day, noCharge(t), stillOpen)
}

// A campaign started under a policy without schedules (before they
// existed) keeps retrying every category on RetryDelays.
func TestPolicyWithoutSchedulesRetriesAuthenticationRequired(t *testing.T) {
	p := DefaultPolicy()
	p.Schedules = nil
	r := failing(t, p, DeclineResult{DeclineCode: "authentication_required"})
	c := r.s.campaign("in_1")
	if c == nil || c.Scheduled || c.NextRetryAt == nil {
		t.Fatalf("campaign %+v", c)
	}
}

func TestParseSchedules(t *testing.T) {
	got, err := ParseSchedules(" authentication_required=none; insufficient_funds=96h,168h ;soft=24h ")
	if err != nil {
		t.Fatal(err)
	}
	if s := FormatSchedules(got); s != "soft=24h; insufficient_funds=96h,168h; authentication_required=none" {
		t.Errorf("round trip %q", s)
	}
	p := DefaultPolicy()
	p.Schedules = got
	if err := p.Validate(); err != nil {
		t.Errorf("valid schedules refused: %v", err)
	}
	for in, want := range map[string]string{
		"hard=24h":                 "unknown decline category",
		"soft=24h;soft=48h":        "twice",
		"soft=48h,24h":             "increasing",
		"soft":                     "want category=delays",
		"soft=":                    "want category=delays",
		"insufficient_funds=3days": "bad duration",
	} {
		ss, err := ParseSchedules(in)
		if err == nil {
			p.Schedules = ss
			err = p.Validate()
		}
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: error %v, want %q", in, err, want)
		}
	}
}

// The plan of each category is what its campaigns do.
func TestPlanForEachCategory(t *testing.T) {
	p := scheduledPolicy()
	sum := func(cat string) []string {
		var out []string
		for _, s := range p.PlanFor(cat) {
			out = append(out, s.After.String()+" "+s.kind+" "+s.Email)
		}
		return out
	}
	for cat, want := range map[string][]string{
		DeclineInsufficientFunds: {"0s failure dunning_first_failure", "96h0m0s retry dunning_reminder",
			"144h0m0s suspend access_suspended", "216h0m0s retry ", "216h0m0s final dunning_final_notice"},
		DeclineAuthenticationRequired: {"0s failure payment_action_required", "144h0m0s suspend access_suspended",
			"216h0m0s final dunning_final_notice"},
		DeclineHard: {"0s failure dunning_update_card", "144h0m0s suspend access_suspended", "216h0m0s final dunning_final_notice"},
	} {
		if got := sum(cat); !slices.Equal(got, want) {
			t.Errorf("%s:\n%q\nwant\n%q", cat, got, want)
		}
	}
}
