package activities_test

import (
	"context"
	"errors"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/payflow/payflow/activities"
	"github.com/payflow/payflow/billing"
	"github.com/payflow/payflow/internal/portallink"
)

const (
	portalBase   = "https://pay.example.com"
	portalSecret = "activities-test-link-secret-0123456789abcdef"
	portalTTL    = 720 * time.Hour
)

var portalLinkRE = regexp.MustCompile(`Update your payment method in the billing portal: (https://pay\.example\.com/billing/portal/([A-Za-z0-9_-]+))`)

func portalLinks(t *testing.T) *portallink.Links {
	t.Helper()
	l, err := portallink.NewLinks(portalBase, portalSecret, portalTTL)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func dunningEmail(key, purpose string) billing.SendEmail {
	return billing.SendEmail{DedupeKey: key, Purpose: purpose, To: "jenny@example.com", CustomerID: "cus_Jenny",
		Vars: map[string]string{"invoice_id": "in_1", "amount": "20.00 USD", "hosted_url": "https://invoice.stripe.com/i/acct_1/test"}}
}

// With links configured, each dunning email carries a fresh signed link to
// the customer's billing portal, valid for the TTL from the send; the
// command (the workflow's input, in its history) never holds it.
func TestSendEmailAddsPortalLink(t *testing.T) {
	ctx := context.Background()
	db := newStore(t)
	sg, mailer := startSendGrid(t)
	a := newActivities(db)
	a.Mailer, a.PortalLinks = mailer, portalLinks(t)

	purposes := activities.PortalLinkPurposes()
	if len(purposes) != 6 {
		t.Fatalf("portal link purposes %v, want the six dunning emails", purposes)
	}
	for i, p := range purposes {
		req := dunningEmail("sub/sub_1/in_1/"+p, p)
		if err := a.SendEmail(ctx, req); err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		if _, ok := req.Vars["portal_url"]; ok {
			t.Errorf("%s: the command's vars were changed", p)
		}
		msgs := sg.Messages()
		if len(msgs) != i+1 {
			t.Fatalf("%d messages", len(msgs))
		}
		m := portalLinkRE.FindStringSubmatch(msgs[i].Text)
		if m == nil {
			t.Fatalf("%s: no portal link in %q", p, msgs[i].Text)
		}
		cus, exp, err := a.PortalLinks.Signer.Verify(m[2], fixedNow)
		if err != nil || cus != "cus_Jenny" || !exp.Equal(fixedNow.Add(portalTTL)) {
			t.Errorf("%s: link token names %q until %v (%v); want cus_Jenny until %v", p, cus, exp, err, fixedNow.Add(portalTTL))
		}
		if !strings.Contains(msgs[i].Text, "https://invoice.stripe.com/i/acct_1/test") {
			t.Errorf("%s: hosted invoice link gone: %q", p, msgs[i].Text)
		}
		if row := ledger(t, db, req.DedupeKey); !strings.Contains(row.Body, m[1]) {
			t.Errorf("%s: ledger body %q lacks the link that was sent", p, row.Body)
		}
	}
}

// Without the configuration, or for emails that are not dunning, or
// without a customer, or to the operator: no link.
func TestSendEmailWithoutPortalLink(t *testing.T) {
	ctx := context.Background()
	db := newStore(t)
	sg, mailer := startSendGrid(t)
	cases := []struct {
		name  string
		links bool
		req   billing.SendEmail
	}{
		{"not configured", false, dunningEmail("k/off", billing.PurposeDunningFirst)},
		{"receipt", true, func() billing.SendEmail {
			r := receiptRequest("k/receipt")
			r.CustomerID = "cus_Jenny"
			return r
		}()},
		{"no customer", true, func() billing.SendEmail {
			r := dunningEmail("k/nocus", billing.PurposeDunningReminder)
			r.CustomerID = ""
			return r
		}()},
		{"operator", true, func() billing.SendEmail {
			r := dunningEmail("k/op", billing.PurposeDunningFirst)
			r.ToOperator = true
			return r
		}()},
		{"customer ID no link can name", true, func() billing.SendEmail {
			r := dunningEmail("k/badcus", billing.PurposeDunningFirst)
			r.CustomerID = "not a customer"
			return r
		}()},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			a := newActivities(db)
			a.Mailer = mailer
			if tc.links {
				a.PortalLinks = portalLinks(t)
			}
			before := len(sg.Messages())
			if err := a.SendEmail(ctx, tc.req); err != nil {
				t.Fatal(err)
			}
			msgs := sg.Messages()
			if len(msgs) != before+1 {
				t.Fatalf("%d messages sent, want 1", len(msgs)-before)
			}
			if text := msgs[len(msgs)-1].Text; strings.Contains(text, "portal") {
				t.Errorf("email has a portal link: %q", text)
			}
		})
	}
}

// The activities' list of emails with a portal link is exactly the emails
// whose words (the core's) show one.
func TestPortalLinkPurposesAreTheCoresDunningEmails(t *testing.T) {
	var shown []string
	for _, p := range billing.Purposes() {
		vars := map[string]string{"invoice_id": "in_1", "hosted_url": "https://invoice.example"}
		_, without, _ := billing.Render(p, vars)
		vars["portal_url"] = "https://pay.example.com/billing/portal/x"
		_, with, _ := billing.Render(p, vars)
		if with != without {
			shown = append(shown, p)
		}
	}
	if got := activities.PortalLinkPurposes(); !slices.Equal(got, shown) {
		t.Errorf("activities add portal_url to %v; the core shows it in %v", got, shown)
	}
}

// CreatePortalSession asks Stripe (the fake) for a session with the
// customer, return URL and configuration, and tells an unknown customer
// apart from other failures.
func TestCreatePortalSession(t *testing.T) {
	ctx := context.Background()
	srv, api := startStripe(t)
	srv.PutCustomer("cus_Portal", "portal@example.com")
	srv.PutPortalConfiguration("bpc_custom", "")

	s, err := api.CreatePortalSession(ctx, "cus_Portal", "https://app.example.com/account", "bpc_custom")
	if err != nil {
		t.Fatal(err)
	}
	rec := srv.PortalSessions()
	if len(rec) != 1 || rec[0].ID != s.ID || rec[0].URL != s.URL || rec[0].CustomerID != "cus_Portal" ||
		rec[0].ReturnURL != "https://app.example.com/account" || rec[0].Configuration != "bpc_custom" {
		t.Errorf("session %+v, fake recorded %+v", s, rec)
	}
	if s2, err := api.CreatePortalSession(ctx, "cus_Portal", "https://app.example.com/account", ""); err != nil ||
		s2.ID == s.ID || srv.PortalSessions()[1].Configuration == "bpc_custom" {
		t.Errorf("session with the default configuration: %+v %v", s2, err)
	}

	if _, err := api.CreatePortalSession(ctx, "cus_Gone", "https://app.example.com/account", ""); !errors.Is(err, portallink.ErrUnknownCustomer) {
		t.Errorf("unknown customer: %v, want ErrUnknownCustomer", err)
	}
	_, err = api.CreatePortalSession(ctx, "cus_Portal", "https://app.example.com/account", "bpc_missing")
	if err == nil || errors.Is(err, portallink.ErrUnknownCustomer) {
		t.Errorf("unknown configuration: %v, want an error other than ErrUnknownCustomer", err)
	}
}
