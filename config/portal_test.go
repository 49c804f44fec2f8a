package config

import (
	"bytes"
	"regexp"
	"strings"
	"testing"
	"time"
)

const linkSecret = "s3cr3t-link-key-0123456789abcdefghijkl"

func portalEnv(extra map[string]string) map[string]string {
	kv := map[string]string{
		"PAYFLOW_PUBLIC_URL":               "https://pay.example.com/",
		"PAYFLOW_LINK_SECRET":              linkSecret,
		"STRIPE_BILLING_PORTAL_RETURN_URL": "https://app.example.com/account",
	}
	for k, v := range extra {
		if v == "" {
			delete(kv, k)
		} else {
			kv[k] = v
		}
	}
	return kv
}

func TestPortalLinksOffByDefault(t *testing.T) {
	c, err := Load(env(nil))
	if err != nil {
		t.Fatal(err)
	}
	if c.PortalLinks() || c.PortalLinkTTL != 720*time.Hour {
		t.Errorf("portal links %v, TTL %v; want off, 720h", c.PortalLinks(), c.PortalLinkTTL)
	}
}

func TestPortalLinksOn(t *testing.T) {
	c, err := Load(env(portalEnv(map[string]string{
		"STRIPE_BILLING_PORTAL_CONFIGURATION": "bpc_1OtherConfig",
		"PAYFLOW_PORTAL_LINK_TTL":             "240h",
	})))
	if err != nil {
		t.Fatal(err)
	}
	if !c.PortalLinks() {
		t.Fatal("portal links off with all three variables set")
	}
	if c.PublicURL != "https://pay.example.com" || c.LinkSecret != linkSecret || c.PortalReturnURL != "https://app.example.com/account" ||
		c.PortalConfiguration != "bpc_1OtherConfig" || c.PortalLinkTTL != 240*time.Hour {
		t.Errorf("config %+v", c)
	}
}

// A part of the configuration is refused, naming each missing variable,
// and never quoting the secret.
func TestPortalPartialConfiguration(t *testing.T) {
	cases := []struct {
		name    string
		kv      map[string]string
		missing []string
	}{
		{"no public URL", portalEnv(map[string]string{"PAYFLOW_PUBLIC_URL": ""}), []string{"PAYFLOW_PUBLIC_URL"}},
		{"no secret", portalEnv(map[string]string{"PAYFLOW_LINK_SECRET": ""}), []string{"PAYFLOW_LINK_SECRET"}},
		{"no return URL", portalEnv(map[string]string{"STRIPE_BILLING_PORTAL_RETURN_URL": ""}), []string{"STRIPE_BILLING_PORTAL_RETURN_URL"}},
		{"secret only", map[string]string{"PAYFLOW_LINK_SECRET": linkSecret}, []string{"PAYFLOW_PUBLIC_URL", "STRIPE_BILLING_PORTAL_RETURN_URL"}},
		{"configuration only", map[string]string{"STRIPE_BILLING_PORTAL_CONFIGURATION": "bpc_1"},
			[]string{"PAYFLOW_PUBLIC_URL", "PAYFLOW_LINK_SECRET", "STRIPE_BILLING_PORTAL_RETURN_URL"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, err := Load(env(tc.kv))
			if err == nil {
				t.Fatal("partial configuration accepted")
			}
			if c.PortalLinks() {
				t.Error("portal links on")
			}
			for _, name := range tc.missing {
				if !regexp.MustCompile(`(?m)^` + name + `: `).MatchString(err.Error()) {
					t.Errorf("error does not name %s:\n%v", name, err)
				}
			}
			if strings.Contains(err.Error(), linkSecret) {
				t.Errorf("error quotes the secret:\n%v", err)
			}
		})
	}
}

func TestPortalValidation(t *testing.T) {
	cases := map[string]map[string]string{
		"PAYFLOW_LINK_SECRET":                 {"PAYFLOW_LINK_SECRET": "too-short-secret"},
		"PAYFLOW_PUBLIC_URL":                  {"PAYFLOW_PUBLIC_URL": "pay.example.com"},
		"STRIPE_BILLING_PORTAL_RETURN_URL":    {"STRIPE_BILLING_PORTAL_RETURN_URL": "/account"},
		"STRIPE_BILLING_PORTAL_CONFIGURATION": {"STRIPE_BILLING_PORTAL_CONFIGURATION": "cfg_1"},
		"PAYFLOW_PORTAL_LINK_TTL":             {"PAYFLOW_PORTAL_LINK_TTL": "0s"},
	}
	for name, extra := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := Load(env(portalEnv(extra)))
			if err == nil || !regexp.MustCompile(`(?m)^`+name+`: `).MatchString(err.Error()) {
				t.Fatalf("error %v does not name %s", err, name)
			}
			if strings.Contains(err.Error(), "too-short-secret") {
				t.Errorf("error quotes the secret: %v", err)
			}
		})
	}
	for _, ttl := range []string{"-1h", "a month"} {
		if _, err := Load(env(portalEnv(map[string]string{"PAYFLOW_PORTAL_LINK_TTL": ttl}))); err == nil ||
			!strings.Contains(err.Error(), "PAYFLOW_PORTAL_LINK_TTL") {
			t.Errorf("TTL %q: %v", ttl, err)
		}
	}
	if _, err := Load(env(portalEnv(map[string]string{"PAYFLOW_PUBLIC_URL": "https://pay.example.com/?x=1"}))); err == nil {
		t.Error("public URL with a query accepted")
	}
}

// payflow config shows only whether the link secret is set.
func TestPrintHidesLinkSecret(t *testing.T) {
	c, err := Load(env(portalEnv(nil)))
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	c.Print(&b)
	out := b.String()
	if strings.Contains(out, linkSecret) || strings.Contains(out, linkSecret[len(linkSecret)-4:]) {
		t.Errorf("payflow config shows the link secret:\n%s", out)
	}
	for _, want := range []string{`(?m)^PAYFLOW_LINK_SECRET\s+\(set\)$`, `(?m)^PAYFLOW_PUBLIC_URL\s+https://pay\.example\.com$`,
		`(?m)^STRIPE_BILLING_PORTAL_RETURN_URL\s+https://app\.example\.com/account$`, `(?m)^PAYFLOW_PORTAL_LINK_TTL\s+720h0m0s$`} {
		if !regexp.MustCompile(want).MatchString(out) {
			t.Errorf("payflow config lacks %s:\n%s", want, out)
		}
	}
	c, _ = Load(env(nil))
	b.Reset()
	c.Print(&b)
	if !regexp.MustCompile(`(?m)^PAYFLOW_LINK_SECRET\s*$`).MatchString(b.String()) {
		t.Errorf("unset link secret not shown as empty:\n%s", b.String())
	}
}
