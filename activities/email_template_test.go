package activities_test

import (
	"context"
	"strings"
	"testing"

	"github.com/payflow/payflow"
	"github.com/payflow/payflow/activities"
	"github.com/payflow/payflow/billing"
)

const receiptTemplate = "d-5f1c0e3a9b2d4c6e8f0a1b2c3d4e5f60"

// A purpose with a SendGrid template goes out as template_id with
// dynamic_template_data (the documented fields, amounts formatted for the
// currency) and no content; a purpose without one goes out as payflow's
// own text and HTML parts. Both carry the brand as the sender's name and
// the support address as reply-to; the ledger keeps payflow's subject and
// text either way, and the dedupe key is the command's.
func TestSendEmailWithAndWithoutTemplate(t *testing.T) {
	ctx := context.Background()
	db := newStore(t)
	sg, mailer := startSendGrid(t)
	a := newActivities(db)
	a.Mailer = mailer
	a.Email = activities.EmailSettings{
		Brand:     billing.Brand{Name: "Northwind Studio", SupportEmail: "support@northwind.example"},
		Templates: map[string]string{billing.PurposeReceipt: receiptTemplate},
	}

	receipt := billing.SendEmail{DedupeKey: "order/pi_tpl/receipt", Purpose: billing.PurposeReceipt, To: "jenny@example.com",
		Vars: map[string]string{"order_id": "pi_tpl", "product": "Studio Pro", "amount": "1900 JPY", "amount_minor": "1900", "currency": "jpy",
			"customer_name": "<script>alert(1)</script>", "receipt_url": "https://pay.stripe.com/receipts/payment/x"}}
	if err := a.SendEmail(ctx, receipt); err != nil {
		t.Fatal(err)
	}
	dunning := billing.SendEmail{DedupeKey: "subscription/sub_tpl/in_1/first-failure", Purpose: billing.PurposeDunningFirst, To: "jenny@example.com",
		Vars: map[string]string{"invoice_id": "in_1", "amount": "49.00 EUR", "amount_minor": "4900", "currency": "eur",
			"hosted_url": "https://invoice.stripe.com/i/acct_1/test", "customer_name": "Élodie Durand", "reason": "insufficient_funds"}}
	if err := a.SendEmail(ctx, dunning); err != nil {
		t.Fatal(err)
	}
	msgs := sg.Messages()
	if len(msgs) != 2 {
		t.Fatalf("%d messages", len(msgs))
	}

	tpl := msgs[0]
	if tpl.TemplateID != receiptTemplate || tpl.Text != "" || tpl.HTML != "" || tpl.Subject != "" {
		t.Errorf("template message: id %q subject %q text %q html %d bytes", tpl.TemplateID, tpl.Subject, tpl.Text, len(tpl.HTML))
	}
	d := tpl.TemplateData
	for k, want := range map[string]any{
		"purpose": "receipt", "amount": "¥1,900", "amount_minor": float64(1900), "currency": "JPY", "order_id": "pi_tpl",
		"customer_name": "<script>alert(1)</script>", "greeting": "Hi <script>alert(1)</script>,", "brand_name": "Northwind Studio",
		"support_email": "support@northwind.example", "receipt_url": "https://pay.stripe.com/receipts/payment/x",
		"subject": "Your receipt from Northwind Studio: ¥1,900",
	} {
		if d[k] != want {
			t.Errorf("dynamic_template_data[%q] = %#v, want %#v", k, d[k], want)
		}
	}
	if _, ok := d["Operator"]; ok {
		t.Errorf("template data uses Go names: %v", d)
	}

	own := msgs[1]
	if own.TemplateID != "" || own.TemplateData != nil || own.Subject != "Your payment of 49,00\u00a0€ failed" ||
		!strings.Contains(own.Text, "Hi Élodie Durand,") || !strings.Contains(own.HTML, "<strong>49,00\u00a0€</strong>") {
		t.Errorf("own message: id %q subject %q text %q", own.TemplateID, own.Subject, own.Text)
	}
	for _, m := range msgs {
		if m.FromName != "Northwind Studio" || m.From != fromAddr || m.ReplyTo != "support@northwind.example" {
			t.Errorf("%s: from %q <%s>, reply-to %q", m.CustomArgs["payflow_dedupe_key"], m.FromName, m.From, m.ReplyTo)
		}
	}
	if got := tpl.CustomArgs["payflow_dedupe_key"]; got != receipt.DedupeKey {
		t.Errorf("dedupe key %q", got)
	}

	row := ledger(t, db, receipt.DedupeKey)
	if row.Status != payflow.EmailSent || row.Subject != "Your receipt from Northwind Studio: ¥1,900" ||
		!strings.Contains(row.Body, "— Northwind Studio") || row.ProviderMessageID != tpl.MessageID {
		t.Errorf("ledger %+v", row)
	}
}

// Operator alerts go to ALERT_EMAIL without the customers' reply-to, and
// take a template too when one is configured.
func TestOperatorEmailHasNoReplyTo(t *testing.T) {
	ctx := context.Background()
	db := newStore(t)
	sg, mailer := startSendGrid(t)
	a := newActivities(db)
	a.Mailer = mailer
	a.Email = activities.EmailSettings{Brand: billing.Brand{Name: "Northwind Studio", SupportEmail: "support@northwind.example"}}
	req := billing.SendEmail{DedupeKey: "dispute/dp_1/opened", Purpose: billing.PurposeDisputeAlert, ToOperator: true,
		Vars: billing.EmailSample(billing.PurposeDisputeAlert, "eur")}
	if err := a.SendEmail(ctx, req); err != nil {
		t.Fatal(err)
	}
	m := sg.Messages()[0]
	if m.ReplyTo != "" || m.To[0] != alertAddr || !strings.Contains(m.Subject, "49,00\u00a0€") || !strings.Contains(m.Text, "14 December 2026, 23:59 UTC") {
		t.Errorf("operator message reply-to %q to %v subject %q text %q", m.ReplyTo, m.To, m.Subject, m.Text)
	}
}
