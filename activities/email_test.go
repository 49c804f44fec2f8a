package activities_test

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/payflow/payflow"
	"github.com/payflow/payflow/activities"
	"github.com/payflow/payflow/billing"
)

func receiptRequest(key string) billing.SendEmail {
	return billing.SendEmail{
		DedupeKey: key,
		Purpose:   billing.PurposeReceipt,
		To:        "jenny@example.com",
		Vars:      map[string]string{"order_id": "pi_123", "product": "prod_A", "amount": "20.00 USD"},
	}
}

func TestSendEmailSendsOnceThroughSendGrid(t *testing.T) {
	ctx := context.Background()
	db := newStore(t)
	sg, mailer := startSendGrid(t)
	a := newActivities(db)
	a.Mailer = mailer
	a.Metrics = activities.NewMetrics(prometheus.NewRegistry())

	req := receiptRequest("order/pi_123/receipt")
	if err := a.SendEmail(ctx, req); err != nil {
		t.Fatalf("first send: %v", err)
	}
	msgs := sg.Messages()
	if len(msgs) != 1 {
		t.Fatalf("SendGrid got %d messages, want 1", len(msgs))
	}
	m := msgs[0]
	if len(m.To) != 1 || m.To[0] != "jenny@example.com" || m.From != fromAddr {
		t.Errorf("to %v from %q", m.To, m.From)
	}
	if m.Subject != "Your receipt: $20.00" {
		t.Errorf("subject %q", m.Subject)
	}
	if !strings.Contains(m.Text, "Amount paid   $20.00") || !strings.Contains(m.Text, "Product       prod_A") {
		t.Errorf("body %q", m.Text)
	}
	if !strings.HasPrefix(m.HTML, "<!DOCTYPE html>") || !strings.Contains(m.HTML, "<strong>$20.00</strong>") {
		t.Errorf("no HTML part: %q", m.HTML)
	}
	if got := m.CustomArgs["payflow_dedupe_key"]; got != req.DedupeKey {
		t.Errorf("custom arg payflow_dedupe_key = %q, want %q (args %v)", got, req.DedupeKey, m.CustomArgs)
	}

	row := ledger(t, db, req.DedupeKey)
	if row.Status != payflow.EmailSent {
		t.Errorf("ledger status %q, want %q", row.Status, payflow.EmailSent)
	}
	if row.ProviderMessageID == "" || row.ProviderMessageID != m.MessageID {
		t.Errorf("ledger provider ID %q, SendGrid's X-Message-Id %q", row.ProviderMessageID, m.MessageID)
	}
	if row.SentAt == nil || !row.SentAt.Equal(fixedNow) {
		t.Errorf("sent_at %v, want %v", row.SentAt, fixedNow)
	}
	if row.To != "jenny@example.com" || row.Purpose != billing.PurposeReceipt {
		t.Errorf("ledger row %+v", row)
	}

	// A retried activity (or a second workflow step with the same key)
	// sends nothing more.
	if err := a.SendEmail(ctx, req); err != nil {
		t.Fatalf("second send: %v", err)
	}
	if n := len(sg.Messages()); n != 1 {
		t.Errorf("after the second call SendGrid has %d messages, want 1", n)
	}
	if n := sg.Attempts(); n != 1 {
		t.Errorf("SendGrid saw %d requests, want 1", n)
	}
	if got := counterValue(t, a.Metrics.Emails.WithLabelValues(billing.PurposeReceipt, "sent")); got != 1 {
		t.Errorf("emails{sent} = %v, want 1", got)
	}
}

func TestSendEmailWithoutMailerKeepsOutbox(t *testing.T) {
	ctx := context.Background()
	db := newStore(t)
	a := newActivities(db)
	a.Metrics = activities.NewMetrics(prometheus.NewRegistry())

	req := receiptRequest("order/pi_out/receipt")
	for i := 0; i < 2; i++ {
		if err := a.SendEmail(ctx, req); err != nil {
			t.Fatalf("call %d: %v", i+1, err)
		}
	}
	row := ledger(t, db, req.DedupeKey)
	if row.Status != payflow.EmailOutbox {
		t.Errorf("status %q, want %q", row.Status, payflow.EmailOutbox)
	}
	if row.SentAt == nil || row.ProviderMessageID != "" {
		t.Errorf("sent_at %v, provider ID %q", row.SentAt, row.ProviderMessageID)
	}
	if !strings.Contains(row.Body, "Order         pi_123") || row.Subject != "Your receipt: $20.00" {
		t.Errorf("ledger kept subject %q body %q", row.Subject, row.Body)
	}
	if got := counterValue(t, a.Metrics.Emails.WithLabelValues(billing.PurposeReceipt, "outbox")); got != 1 {
		t.Errorf("emails{outbox} = %v, want 1 (the second call is a no-op)", got)
	}
}

