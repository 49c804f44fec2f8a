package billing

import (
	"slices"
	"time"

	"github.com/payflow/payflow"
)

// Email purposes. The ledger's dedupe key makes each (workflow, purpose,
// step) go out once; the wording is the core's (RenderEmail, with the
// built-in messages in billing/emails), the sending is the activities'.
//
// The vars of a SendEmail command are the facts an email states, as text:
//
//	order_id, product, invoice_id, subscription_id   what it is about
//	amount_minor, refunded_minor, currency           amounts in Stripe's minor units, ISO currency
//	amount, refunded                                 the same as "19.00 USD" (older releases read these)
//	next_retry_at, period_end_at, trial_end_at, due_by_at   times, RFC 3339 UTC
//	next_retry, period_end, trial_end, due_by        the same as older text
//	customer_name                                    the name Stripe has, when it has one
//	hosted_url, invoice_pdf, receipt_url             Stripe's pages for the invoice or charge
//	reason, attempt, final, no_payment               the decline code, retries, the final notice's sentence
//	portal_url                                       added by the activity (a signed billing portal link)
//
// Vars are activity input, never workflow state: adding one changes no
// command a workflow records. EmailData reads them (and the older forms)
// into TemplateData.
const (
	PurposeReceipt                = "receipt"
	PurposeOrderPaymentFailed     = "order_payment_failed"
	PurposeRefund                 = "refund"
	PurposeInvoiceReceipt         = "invoice_receipt"
	PurposeInvoiceRefund          = "invoice_refund"
	PurposeSubscriptionIncomplete = "subscription_incomplete"
	PurposeDunningFirst           = "dunning_first_failure"
	PurposeDunningHardDecline     = "dunning_update_card"
	PurposeDunningReminder        = "dunning_reminder"
	PurposeDunningFinal           = "dunning_final_notice"
	PurposeActionRequired         = "payment_action_required"
	PurposeRecovered              = "payment_recovered"
	PurposeSuspended              = "access_suspended"
	PurposeTrialEnding            = "trial_will_end"
	PurposeDisputeAlert           = "dispute_opened"
	PurposeDisputeReminder        = "dispute_evidence_reminder"
	PurposeDisputeClosed          = "dispute_closed"
	// PurposeOperatorRefused tells ALERT_EMAIL that a side effect was
	// refused for good (RefusedEffect).
	PurposeOperatorRefused = "operator_refused_effect"
	// PurposeOperatorQuarantined tells ALERT_EMAIL that the receiver kept
	// an event it could not interpret in quarantine. The billing core never
	// sends it (activities.QuarantineAlert builds it); its words are here
	// with every other email's, so they render, preview and test alike.
	PurposeOperatorQuarantined = "operator_quarantined_event"
)

// Purposes lists every purpose, sorted (a fresh slice).
func Purposes() []string {
	out := []string{
		PurposeSuspended, PurposeDisputeReminder, PurposeDisputeClosed, PurposeDisputeAlert,
		PurposeDunningFinal, PurposeDunningFirst, PurposeDunningReminder, PurposeDunningHardDecline,
		PurposeInvoiceReceipt, PurposeInvoiceRefund, PurposeOrderPaymentFailed, PurposeActionRequired,
		PurposeRecovered, PurposeReceipt, PurposeRefund, PurposeSubscriptionIncomplete, PurposeTrialEnding,
		PurposeOperatorRefused, PurposeOperatorQuarantined,
	}
	slices.Sort(out)
	return out
}

// Render fills a purpose's subject and plain-text body with vars, without
// a brand (RenderEmail has both parts, the brand and the template data).
// It is pure: the activities call it; the workflow only carries purpose
// and vars.
func Render(purpose string, vars map[string]string) (subject, body string, err error) {
	m, err := RenderEmail(purpose, vars, Brand{})
	if err != nil {
		return "", "", err
	}
	return m.Subject, m.Text, nil
}

// FormatAmount renders minor units as "12.34 USD" (payflow.FormatAmount).
func FormatAmount(amount int64, currency string) string {
	return payflow.FormatAmount(amount, currency)
}

// FormatDate is how dates read in UI lines and timelines (UTC). Emails
// say "4 December 2026, 09:30 UTC" (FormatEmailTime).
func FormatDate(t time.Time) string { return t.UTC().Format("2006-01-02 15:04") }

// formatEmailDate is the older text of a time in email vars (next_retry):
// FormatDate with its zone.
func formatEmailDate(t time.Time) string { return FormatDate(t) + " UTC" }

// unixTime is Stripe's Unix seconds as a time, nil for none.
func unixTime(sec int64) *time.Time {
	if sec <= 0 {
		return nil
	}
	t := time.Unix(sec, 0).UTC()
	return &t
}

func formatUnix(sec int64) string {
	if sec <= 0 {
		return ""
	}
	return FormatDate(time.Unix(sec, 0))
}
