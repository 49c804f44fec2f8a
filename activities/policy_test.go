package activities_test

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/payflow/payflow/activities"
)

func TestDefaultDunningPolicy(t *testing.T) {
	p := activities.DefaultDunningPolicy()
	if err := p.Validate(); err != nil {
		t.Fatalf("default policy invalid: %v", err)
	}
	want := []time.Duration{72 * time.Hour, 120 * time.Hour, 168 * time.Hour}
	if p.Mode != activities.ModePayflow || !slices.Equal(p.RetryDelays, want) ||
		p.Grace != 168*time.Hour || p.FinalAction != activities.FinalCancel {
		t.Errorf("default policy %+v", p)
	}
	// Each call returns its own slice.
	p.RetryDelays[0] = time.Minute
	if activities.DefaultDunningPolicy().RetryDelays[0] != 72*time.Hour {
		t.Error("DefaultDunningPolicy shares its RetryDelays")
	}
}

func TestDunningPolicyValidate(t *testing.T) {
	ok := activities.DefaultDunningPolicy()
	h := time.Hour
	cases := []struct {
		name    string
		change  func(*activities.DunningPolicy)
		wantErr string // "" means valid
	}{
		{"default", func(*activities.DunningPolicy) {}, ""},
		{"stripe mode", func(p *activities.DunningPolicy) { p.Mode = activities.ModeStripe }, ""},
		{"final unpaid", func(p *activities.DunningPolicy) { p.FinalAction = activities.FinalUnpaid }, ""},
		{"final none", func(p *activities.DunningPolicy) { p.FinalAction = activities.FinalNone }, ""},
		{"no retries", func(p *activities.DunningPolicy) { p.RetryDelays = nil }, ""},
		{"zero grace", func(p *activities.DunningPolicy) { p.Grace = 0 }, ""},
		{"one retry", func(p *activities.DunningPolicy) { p.RetryDelays = []time.Duration{h} }, ""},
		{"empty mode", func(p *activities.DunningPolicy) { p.Mode = "" }, "DUNNING_MODE"},
		{"unknown mode", func(p *activities.DunningPolicy) { p.Mode = "smart" }, "DUNNING_MODE"},
		{"empty final action", func(p *activities.DunningPolicy) { p.FinalAction = "" }, "DUNNING_FINAL_ACTION"},
		{"unknown final action", func(p *activities.DunningPolicy) { p.FinalAction = "delete" }, "DUNNING_FINAL_ACTION"},
		{"negative grace", func(p *activities.DunningPolicy) { p.Grace = -h }, "DUNNING_GRACE"},
		{"zero delay", func(p *activities.DunningPolicy) { p.RetryDelays = []time.Duration{0, h} }, "DUNNING_RETRY_DELAYS"},
		{"negative delay", func(p *activities.DunningPolicy) { p.RetryDelays = []time.Duration{-h} }, "DUNNING_RETRY_DELAYS"},
		{"decreasing", func(p *activities.DunningPolicy) { p.RetryDelays = []time.Duration{2 * h, h} }, "DUNNING_RETRY_DELAYS"},
		{"repeated", func(p *activities.DunningPolicy) { p.RetryDelays = []time.Duration{h, h} }, "DUNNING_RETRY_DELAYS"},
		{"decreasing later", func(p *activities.DunningPolicy) { p.RetryDelays = []time.Duration{h, 3 * h, 2 * h} }, "DUNNING_RETRY_DELAYS"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := ok
			p.RetryDelays = slices.Clone(ok.RetryDelays)
			tc.change(&p)
			err := p.Validate()
			switch {
			case tc.wantErr == "" && err != nil:
				t.Errorf("valid policy refused: %v", err)
			case tc.wantErr != "" && err == nil:
				t.Errorf("invalid policy %+v accepted", p)
			case tc.wantErr != "" && !strings.Contains(err.Error(), tc.wantErr):
				t.Errorf("error %q does not name %s", err, tc.wantErr)
			}
		})
	}
}

func TestParseDelays(t *testing.T) {
	cases := []struct {
		in      string
		want    []time.Duration
		wantErr bool
	}{
		{"72h,120h,168h", []time.Duration{72 * time.Hour, 120 * time.Hour, 168 * time.Hour}, false},
		{" 1h , 90m ,2h30m ", []time.Duration{time.Hour, 90 * time.Minute, 150 * time.Minute}, false},
		{"24h,,48h,", []time.Duration{24 * time.Hour, 48 * time.Hour}, false},
		{"", nil, false},
		{" , ", nil, false},
		{"3d", nil, true},
		{"72", nil, true},
		{"72h;120h", nil, true},
		{"72h,soon", nil, true},
		{"-1h", []time.Duration{-time.Hour}, false}, // parses; Validate refuses it
	}
	for _, tc := range cases {
		got, err := activities.ParseDelays(tc.in)
		if (err != nil) != tc.wantErr {
			t.Errorf("ParseDelays(%q): err %v, want error %v", tc.in, err, tc.wantErr)
			continue
		}
		if !tc.wantErr && !slices.Equal(got, tc.want) {
			t.Errorf("ParseDelays(%q) = %v, want %v", tc.in, got, tc.want)
		}
	}
	// What ParseDelays reads from DUNNING_RETRY_DELAYS goes through Validate.
	bad, err := activities.ParseDelays("120h,72h")
	if err != nil {
		t.Fatal(err)
	}
	p := activities.DefaultDunningPolicy()
	p.RetryDelays = bad
	if p.Validate() == nil {
		t.Error("decreasing delays from ParseDelays accepted")
	}
}

func TestIsHardDecline(t *testing.T) {
	codes := activities.HardDeclineCodes()
	if len(codes) == 0 {
		t.Fatal("no hard decline codes")
	}
	if !slices.IsSorted(codes) {
		t.Errorf("HardDeclineCodes not sorted: %v", codes)
	}
	for _, c := range codes {
		if !activities.IsHardDecline(c) {
			t.Errorf("IsHardDecline(%q) = false", c)
		}
	}
	for _, c := range []string{"stolen_card", "lost_card", "pickup_card", "fraudulent", "expired_card"} {
		if !slices.Contains(codes, c) {
			t.Errorf("%s missing from HardDeclineCodes", c)
		}
	}
	// Soft declines: a later retry can succeed.
	for _, c := range []string{"insufficient_funds", "generic_decline", "do_not_honor", "try_again_later",
		"processing_error", "authentication_required", "card_velocity_exceeded", "", "STOLEN_CARD"} {
		if activities.IsHardDecline(c) {
			t.Errorf("IsHardDecline(%q) = true, want false", c)
		}
	}
	// The list is a copy.
	codes[0] = "insufficient_funds"
	if activities.IsHardDecline("insufficient_funds") {
		t.Error("changing HardDeclineCodes' result changed IsHardDecline")
	}
}
