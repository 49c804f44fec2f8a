package config

import (
	"bytes"
	"strings"
	"testing"

	"github.com/payflow/payflow/billing"
)

// The documented defaults of DUNNING_* are the core's DefaultPolicy, and
// that policy has no two steps at the same moment.
func TestDunningDefaultsAreTheCoresAndDistinct(t *testing.T) {
	def := billing.DefaultPolicy()
	delays := make([]string, len(def.RetryDelays))
	for i, d := range def.RetryDelays {
		delays[i] = strings.TrimSuffix(strings.TrimSuffix(d.String(), "0s"), "0m")
	}
	want := map[string]string{"DUNNING_MODE": def.Mode, "DUNNING_RETRY_DELAYS": strings.Join(delays, ","),
		"DUNNING_GRACE": strings.TrimSuffix(strings.TrimSuffix(def.Grace.String(), "0s"), "0m"), "DUNNING_FINAL_ACTION": def.FinalAction}
	for _, v := range Vars {
		if w, ok := want[v.Name]; ok && v.Default != w {
			t.Errorf("%s documented default %q, the core's is %q", v.Name, v.Default, w)
		}
	}
	if w := def.Warnings(); len(w) != 0 {
		t.Errorf("default policy warns: %v", w)
	}
	last := def.RetryDelays[len(def.RetryDelays)-1]
	if def.Grace <= def.RetryDelays[len(def.RetryDelays)-2] || def.Grace >= last {
		t.Errorf("grace %s should fall between the last two retries %v", def.Grace, def.RetryDelays)
	}
}

// `payflow config` prints the timeline, day 0 to the final action, with
// the email of each step, and warns when two steps coincide.
func TestPrintShowsDunningTimeline(t *testing.T) {
	print := func(kv map[string]string) string {
		c, err := Load(env(kv))
		if err != nil {
			t.Fatal(err)
		}
		var b bytes.Buffer
		c.Print(&b)
		return b.String()
	}
	out := print(nil)
	_, timeline, ok := strings.Cut(out, "Dunning timeline (payflow mode; from the failed payment):\n")
	if !ok {
		t.Fatalf("no timeline:\n%s", out)
	}
	want := []string{
		"day 0 ", "payment fails", "email dunning_first_failure",
		"day 3 (72h0m0s)", "retry 1 of 3", "email dunning_reminder",
		"day 5 (120h0m0s)", "retry 2 of 3", "email dunning_reminder",
		"day 6 (144h0m0s)", "access suspended", "email access_suspended",
		"day 7 (168h0m0s)", "retry 3 of 3",
		"day 7 (168h0m0s)", "final action cancel", "email dunning_final_notice",
	}
	rest := timeline
	for _, w := range want {
		i := strings.Index(rest, w)
		if i < 0 {
			t.Fatalf("timeline lacks %q (in order):\n%s", w, timeline)
		}
		rest = rest[i+len(w):]
	}
	if strings.Contains(out, "WARNING") {
		t.Errorf("default policy warns:\n%s", out)
	}

	cases := map[string]map[string]string{
		"equals the last retry":   {"DUNNING_GRACE": "168h"},
		"equals retry 2":          {"DUNNING_GRACE": "120h"},
		"is after the last retry": {"DUNNING_GRACE": "200h"},
		"DUNNING_GRACE is 0":      {"DUNNING_GRACE": "0s"},
	}
	for want, kv := range cases {
		if out := print(kv); !strings.Contains(out, "WARNING: ") || !strings.Contains(out, want) {
			t.Errorf("%v: no warning %q:\n%s", kv, want, out)
		}
	}
	if out := print(map[string]string{"DUNNING_GRACE": "168h"}); strings.Contains(out, "email access_suspended") {
		t.Errorf("suspension superseded by the final action still listed:\n%s", out)
	}
	out = print(map[string]string{"DUNNING_MODE": "stripe", "DUNNING_GRACE": "30s"})
	for _, w := range []string{"stripe mode", "Stripe retries on its own schedule", "30s ", "Stripe's retries end", "email dunning_final_notice"} {
		if !strings.Contains(out, w) {
			t.Errorf("stripe timeline lacks %q:\n%s", w, out)
		}
	}
}

// Each decline category whose timeline differs from a soft decline's gets
// its own: authentication_required and hard wait for the customer, a
// configured insufficient_funds schedule is printed with its retries.
func TestPrintShowsEachCategory(t *testing.T) {
	c, err := Load(env(map[string]string{"DUNNING_SCHEDULE": "insufficient_funds=96h,216h; authentication_required=none"}))
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	c.Print(&b)
	out := b.String()
	for _, want := range []string{
		"DUNNING_SCHEDULE             insufficient_funds=96h,216h; authentication_required=none",
		"When the decline is insufficient_funds (retries: 96h,216h):\n  day 0 ",
		"day 4 (96h0m0s)    retry 1 of 2; if it fails → email dunning_reminder",
		"day 9 (216h0m0s)   final action cancel",
		"When the decline is authentication_required (retries: none):\n  day 0              payment needs authentication (3-D Secure)",
		"email payment_action_required",
		"When the decline is hard (retries: none):\n  day 0              payment fails with a hard decline",
		"email dunning_update_card",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("config output lacks %q:\n%s", want, out)
		}
	}
}
