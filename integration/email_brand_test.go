package integration

import (
	"strings"
	"testing"
	"time"

	"github.com/payflow/payflow/fakes/sendgridapi"
	"github.com/payflow/payflow/fixtures"
)

// The email settings payflow dev runs with (main_test.go).
const (
	brandName              = "Merchant Studio"
	supportEmail           = "support@merchant.example"
	invoiceReceiptTemplate = "d-4c2a9e1f0b3d5a7c9e1f2a4b6c8d0e2f"
)

// sentMessage waits for SendGrid to accept the message of a dedupe key.
func sentMessage(t *testing.T, key string) sendgridapi.Message {
	t.Helper()
	var got sendgridapi.Message
	waitFor(t, 60*time.Second, "SendGrid accepted "+key, func() (bool, string) {
		for _, m := range sys.sendgrid.Messages() {
			if m.CustomArgs["payflow_dedupe_key"] == key {
				got = m
				return true, ""
			}
		}
		return false, ""
	})
	return got
}

// A one-off payment's receipt, end to end: payflow's own text and HTML
// parts, with the merchant's name as the sender's and in the sign-off, the
// support address as reply-to, the amount in its currency's style and the
// customer's name from the event.
func TestEmailReceiptBranded(t *testing.T) {
	t.Parallel()
	cus, pi, email := "cus_emailbrand", "pi_emailbrand", "brand@example.com"
	mustDeliver(t, build(t, "payment_intent.succeeded", fixtures.Options{CustomerID: cus, PaymentIntentID: pi, Email: email,
		Amount: 1900, Currency: "eur"}))
	m := sentMessage(t, "order/"+pi+"/receipt")
	if m.FromName != brandName || m.ReplyTo != supportEmail || m.TemplateID != "" {
		t.Errorf("from %q reply-to %q template %q", m.FromName, m.ReplyTo, m.TemplateID)
	}
	if m.Subject != "Your receipt from Merchant Studio: 19,00\u00a0€" {
		t.Errorf("subject %q", m.Subject)
	}
	for _, part := range []string{m.Text, m.HTML} {
		if !strings.Contains(part, "19,00\u00a0€") || !strings.Contains(part, "— "+brandName) || !strings.Contains(part, supportEmail) {
			t.Errorf("part lacks the amount, the sign-off or the support address:\n%s", part)
		}
	}
	if !strings.HasPrefix(m.HTML, "<!DOCTYPE html>") {
		t.Errorf("HTML part %.200q", m.HTML)
	}
}

// A subscription invoice's receipt goes through the SendGrid template
// SENDGRID_TEMPLATES names: template_id, the personalization's
// dynamic_template_data with the documented fields (the invoice PDF and
// hosted page from the event, the name Stripe has), and no content.
func TestEmailInvoiceReceiptTemplate(t *testing.T) {
	t.Parallel()
	cus, sub, inv, prod := "cus_emailtpl", "sub_emailtpl", "in_emailtpl", "prod_emailtpl"
	email := "template@example.com"
	sys.stripe.PutCustomer(cus, email)
	o := fixtures.Options{CustomerID: cus, Email: email, SubscriptionID: sub, InvoiceID: inv, ProductID: prod, Amount: 2980, Currency: "jpy"}
	created := o
	created.Created = time.Now().Add(-time.Minute)
	mustDeliver(t, build(t, "customer.subscription.created", created))
	mustDeliver(t, build(t, "invoice.paid", o))
	m := sentMessage(t, "subscription/"+sub+"/invoice/"+inv+"/receipt")
	if m.TemplateID != invoiceReceiptTemplate || m.Text != "" || m.HTML != "" || m.ReplyTo != supportEmail {
		t.Errorf("template %q text %q html %d bytes reply-to %q", m.TemplateID, m.Text, len(m.HTML), m.ReplyTo)
	}
	d := m.TemplateData
	if d["purpose"] != "invoice_receipt" || d["amount"] != "¥2,980" || d["currency"] != "JPY" || d["invoice_id"] != inv ||
		d["brand_name"] != brandName || d["customer_name"] != "Jenny Rosen" || d["subject"] != "Your receipt from Merchant Studio: ¥2,980" {
		t.Errorf("dynamic_template_data %v", d)
	}
	for _, k := range []string{"invoice_pdf_url", "hosted_invoice_url"} {
		if u, _ := d[k].(string); !strings.HasPrefix(u, "https://") {
			t.Errorf("%s = %v, want Stripe's link", k, d[k])
		}
	}
}
