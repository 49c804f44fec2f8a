package billing

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

// A customer's name is text, whatever it contains: the HTML part escapes
// it, the text part shows it as typed, and the template data carries it
// as a JSON string (SendGrid's {{double braces}} escape it again). Links
// that are not http(s) are dropped everywhere, so no template can be
// made to carry a javascript: link.
func TestEmailEscapesWhatCustomersTyped(t *testing.T) {
	const script = "<script>alert(1)</script>"
	hostile := map[string]string{
		"customer_name": script,
		"product":       `"><img src=x onerror=alert(1)>`,
		"order_id":      "pi_1&amp;<b>",
		"invoice_id":    "in_1<i>",
		"amount":        "20.00 USD",
		"hosted_url":    "javascript:alert(1)",
		"receipt_url":   "data:text/html,<script>alert(1)</script>",
		"invoice_pdf":   `https://pay.stripe.com/x" onmouseover="alert(1)`,
		"portal_url":    "https://pay.example.com/billing/portal/ok",
		"final":         "<b>bold</b>",
	}
	brand := Brand{Name: `Acme <Widgets> & "Co"`, SupportEmail: "help@acme.example"}
	for _, p := range Purposes() {
		m, err := RenderEmail(p, hostile, brand)
		if err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		// Text that merely reads "onerror=" is harmless; an attribute it
		// could break out into is not.
		for _, bad := range []string{"<script", "<img", "<b>", "<i>", `"><`, `" onmouseover`, "javascript:", "data:text"} {
			if strings.Contains(m.HTML, bad) {
				t.Errorf("%s: HTML part contains %q", p, bad)
			}
		}
		if strings.Contains(m.HTML, "pi_1&amp;<b>") || (p == PurposeReceipt && !strings.Contains(m.HTML, "pi_1&amp;amp;&lt;b&gt;")) {
			t.Errorf("%s: order ID not escaped", p)
		}
		if !IsOperatorPurpose(p) {
			if !strings.Contains(m.HTML, "Hi &lt;script&gt;alert(1)&lt;/script&gt;,") {
				t.Errorf("%s: the name is not shown escaped in the HTML part", p)
			}
			if !strings.Contains(m.Text, "Hi "+script+",") {
				t.Errorf("%s: the text part does not show the name as typed: %q", p, m.Text)
			}
			if !strings.Contains(m.HTML, "Acme &lt;Widgets&gt; &amp; &#34;Co&#34;") {
				t.Errorf("%s: brand not escaped", p)
			}
		}
		if strings.Contains(m.Text, "javascript:") || strings.Contains(m.Text, "data:text") {
			t.Errorf("%s: text part carries a non-http link: %q", p, m.Text)
		}
		d := m.Data
		if d.HostedInvoiceURL != "" || d.ReceiptURL != "" || d.InvoicePDFURL != "" {
			t.Errorf("%s: unsafe URLs kept in template data: %+v", p, d)
		}
		raw, _ := json.Marshal(d)
		var back map[string]any
		if err := json.Unmarshal(raw, &back); err != nil {
			t.Fatal(err)
		}
		if !IsOperatorPurpose(p) && back["customer_name"] != script {
			t.Errorf("%s: template data customer_name %q, want the name as typed", p, back["customer_name"])
		}
	}
}

// Template data holds the fields of TemplateData and nothing else: a var
// the core never meant for an email (a key, a card number) cannot reach a
// template or either part, and neither can control characters.
func TestEmailCarriesNothingButItsFields(t *testing.T) {
	vars := EmailSample(PurposeReceipt, "usd")
	vars["stripe_api_key"] = "sk_live_51SecretKeyThatMustNeverAppear"
	vars["card_number"] = "4242424242424242"
	vars["customer_name"] = "Jenny\r\nBcc: victim@example.com\tRosen"
	for _, p := range Purposes() {
		m, err := RenderEmail(p, vars, SampleBrand())
		if err != nil {
			t.Fatal(err)
		}
		raw, _ := json.Marshal(m.Data)
		all := m.Subject + m.Text + m.HTML + string(raw)
		for _, secret := range []string{"sk_live_", "4242424242424242", "\r", "Bcc: victim@example.com\n"} {
			if strings.Contains(all, secret) {
				t.Errorf("%s: rendered email contains %q", p, secret)
			}
		}
		if !IsOperatorPurpose(p) && m.Data.CustomerName != "Jenny Bcc: victim@example.com Rosen" {
			t.Errorf("%s: name %q, want one line", p, m.Data.CustomerName)
		}
	}
}

