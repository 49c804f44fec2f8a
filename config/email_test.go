package config

import (
	"bytes"
	"maps"
	"strings"
	"testing"
)

const (
	tplReceipt = "d-5f1c0e3a9b2d4c6e8f0a1b2c3d4e5f60"
	tplFirst   = "d-0123456789abcdef0123456789ABCDEF"
)

func TestEmailSettings(t *testing.T) {
	c, err := Load(env(map[string]string{
		"EMAIL_BRAND_NAME": " Northwind Studio ", "EMAIL_REPLY_TO": "support@northwind.example",
		"SENDGRID_TEMPLATES": " receipt=" + tplReceipt + " , dunning_first_failure=" + tplFirst + ",",
	}))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"receipt": tplReceipt, "dunning_first_failure": tplFirst}
	if c.Email.BrandName != "Northwind Studio" || c.Email.ReplyTo != "support@northwind.example" || !maps.Equal(c.Email.Templates, want) {
		t.Errorf("email %+v", c.Email)
	}
	var b bytes.Buffer
	c.Print(&b)
	if !strings.Contains(b.String(), "SENDGRID_TEMPLATES           dunning_first_failure="+tplFirst+",receipt="+tplReceipt+"\n") {
		t.Errorf("printed:\n%s", b.String())
	}
	if e, err := LoadEmail(env(nil)); err != nil || e.BrandName != "" || e.ReplyTo != "" || e.Templates != nil {
		t.Errorf("defaults %+v %v", e, err)
	}
}

func TestEmailSettingsRefused(t *testing.T) {
	for _, tc := range []struct{ name, value, want string }{
		{"EMAIL_REPLY_TO", "Support <support@northwind.example>", "EMAIL_REPLY_TO: want an email address"},
		{"EMAIL_REPLY_TO", "support", "EMAIL_REPLY_TO"},
		{"EMAIL_BRAND_NAME", "Northwind\nBcc: x@example.com", "EMAIL_BRAND_NAME"},
		{"EMAIL_BRAND_NAME", strings.Repeat("N", 101), "EMAIL_BRAND_NAME"},
		{"SENDGRID_TEMPLATES", "receipt", "want purpose=d-… pairs"},
		{"SENDGRID_TEMPLATES", "receit=" + tplReceipt, `unknown email purpose "receit"`},
		{"SENDGRID_TEMPLATES", "receipt=d-123", "want a dynamic template ID"},
		{"SENDGRID_TEMPLATES", "receipt=13b8f94f-bcae-4ec6-b75a-2e0b3b8a0d2a", "want a dynamic template ID"},
		{"SENDGRID_TEMPLATES", "receipt=" + tplReceipt + ",receipt=" + tplFirst, "receipt is given twice"},
	} {
		_, err := Load(env(map[string]string{tc.name: tc.value}))
		if err == nil || !strings.Contains(err.Error(), tc.name+": ") || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s=%q: %v, want an error with %q", tc.name, tc.value, err, tc.want)
		}
	}
}
