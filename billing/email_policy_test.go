package billing

import (
	"slices"
	"strings"
	"testing"
	"time"
)

func TestEveryPurposeRenders(t *testing.T) {
	ps := Purposes()
	if !slices.IsSorted(ps) || len(ps) != 19 {
		t.Fatalf("purposes %v", ps)
	}
	for _, p := range ps {
		s, b, err := Render(p, map[string]string{"amount": "20.00 USD", "invoice_id": "in_1"})
		if err != nil || s == "" || b == "" || strings.Contains(s+b, "no value") {
			t.Errorf("%s: %q %q %v", p, s, b, err)
		}
	}
	if _, _, err := Render("nope", nil); err == nil {
		t.Error("unknown purpose rendered")
	}
	s, b, _ := Render(PurposeInvoiceReceipt, map[string]string{"amount": "12.50 USD", "invoice_id": "in_up"})
	if s != "Your receipt: $12.50" || !strings.Contains(b, "in_up") {
		t.Errorf("receipt %q %q", s, b)
	}
	_, b, _ = Render(PurposeSubscriptionIncomplete, map[string]string{"hosted_url": "https://x"})
	if strings.Contains(b, "try again") {
		t.Errorf("incomplete notice promises a retry: %q", b)
	}
}

func TestPolicy(t *testing.T) {
	p := DefaultPolicy()
	if err := p.Validate(); err != nil {
		t.Fatal(err)
	}
	if !p.IsHardDecline("stolen_card") || p.IsHardDecline("insufficient_funds") || p.IsHardDecline("") {
		t.Error("hard declines")
	}
	a := DefaultHardDeclines()
	a[0] = "changed"
	if DefaultHardDeclines()[0] == "changed" || !slices.IsSorted(DefaultHardDeclines()) {
		t.Error("DefaultHardDeclines must return a fresh sorted slice")
	}
	for _, bad := range []Policy{
		{Mode: "x", FinalAction: FinalCancel},
		{Mode: ModePayflow, FinalAction: "x"},
		{Mode: ModePayflow, FinalAction: FinalNone, Grace: -1},
		{Mode: ModePayflow, FinalAction: FinalNone, RetryDelays: []time.Duration{2 * time.Hour, time.Hour}},
	} {
		if bad.Validate() == nil {
			t.Errorf("%+v validated", bad)
		}
	}
	d, err := ParseDelays(" 3s, 6s ,40s,")
	if err != nil || !slices.Equal(d, []time.Duration{3 * time.Second, 6 * time.Second, 40 * time.Second}) {
		t.Errorf("%v %v", d, err)
	}
	if _, err := ParseDelays("3x"); err == nil {
		t.Error("bad duration parsed")
	}
}

func TestDescribe(t *testing.T) {
	r := active(t, DefaultPolicy())
	r.now = t0.Add(30 * day)
	r.apply(failedInv("evt_f1", "in_1", 30*day, 2000, "subscription_cycle", "insufficient_funds"))
	if d := r.s.Describe(); !strings.Contains(d, "sub_1: active") || !strings.Contains(d, "retry 1 of 3") {
		t.Errorf("describe %q", d)
	}
	o, _ := applyOrder(NewOrder("pi_1"), piSucceeded("evt_1", "prod_x"))
	if d := o.Describe(); d != "order pi_1: fulfilled (50.00 USD, prod_x)" {
		t.Errorf("describe %q", d)
	}
}

// Dunning emails show the billing portal link (portal_url, added by the
// activity when configured) on a line of its own, after the hosted
// invoice link, and say nothing of a portal without it; other emails never
// show it. Both parts.
func TestDunningEmailsShowPortalLink(t *testing.T) {
	const portal = "https://pay.example.com/billing/portal/AQAAAABl4TOAY3VzX0E"
	const hosted = "https://invoice.stripe.com/i/acct_1/test"
	dunning := map[string]bool{
		PurposeDunningFirst: true, PurposeDunningReminder: true, PurposeDunningHardDecline: true,
		PurposeActionRequired: true, PurposeSuspended: true, PurposeDunningFinal: true,
	}
	for _, p := range Purposes() {
		vars := map[string]string{"amount": "20.00 USD", "invoice_id": "in_1", "hosted_url": hosted}
		without, err := RenderEmail(p, vars, Brand{})
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(without.Text, "portal") || strings.Contains(without.HTML, "portal") {
			t.Errorf("%s without portal_url mentions a portal: %q", p, without.Text)
		}
		vars["portal_url"] = portal
		with, _ := RenderEmail(p, vars, Brand{})
		if !dunning[p] {
			if with.Text != without.Text || with.HTML != without.HTML {
				t.Errorf("%s (not a dunning email) changed with portal_url: %q", p, with.Text)
			}
			continue
		}
		line := "\n\nUpdate your payment method in the billing portal: " + portal + "\n"
		if !strings.Contains(with.Text, line) || !strings.Contains(with.HTML, `href="`+portal+`"`) {
			t.Errorf("%s: no portal line in %q", p, with.Text)
		}
		if i, j := strings.Index(with.Text, hosted), strings.Index(with.Text, line); i < 0 || i > j {
			t.Errorf("%s: the portal line does not follow the hosted invoice link: %q", p, with.Text)
		}
		if strings.ReplaceAll(with.Text, line, "\n") != without.Text {
			t.Errorf("%s: the portal line changed more than itself:\n%s\n---\n%s", p, with.Text, without.Text)
		}
	}
	// A final notice with nothing to pay (the invoice voided) offers neither link.
	m, _ := RenderEmail(PurposeDunningFinal, map[string]string{"invoice_id": "in_1", "hosted_url": hosted, "portal_url": portal, "no_payment": "true"}, Brand{})
	if strings.Contains(m.Text+m.HTML, portal) || strings.Contains(m.Text+m.HTML, hosted) {
		t.Errorf("final notice without payment shows a link: %q", m.Text)
	}
}