// Vars an older release's core built (amounts as "19.00 USD", times as
// "2024-03-04 12:00") still render in the currency's style, with the
// zone stated; the newer vars win when both are there.
func TestEmailReadsOlderVars(t *testing.T) {
	d := EmailData(PurposeDunningFirst, map[string]string{"amount": "1900 JPY", "next_retry": "2024-03-04 12:00 UTC"}, Brand{})
	if d.Amount != "¥1,900" || d.AmountMinor != 1900 || d.Currency != "JPY" || d.NextRetry != "4 March 2024, 12:00 UTC" || d.NextRetryAt != "2024-03-04T12:00:00Z" {
		t.Errorf("older vars: %+v", d)
	}
	d = EmailData(PurposeTrialEnding, map[string]string{"trial_end": "2024-03-04 12:00"}, Brand{})
	if d.TrialEnd != "4 March 2024, 12:00 UTC" {
		t.Errorf("trial_end %q", d.TrialEnd)
	}
	d = EmailData(PurposeReceipt, map[string]string{"amount": "19.00 USD", "amount_minor": "4900", "currency": "eur"}, Brand{})
	if d.Amount != "49,00\u00a0€" {
		t.Errorf("amount_minor and currency should win: %q", d.Amount)
	}
	d = EmailData(PurposeReceipt, map[string]string{"amount": "$20.00"}, Brand{})
	if d.Amount != "$20.00" {
		t.Errorf("unreadable amount text should be shown as it is: %q", d.Amount)
	}
	d = EmailData(PurposeDisputeAlert, map[string]string{"due_by": "unknown"}, Brand{})
	if d.EvidenceDueBy != "unknown" {
		t.Errorf("due_by %q", d.EvidenceDueBy)
	}
}

// What the core sends: amounts in minor units with the currency, times
// in RFC 3339 beside the older text, the customer's name, the receipt's
// links.
func TestCoreEmailVars(t *testing.T) {
	r := active(t, DefaultPolicy())
	r.now = t0.Add(30 * day)
	f := failedInv("evt_f1", "in_1", 30*day, 2000, "subscription_cycle", "insufficient_funds")
	f.CustomerName = "Jenny Rosen"
	r.apply(f)
	m := of[SendEmail](r.last)
	if len(m) != 1 {
		t.Fatalf("emails %s", names(r.last))
	}
	v := m[0].Vars
	next := t0.Add(33 * day).UTC().Format(time.RFC3339)
	if v["amount_minor"] != "2000" || v["currency"] != "usd" || v["amount"] != "20.00 USD" || v["customer_name"] != "Jenny Rosen" ||
		v["next_retry_at"] != next || v["next_retry"] == "" {
		t.Errorf("dunning vars %v", v)
	}
	o, cmds := applyOrder(NewOrder("pi_1"), func() Event {
		e := piSucceeded("evt_1", "prod_x")
		e.CustomerName, e.ReceiptURL, e.Currency = "Jenny Rosen", "https://pay.stripe.com/receipts/payment/x", "jpy"
		return e
	}())
	_ = o
	var receipt *SendEmail
	for _, c := range cmds {
		if e, ok := c.(SendEmail); ok && e.Purpose == PurposeReceipt {
			receipt = &e
		}
	}
	if receipt == nil || receipt.Vars["customer_name"] != "Jenny Rosen" || receipt.Vars["receipt_url"] != "https://pay.stripe.com/receipts/payment/x" ||
		receipt.Vars["currency"] != "jpy" || receipt.Vars["amount_minor"] == "" {
		t.Errorf("receipt %+v", receipt)
	}
	if receipt != nil && receipt.DedupeKey != "order/pi_1/receipt" {
		t.Errorf("dedupe key %q changed", receipt.DedupeKey)
	}
}

// A decline reads as a sentence; codes that hint at fraud read as a plain
// decline and are shown as generic_decline; an order's "code: message"
// reason is read by its code.
func TestDeclineWords(t *testing.T) {
	for _, tc := range []struct{ in, code, sentence string }{
		{"insufficient_funds", "insufficient_funds", "Your card has insufficient funds."},
		{"insufficient_funds: Your card has insufficient funds.", "insufficient_funds", "Your card has insufficient funds."},
		{"expired_card", "expired_card", "Your card has expired."},
		{"stolen_card", "generic_decline", "Your bank declined the payment."},
		{"fraudulent", "generic_decline", "Your bank declined the payment."},
		{"do_not_honor", "do_not_honor", "Your bank declined the payment."},
		{"", "", ""},
	} {
		code, sentence := declineWords(tc.in)
		if code != tc.code || sentence != tc.sentence {
			t.Errorf("declineWords(%q) = %q, %q; want %q, %q", tc.in, code, sentence, tc.code, tc.sentence)
		}
	}
}
