package webhook_test

import (
	"strings"
	"testing"

	"github.com/payflow/payflow/billing"
	"github.com/payflow/payflow/webhook"
)

// What emails need from an event: the customer's name where each object
// carries it (an invoice's customer_name, a Checkout Session's
// customer_details.name, a charge's billing_details.name, else its
// shipping.name, a payment intent's shipping.name), made one line of at
// most 100 characters; an invoice's invoice_pdf and a charge's
// receipt_url. They reach the billing core unchanged.
func TestDecodeEmailFields(t *testing.T) {
	const pdf = "https://pay.stripe.com/invoice/acct_1/test_x/pdf?s=ap"
	long := strings.Repeat("é", 150)
	cases := []struct {
		name, typ, fixture string
		edit               func(o obj)
		wantName, wantPDF  string
		wantReceipt        bool
	}{
		{"invoice", "invoice.paid", "invoice", func(o obj) {
			o["customer_name"], o["invoice_pdf"], o["subscription"] = "Jenny Rosen", pdf, "sub_1"
		}, "Jenny Rosen", pdf, false},
		{"invoice without a name", "invoice.paid", "invoice", func(o obj) { o["customer_name"], o["subscription"] = nil, "sub_1" }, "", "", false},
		{"checkout session", "checkout.session.completed", "checkout.session", func(o obj) {
			set(o, "customer_details.name", "  Élodie\tDurand \n")
		}, "Élodie Durand", "", false},
		{"charge: billing details", "charge.refunded", "charge", func(o obj) { set(o, "billing_details.name", "山田 花子") }, "山田 花子", "", true},
		{"charge: shipping when billing has none", "charge.refunded", "charge", func(o obj) {
			set(o, "billing_details.name", nil)
			o["shipping"] = obj{"name": "Jenny Rosen", "address": obj{"country": "US"}}
		}, "Jenny Rosen", "", true},
		{"payment intent: shipping", "payment_intent.succeeded", "payment_intent", func(o obj) {
			o["shipping"] = obj{"name": "Jenny\r\nBcc: x@example.com", "address": obj{"country": "US"}}
		}, "Jenny Bcc: x@example.com", "", false},
		{"payment intent without shipping", "payment_intent.succeeded", "payment_intent", func(o obj) { o["shipping"] = nil }, "", "", false},
		{"a name too long", "invoice.paid", "invoice", func(o obj) { o["customer_name"], o["subscription"] = long, "sub_1" }, long[:200], "", false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			o := fixture(t, tc.fixture)
			tc.edit(o)
			ev, err := webhook.Decode(envelope(t, tc.typ, fixtureVersion, o))
			if err != nil {
				t.Fatal(err)
			}
			if ev.CustomerName != tc.wantName || ev.InvoicePDF != tc.wantPDF || (ev.ReceiptURL != "") != tc.wantReceipt {
				t.Errorf("name %q pdf %q receipt %q; want %q %q receipt %v", ev.CustomerName, ev.InvoicePDF, ev.ReceiptURL, tc.wantName, tc.wantPDF, tc.wantReceipt)
			}
			core := billing.FromPayflow(ev)
			if core.CustomerName != ev.CustomerName || core.InvoicePDF != ev.InvoicePDF || core.ReceiptURL != ev.ReceiptURL {
				t.Errorf("core event %+v", core)
			}
		})
	}
}
