package config

import (
	"bytes"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/payflow/payflow/billing"
)

func env(kv map[string]string) func(string) string { return func(k string) string { return kv[k] } }

func TestDefaults(t *testing.T) {
	c, err := Load(env(nil))
	if err != nil {
		t.Fatal(err)
	}
	if c.Addr != ":4242" || c.TaskQueue != "payflow" || c.DatabaseURL != "./.payflow/payflow.db" || c.WebhookTolerance != 300*time.Second {
		t.Fatalf("defaults: %+v", c)
	}
	if c.MetricsAddr != ":9464" || c.WebhookMaxBody != 1<<20 || c.WebhookMaxConns != 512 {
		t.Fatalf("receiver limits and ops listener: %+v", c)
	}
	if c.Dunning.Mode != "payflow" || len(c.Dunning.RetryDelays) != 3 || c.Dunning.RetryDelays[2] != 168*time.Hour || c.Dunning.FinalAction != "cancel" {
		t.Fatalf("dunning defaults: %+v", c.Dunning)
	}
}

func TestValidationNamesTheVariable(t *testing.T) {
	cases := map[string]map[string]string{
		"STRIPE_WEBHOOK_SECRET":       {"STRIPE_WEBHOOK_SECRET": "whsec_ok,notasecret"},
		"DUNNING_RETRY_DELAYS":        {"DUNNING_RETRY_DELAYS": "3d"},
		"DUNNING_GRACE":               {"DUNNING_GRACE": "-1h"},
		"DUNNING_MODE":                {"DUNNING_MODE": "maybe"},
		"DUNNING_FINAL_ACTION":        {"DUNNING_FINAL_ACTION": "delete"},
		"WEBHOOK_MAX_BODY":            {"WEBHOOK_MAX_BODY": "12"},
		"WEBHOOK_MAX_CONNECTIONS":     {"WEBHOOK_MAX_CONNECTIONS": "0"},
		"WEBHOOK_TOLERANCE":           {"WEBHOOK_TOLERANCE": "soon"},
		"STRIPE_API_BASE":             {"STRIPE_API_BASE": "localhost:12111"},
		"PROVISIONING_WEBHOOK_SECRET": {"PROVISIONING_WEBHOOK_URL": "https://app.example/hook"},
		"LOG_LEVEL":                   {"LOG_LEVEL": "loud"},
	}
	for name, kv := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := Load(env(kv))
			if err == nil || !strings.Contains(err.Error(), name) {
				t.Fatalf("error %v does not name %s", err, name)
			}
		})
	}
	if _, err := Load(env(map[string]string{"DUNNING_RETRY_DELAYS": "5h,2h"})); err == nil {
		t.Error("decreasing retry delays accepted")
	}
}

func TestPrintMasksSecrets(t *testing.T) {
	c, err := Load(env(map[string]string{
		"STRIPE_WEBHOOK_SECRET": "whsec_aaaaaaaaaaaaaaaaaaaa1111,whsec_bbbbbbbbbbbbbbbbbbbb2222",
		"STRIPE_API_KEY":        "sk_live_cccccccccccccccccc3333",
		"SENDGRID_API_KEY":      "SG.dddddddddddddddddddd4444",
		"DATABASE_URL":          "postgres://payflow:hunter2@db:5432/payflow",
	}))
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	c.Print(&b)
	out := b.String()
	for _, secret := range []string{"aaaaaaaa", "bbbbbbbb", "cccccccc", "dddddddd", "hunter2"} {
		if strings.Contains(out, secret) {
			t.Errorf("printed configuration leaks %q:\n%s", secret, out)
		}
	}
	for _, want := range []string{"whsec_…1111,whsec_…2222", "sk_live_…3333", "payflow:****@db"} {
		if !strings.Contains(out, want) {
			t.Errorf("printed configuration lacks %q:\n%s", want, out)
		}
	}
}

// The configuration table keeps every variable it prints in step with Vars.
func TestPrintListsEveryVariable(t *testing.T) {
	c, err := Load(env(map[string]string{"WEBHOOK_MAX_CONNECTIONS": "64"}))
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	c.Print(&b)
	for _, v := range Vars {
		if !strings.Contains(b.String(), v.Name+" ") {
			t.Errorf("payflow config does not print %s", v.Name)
		}
	}
	if !strings.Contains(b.String(), "WEBHOOK_MAX_CONNECTIONS      64\n") {
		t.Errorf("WEBHOOK_MAX_CONNECTIONS not read:\n%s", b.String())
	}
}

// DUNNING_* build the billing core's policy, hard declines included, so a
// test can run a whole campaign in seconds.
func TestDunningPolicy(t *testing.T) {
	c, err := Load(env(map[string]string{"DUNNING_MODE": "stripe", "DUNNING_RETRY_DELAYS": " 2s, 4s ,6s",
		"DUNNING_GRACE": "3s", "DUNNING_FINAL_ACTION": "unpaid"}))
	if err != nil {
		t.Fatal(err)
	}
	want := billing.Policy{Mode: billing.ModeStripe, RetryDelays: []time.Duration{2 * time.Second, 4 * time.Second, 6 * time.Second},
		Grace: 3 * time.Second, FinalAction: billing.FinalUnpaid, HardDeclines: billing.DefaultHardDeclines(),
		Schedules: billing.DefaultSchedules()}
	if !reflect.DeepEqual(c.Dunning, want) {
		t.Errorf("policy %+v, want %+v", c.Dunning, want)
	}
	if err := c.Dunning.Validate(); err != nil {
		t.Error(err)
	}
	if !c.Dunning.IsHardDecline("stolen_card") || c.Dunning.IsHardDecline("insufficient_funds") {
		t.Error("hard declines are not the core's")
	}
	d, err := Load(env(nil))
	if err != nil {
		t.Fatal(err)
	}
	if def := billing.DefaultPolicy(); !reflect.DeepEqual(d.Dunning, def) {
		t.Errorf("default policy %+v, want the core's default %+v", d.Dunning, def)
	}
	s, err := Load(env(map[string]string{"DUNNING_SCHEDULE": "insufficient_funds=96h,168h; authentication_required=none; soft=24h"}))
	if err != nil {
		t.Fatal(err)
	}
	if got := billing.FormatSchedules(s.Dunning.Schedules); got != "soft=24h; insufficient_funds=96h,168h; authentication_required=none" {
		t.Errorf("DUNNING_SCHEDULE read as %q", got)
	}
	if got := s.Dunning.DelaysFor(billing.DeclineInsufficientFunds); len(got) != 2 || got[0] != 96*time.Hour {
		t.Errorf("insufficient_funds delays %v", got)
	}
	for _, bad := range []string{"hard=24h", "soft=48h,24h", "soft", "soft=24h;soft=48h"} {
		if _, err := Load(env(map[string]string{"DUNNING_SCHEDULE": bad})); err == nil || !strings.Contains(err.Error(), "DUNNING_SCHEDULE") {
			t.Errorf("DUNNING_SCHEDULE=%q: error %v", bad, err)
		}
	}
}