func TestSendEmailLooksUpCustomerInStripe(t *testing.T) {
	ctx := context.Background()
	db := newStore(t)
	stripeSrv, api := startStripe(t)
	sg, mailer := startSendGrid(t)
	stripeSrv.PutCustomer("cus_Lookup", "lookup@example.com")
	a := newActivities(db)
	a.Mailer, a.Stripe = mailer, api

	req := receiptRequest("order/pi_lookup/receipt")
	req.To, req.CustomerID = "", "cus_Lookup"
	if err := a.SendEmail(ctx, req); err != nil {
		t.Fatal(err)
	}
	msgs := sg.Messages()
	if len(msgs) != 1 || len(msgs[0].To) != 1 || msgs[0].To[0] != "lookup@example.com" {
		t.Fatalf("messages %+v, want one to lookup@example.com", msgs)
	}
	sum, err := db.CustomerSummary(ctx, "cus_Lookup")
	if err != nil {
		t.Fatal(err)
	}
	if sum.Customer.Email != "lookup@example.com" {
		t.Errorf("customer row email %q, want the address Stripe has", sum.Customer.Email)
	}
	if row := ledger(t, db, req.DedupeKey); row.To != "lookup@example.com" || row.Status != payflow.EmailSent {
		t.Errorf("ledger row to %q status %q", row.To, row.Status)
	}
}

func TestSendEmailToOperator(t *testing.T) {
	ctx := context.Background()
	db := newStore(t)
	sg, mailer := startSendGrid(t)
	a := newActivities(db)
	a.Mailer = mailer

	req := billing.SendEmail{
		DedupeKey: "dispute/dp_1/opened", Purpose: billing.PurposeDisputeAlert, ToOperator: true,
		To:         "customer@example.com", // ignored: operator emails go to ALERT_EMAIL
		CustomerID: "cus_NotLookedUp",
		Vars: map[string]string{"dispute_id": "dp_1", "charge_id": "ch_1", "amount": "20.00 USD",
			"reason": "fraudulent", "due_by": "2024-03-10", "policy": "none found"},
	}
	if err := a.SendEmail(ctx, req); err != nil {
		t.Fatal(err)
	}
	msgs := sg.Messages()
	if len(msgs) != 1 || len(msgs[0].To) != 1 || msgs[0].To[0] != alertAddr {
		t.Fatalf("messages %+v, want one to %s", msgs, alertAddr)
	}
	if want := "[payflow] Dispute dp_1 opened: $20.00 (fraudulent)"; msgs[0].Subject != want {
		t.Errorf("subject %q, want %q", msgs[0].Subject, want)
	}
}

func TestSendEmailWithoutRecipient(t *testing.T) {
	ctx := context.Background()
	db := newStore(t)
	sg, mailer := startSendGrid(t)

	cases := []struct {
		name string
		req  billing.SendEmail
		a    func(*activities.Activities)
	}{
		{"no address no customer", billing.SendEmail{DedupeKey: "k/none", Purpose: billing.PurposeTrialEnding}, nil},
		{"operator without ALERT_EMAIL", billing.SendEmail{DedupeKey: "k/op", Purpose: billing.PurposeTrialEnding, ToOperator: true},
			func(a *activities.Activities) { a.AlertEmail = "" }},
		{"customer without Stripe", billing.SendEmail{DedupeKey: "k/nostripe", Purpose: billing.PurposeTrialEnding, CustomerID: "cus_X"}, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			a := newActivities(db)
			a.Mailer = mailer
			if tc.a != nil {
				tc.a(a)
			}
			if err := a.SendEmail(ctx, tc.req); err != nil {
				t.Fatalf("err %v, want nil (nothing a retry could fix)", err)
			}
			if row := ledger(t, db, tc.req.DedupeKey); row.Status != payflow.EmailFailed {
				t.Errorf("status %q, want %q", row.Status, payflow.EmailFailed)
			}
		})
	}
	if n := sg.Attempts(); n != 0 {
		t.Errorf("SendGrid saw %d requests, want 0", n)
	}
}

func TestSendEmailRetryableFailureSendsOnce(t *testing.T) {
	for _, status := range []int{http.StatusInternalServerError, http.StatusServiceUnavailable, http.StatusTooManyRequests,
		http.StatusUnauthorized, http.StatusForbidden} {
		t.Run(http.StatusText(status), func(t *testing.T) {
			ctx := context.Background()
			db := newStore(t)
			sg, mailer := startSendGrid(t)
			a := newActivities(db)
			a.Mailer = mailer
			sg.FailNext(1, status)

			req := receiptRequest("order/pi_retry/receipt")
			err := a.SendEmail(ctx, req)
			if err == nil {
				t.Fatal("first attempt: want an error")
			}
			if isNonRetryable(err) {
				t.Fatalf("status %d gave a non-retryable error: %v", status, err)
			}
			if row := ledger(t, db, req.DedupeKey); row.Status != payflow.EmailPending {
				t.Errorf("after the failed attempt the ledger says %q, want %q", row.Status, payflow.EmailPending)
			}
			// Temporal retries the activity.
			if err := a.SendEmail(ctx, req); err != nil {
				t.Fatalf("retry: %v", err)
			}
			if err := a.SendEmail(ctx, req); err != nil {
				t.Fatalf("third call: %v", err)
			}
			if n := len(sg.Messages()); n != 1 {
				t.Errorf("SendGrid accepted %d messages, want exactly 1", n)
			}
			if n := sg.Attempts(); n != 2 {
				t.Errorf("SendGrid saw %d requests, want 2 (one failed, one accepted)", n)
			}
			if row := ledger(t, db, req.DedupeKey); row.Status != payflow.EmailSent || row.ProviderMessageID == "" {
				t.Errorf("ledger %q / %q, want sent with a message ID", row.Status, row.ProviderMessageID)
			}
		})
	}
}

