package billing

import (
	"slices"
	"strings"
	"testing"
	"time"
)

func planSummary(p Policy) []string {
	var out []string
	for _, s := range p.Plan() {
		when := "?"
		if s.Known {
			when = s.After.String()
		}
		out = append(out, when+" "+s.kind+" "+s.Email)
	}
	return out
}

func TestPlan(t *testing.T) {
	h := time.Hour
	cases := []struct {
		name     string
		p        Policy
		want     []string
		warnings []string // substrings, one per warning
	}{
		{"default: every step apart", DefaultPolicy(), []string{
			"0s failure dunning_first_failure", "72h0m0s retry dunning_reminder", "120h0m0s retry dunning_reminder",
			"144h0m0s suspend access_suspended", "168h0m0s retry ", "168h0m0s final dunning_final_notice"}, nil},
		{"grace equals the last retry: the final action supersedes the suspension",
			Policy{Mode: ModePayflow, RetryDelays: []time.Duration{72 * h, 120 * h, 168 * h}, Grace: 168 * h, FinalAction: FinalCancel},
			[]string{"0s failure dunning_first_failure", "72h0m0s retry dunning_reminder", "120h0m0s retry dunning_reminder",
				"168h0m0s retry ", "168h0m0s final dunning_final_notice"}, []string{"equals the last retry"}},
		{"grace equals a retry", Policy{Mode: ModePayflow, RetryDelays: []time.Duration{h, 2 * h, 3 * h}, Grace: 2 * h, FinalAction: FinalNone},
			[]string{"0s failure dunning_first_failure", "1h0m0s retry dunning_reminder", "2h0m0s retry dunning_reminder",
				"2h0m0s suspend access_suspended", "3h0m0s retry ", "3h0m0s final dunning_final_notice"}, []string{"equals retry 2"}},
		{"grace after the final action", Policy{Mode: ModePayflow, RetryDelays: []time.Duration{h}, Grace: 2 * h, FinalAction: FinalUnpaid},
			[]string{"0s failure dunning_first_failure", "1h0m0s retry ", "1h0m0s final dunning_final_notice"}, []string{"after the last retry"}},
		{"no retries in payflow mode", Policy{Mode: ModePayflow, Grace: h, FinalAction: FinalCancel},
			[]string{"0s failure dunning_first_failure", "1h0m0s suspend access_suspended"}, []string{"DUNNING_RETRY_DELAYS is empty"}},
		{"grace 0", Policy{Mode: ModeStripe, FinalAction: FinalCancel},
			[]string{"0s failure dunning_first_failure", "? retry dunning_reminder", "0s suspend access_suspended", "? final dunning_final_notice"},
			[]string{"DUNNING_GRACE is 0"}},
		{"stripe mode", Policy{Mode: ModeStripe, Grace: 144 * h, FinalAction: FinalCancel},
			[]string{"0s failure dunning_first_failure", "? retry dunning_reminder", "144h0m0s suspend access_suspended", "? final dunning_final_notice"}, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := planSummary(tc.p); !slices.Equal(got, tc.want) {
				t.Errorf("plan\n%q\nwant\n%q", got, tc.want)
			}
			w := tc.p.Warnings()
			if len(w) != len(tc.warnings) {
				t.Fatalf("warnings %q, want %q", w, tc.warnings)
			}
			for i := range w {
				if !strings.Contains(w[i], tc.warnings[i]) {
					t.Errorf("warning %q lacks %q", w[i], tc.warnings[i])
				}
			}
		})
	}
}

// The plan is what the core does: under the default policy a campaign that
// never recovers sends the suspension and the final notice at different
// moments.
func TestDefaultPolicySuspendsBeforeTheFinalAction(t *testing.T) {
	r := active(t, DefaultPolicy())
	r.now = t0.Add(30 * day)
	r.apply(failedInv("evt_f1", "in_1", 30*day, 2000, "subscription_cycle", "insufficient_funds"))
	r.advance(6*day+time.Hour, declined("insufficient_funds"), stillOpen)
	if !hasPurpose(r.all, PurposeSuspended) || hasPurpose(r.all, PurposeDunningFinal) {
		t.Fatalf("day 6: %v", purposesOf(r.all))
	}
	r.advance(2*day, declined("insufficient_funds"), stillOpen)
	if !hasPurpose(r.last, PurposeDunningFinal) || hasPurpose(r.last, PurposeSuspended) {
		t.Errorf("day 7: %v", purposesOf(r.last))
	}
}
