package config

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/payflow/payflow/billing"
)

// Email is how customer emails look and go out: the merchant's name, the
// support address replies go to, and the SendGrid dynamic template of
// each purpose that has one.
type Email struct {
	BrandName string            // EMAIL_BRAND_NAME
	ReplyTo   string            // EMAIL_REPLY_TO
	Templates map[string]string // SENDGRID_TEMPLATES: purpose → d-…
}

// LoadEmail reads EMAIL_BRAND_NAME, EMAIL_REPLY_TO and SENDGRID_TEMPLATES
// alone (`payflow emails preview` needs no other variable).
func LoadEmail(getenv func(string) string) (Email, error) {
	get := func(name, def string) string {
		if v := strings.TrimSpace(getenv(name)); v != "" {
			return v
		}
		return def
	}
	var e Email
	return e, errors.Join(e.load(get)...)
}

func (e *Email) load(get func(name, def string) string) []error {
	var errs []error
	bad := func(name, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", name, fmt.Sprintf(format, args...)))
	}
	e.BrandName = get("EMAIL_BRAND_NAME", "")
	if n := e.BrandName; n != billing.CleanName(n) || len([]rune(n)) > 100 {
		bad("EMAIL_BRAND_NAME", "want one line of at most 100 printable characters, got %q", n)
	}
	e.ReplyTo = get("EMAIL_REPLY_TO", "")
	if r := e.ReplyTo; r != "" && !plainAddress(r) {
		bad("EMAIL_REPLY_TO", "want an email address (support@example.com), got %q", r)
	}
	templates, err := ParseTemplates(get("SENDGRID_TEMPLATES", ""))
	if err != nil {
		bad("SENDGRID_TEMPLATES", "%v", err)
	}
	e.Templates = templates
	return errs
}

// plainAddress: local@domain.tld, without a display name, spaces or
// angle brackets (the name is EMAIL_BRAND_NAME's).
func plainAddress(s string) bool {
	local, domain, ok := strings.Cut(s, "@")
	return ok && local != "" && !strings.ContainsAny(s, " <>,;\"\t\r\n") && !strings.Contains(domain, "@") &&
		strings.Contains(strings.Trim(domain, "."), ".")
}

// ParseTemplates reads SENDGRID_TEMPLATES: purpose=d-… pairs,
// comma-separated, each purpose one of billing.Purposes() at most once,
// each ID a SendGrid dynamic template ID (d- and 32 hex digits). Empty:
// no templates, every email is payflow's own.
func ParseTemplates(s string) (map[string]string, error) {
	out := map[string]string{}
	purposes := billing.Purposes()
	for part := range strings.SplitSeq(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		purpose, id, ok := strings.Cut(part, "=")
		purpose, id = strings.TrimSpace(purpose), strings.TrimSpace(id)
		switch {
		case !ok:
			return nil, fmt.Errorf("want purpose=d-… pairs, comma-separated, got %q", part)
		case !slices.Contains(purposes, purpose):
			return nil, fmt.Errorf("unknown email purpose %q (known: %s)", purpose, strings.Join(purposes, ", "))
		case !dynamicTemplateID(id):
			return nil, fmt.Errorf("%s: want a dynamic template ID, d- and 32 hexadecimal characters (SendGrid › Email API › Dynamic Templates), got %q", purpose, id)
		case out[purpose] != "":
			return nil, fmt.Errorf("%s is given twice", purpose)
		}
		out[purpose] = id
	}
	if len(out) == 0 {
		return nil, nil
	}
	return out, nil
}

// FormatTemplates is ParseTemplates' input for templates, sorted.
func FormatTemplates(t map[string]string) string {
	var parts []string
	for _, p := range billing.Purposes() {
		if id := t[p]; id != "" {
			parts = append(parts, p+"="+id)
		}
	}
	return strings.Join(parts, ",")
}

func dynamicTemplateID(id string) bool {
	hex, ok := strings.CutPrefix(id, "d-")
	if !ok || len(hex) != 32 {
		return false
	}
	for _, c := range hex {
		if !strings.ContainsRune("0123456789abcdefABCDEF", c) {
			return false
		}
	}
	return true
}