func TestSendEmailPermanentFailure(t *testing.T) {
	failWith := func(status int) func(*billing.SendEmail, func(int, int)) {
		return func(_ *billing.SendEmail, failNext func(int, int)) { failNext(1, status) }
	}
	cases := []struct {
		name  string
		setup func(req *billing.SendEmail, failNext func(n, status int))
	}{
		{"scripted 400", failWith(http.StatusBadRequest)},
		{"413", failWith(http.StatusRequestEntityTooLarge)},
		{"invalid address", func(r *billing.SendEmail, _ func(int, int)) { r.To = "not an address" }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			db := newStore(t)
			sg, mailer := startSendGrid(t)
			a := newActivities(db)
			a.Mailer = mailer
			a.Metrics = activities.NewMetrics(prometheus.NewRegistry())

			req := receiptRequest("order/pi_bad/receipt")
			tc.setup(&req, sg.FailNext)
			err := a.SendEmail(ctx, req)
			ae := appErr(err)
			if ae == nil || !ae.NonRetryable() {
				t.Fatalf("err = %v (%T), want a non-retryable *temporal.ApplicationError", err, err)
			}
			if ae.Type() != "EmailRefused" {
				t.Errorf("error type %q", ae.Type())
			}
			if row := ledger(t, db, req.DedupeKey); row.Status != payflow.EmailFailed {
				t.Errorf("ledger status %q, want %q", row.Status, payflow.EmailFailed)
			}
			if got := counterValue(t, a.Metrics.Emails.WithLabelValues(billing.PurposeReceipt, "failed")); got != 1 {
				t.Errorf("emails{failed} = %v", got)
			}
			// The refusal is final: another call does not try again.
			if err := a.SendEmail(ctx, req); err != nil {
				t.Errorf("call after the refusal: %v", err)
			}
			if n := sg.Attempts(); n != 1 {
				t.Errorf("SendGrid saw %d requests, want 1", n)
			}
		})
	}
}

func TestSendEmailInvalidRequests(t *testing.T) {
	ctx := context.Background()
	db := newStore(t)
	sg, mailer := startSendGrid(t)
	a := newActivities(db)
	a.Mailer = mailer

	cases := []struct {
		name string
		req  billing.SendEmail
	}{
		{"unknown purpose", billing.SendEmail{DedupeKey: "k/unknown", Purpose: "welcome_aboard", To: "a@example.com"}},
		{"empty purpose", billing.SendEmail{DedupeKey: "k/empty", To: "a@example.com"}},
		{"no dedupe key", billing.SendEmail{Purpose: billing.PurposeReceipt, To: "a@example.com"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := a.SendEmail(ctx, tc.req)
			if !isNonRetryable(err) {
				t.Fatalf("err = %v, want non-retryable", err)
			}
			if tc.req.DedupeKey != "" {
				// Nothing was claimed: the probe claim inserts the row.
				if _, claimed, err := db.ClaimEmail(ctx, payflow.Email{DedupeKey: tc.req.DedupeKey}); err != nil || !claimed {
					t.Errorf("ledger has a row for %s (claimed %v, err %v)", tc.req.DedupeKey, claimed, err)
				}
			}
		})
	}
	if n := sg.Attempts(); n != 0 {
		t.Errorf("SendGrid saw %d requests", n)
	}
}

// The words are the core's: every purpose it knows goes out as
// billing.Render renders it, and there is no other list of purposes.
func TestSendEmailRendersTheCoresWords(t *testing.T) {
	ctx := context.Background()
	db := newStore(t)
	a := newActivities(db)
	vars := map[string]string{"order_id": "pi_3Abc", "invoice_id": "in_1Xyz", "amount": "20.00 USD",
		"hosted_url": "https://invoice.stripe.com/i/acct_1/test", "dispute_id": "dp_1", "trial_end": "2024-03-04"}
	for _, p := range billing.Purposes() {
		key := "render/" + p
		if err := a.SendEmail(ctx, billing.SendEmail{DedupeKey: key, Purpose: p, To: "jenny@example.com", Vars: vars}); err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		subject, body, err := billing.Render(p, vars)
		if err != nil {
			t.Fatal(err)
		}
		if row := ledger(t, db, key); row.Subject != subject || row.Body != body || row.Purpose != p || row.Status != payflow.EmailOutbox {
			t.Errorf("%s: ledger %q / %q (%s), want the core's %q / %q in the outbox", p, row.Subject, row.Body, row.Status, subject, body)
		}
	}
}
