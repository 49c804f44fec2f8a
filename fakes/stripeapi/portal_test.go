package stripeapi_test

import (
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/stripe/stripe-go/v76"
)

// POST /v1/billing_portal/sessions opens a session for an existing
// customer, shaped as Stripe's, records it, and its URL serves a page on
// the fake itself; Stripe's 400s for a missing customer or return URL.
func TestBillingPortalSessions(t *testing.T) {
	srv, sc, base := start(t)
	srv.PutCustomer("cus_P", "p@example.com")

	s, err := sc.BillingPortalSessions.New(&stripe.BillingPortalSessionParams{
		Customer: stripe.String("cus_P"), ReturnURL: stripe.String("https://app.example.com/account"),
	})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(s.ID, "bps_") || s.Object != "billing_portal.session" || s.Customer != "cus_P" ||
		s.ReturnURL != "https://app.example.com/account" || s.URL != base+"/p/session/"+s.ID || s.Livemode ||
		s.Configuration == nil || !strings.HasPrefix(s.Configuration.ID, "bpc_") || s.Created == 0 {
		t.Errorf("session %+v (configuration %+v)", s, s.Configuration)
	}
	rec := srv.PortalSessions()
	if len(rec) != 1 || rec[0].ID != s.ID || rec[0].CustomerID != "cus_P" || rec[0].ReturnURL != "https://app.example.com/account" ||
		rec[0].URL != s.URL || rec[0].Configuration != s.Configuration.ID || rec[0].Visits != 0 {
		t.Fatalf("recorded %+v", rec)
	}
	reqs := srv.Requests()
	if last := reqs[len(reqs)-1]; last.Method != "POST" || last.Path != "/v1/billing_portal/sessions" ||
		url.Values(last.Form).Get("customer") != "cus_P" || last.Status != 200 {
		t.Errorf("request %+v", last)
	}

	// The session URL is the customer's: no API key.
	res, err := http.Get(s.URL)
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 200 || !strings.Contains(string(page), "cus_P") {
		t.Errorf("portal page %d %q", res.StatusCode, page)
	}
	if v := srv.PortalSessions()[0].Visits; v != 1 {
		t.Errorf("visits %d", v)
	}
	if res, err := http.Get(base + "/p/session/bps_unknown"); err != nil || res.StatusCode != 404 {
		t.Errorf("unknown session page: %v %v", res, err)
	}

	// A configuration of the account, and its default return URL.
	srv.PutPortalConfiguration("bpc_custom", "https://app.example.com/default-return")
	s2, err := sc.BillingPortalSessions.New(&stripe.BillingPortalSessionParams{
		Customer: stripe.String("cus_P"), Configuration: stripe.String("bpc_custom"),
	})
	if err != nil {
		t.Fatal(err)
	}
	if s2.Configuration.ID != "bpc_custom" || s2.ReturnURL != "https://app.example.com/default-return" || s2.ID == s.ID {
		t.Errorf("session with configuration %+v", s2)
	}

	for _, tc := range []struct {
		name         string
		params       *stripe.BillingPortalSessionParams
		param, code  string
		msgSubstring string
	}{
		{"unknown customer", &stripe.BillingPortalSessionParams{Customer: stripe.String("cus_gone"), ReturnURL: stripe.String("https://app.example.com")},
			"customer", "resource_missing", "No such customer: 'cus_gone'"},
		{"no customer", &stripe.BillingPortalSessionParams{ReturnURL: stripe.String("https://app.example.com")},
			"customer", "parameter_missing", "Missing required param: customer"},
		{"no return URL", &stripe.BillingPortalSessionParams{Customer: stripe.String("cus_P")},
			"return_url", "parameter_missing", "return_url"},
		{"bad return URL", &stripe.BillingPortalSessionParams{Customer: stripe.String("cus_P"), ReturnURL: stripe.String("/account")},
			"return_url", "url_invalid", "Not a valid URL"},
		{"unknown configuration", &stripe.BillingPortalSessionParams{Customer: stripe.String("cus_P"), ReturnURL: stripe.String("https://app.example.com"),
			Configuration: stripe.String("bpc_nope")}, "configuration", "resource_missing", "No such configuration"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := sc.BillingPortalSessions.New(tc.params)
			se := stripeErr(t, err)
			if se.HTTPStatusCode != 400 || se.Type != stripe.ErrorTypeInvalidRequest || se.Param != tc.param ||
				string(se.Code) != tc.code || !strings.Contains(se.Msg, tc.msgSubstring) {
				t.Errorf("error %+v", se)
			}
		})
	}
	if n := len(srv.PortalSessions()); n != 2 {
		t.Errorf("%d sessions recorded, want 2 (refused requests open none)", n)
	}

	// Without the API key: Stripe's 401, no session.
	_, err = newClient(base, "sk_test_wrong_key_1234").BillingPortalSessions.New(&stripe.BillingPortalSessionParams{
		Customer: stripe.String("cus_P"), ReturnURL: stripe.String("https://app.example.com")})
	if se := stripeErr(t, err); se.HTTPStatusCode != 401 {
		t.Errorf("wrong key: %+v", se)
	}
}
