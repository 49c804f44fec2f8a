package billing

import (
	"fmt"
	"slices"
	"strings"
	"text/template"
	"time"

	"github.com/payflow/payflow"
)

// Email purposes. The ledger's dedupe key makes each (workflow, purpose,
// step) go out once; the wording is the core's (Render), the sending is the
// activities'.
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
)

// Purposes lists every purpose, sorted (a fresh slice).
func Purposes() []string {
	out := []string{
		PurposeSuspended, PurposeDisputeReminder, PurposeDisputeClosed, PurposeDisputeAlert,
		PurposeDunningFinal, PurposeDunningFirst, PurposeDunningReminder, PurposeDunningHardDecline,
		PurposeInvoiceReceipt, PurposeInvoiceRefund, PurposeOrderPaymentFailed, PurposeActionRequired,
		PurposeRecovered, PurposeReceipt, PurposeRefund, PurposeSubscriptionIncomplete, PurposeTrialEnding,
		PurposeOperatorRefused,
	}
	slices.Sort(out)
	return out
}

// portalText is the line of a dunning email with the customer's billing
// portal link (portal_url: a signed link to the receiver, which opens a
// Stripe portal session on the click; the activity adds it when
// configured). portalLine shows it only when the link is there.
const (
	portalText = "Update your payment method in the billing portal: {{.portal_url}}"
	portalLine = "{{if .portal_url}}\n\n" + portalText + "{{end}}"
)

// texts holds each purpose's subject and body templates (missing vars
// render empty).
func texts(purpose string) (subject, body string, ok bool) {
	switch purpose {
	case PurposeReceipt:
		return "Your receipt for order {{.order_id}}",
			"Thank you for your purchase.\n\nOrder: {{.order_id}}\nProduct: {{.product}}\nAmount paid: {{.amount}}\n\nYour access is ready.", true
	case PurposeOrderPaymentFailed:
		return "Your payment for order {{.order_id}} did not go through",
			"We could not collect {{.amount}} for order {{.order_id}}. No access was granted. You can place the order again with another payment method.", true
	case PurposeRefund:
		return "Your refund for order {{.order_id}}",
			"We refunded {{.refunded}} for order {{.order_id}}. Access bought with this order has ended. The refund reaches your account in 5–10 business days.", true
	case PurposeInvoiceReceipt:
		return "Payment received: {{.amount}}",
			"Thank you: we received {{.amount}} for invoice {{.invoice_id}}{{if .period_end}}, for service until {{.period_end}}{{end}}.", true
	case PurposeInvoiceRefund:
		return "Your refund for invoice {{.invoice_id}}",
			"We refunded {{.refunded}} of invoice {{.invoice_id}}. The refund reaches your account in 5–10 business days.", true
	case PurposeSubscriptionIncomplete:
		return "Your subscription could not start: payment of {{.amount}} failed",
			"We could not charge your card for the first invoice of your subscription ({{.invoice_id}}){{if .reason}} ({{.reason}}){{end}}. We will not retry it: please complete the payment within 23 hours to start your subscription: {{.hosted_url}}", true
	case PurposeDunningFirst:
		return "Your payment of {{.amount}} failed",
			"We could not charge your card for invoice {{.invoice_id}}{{if .reason}} ({{.reason}}){{end}}.{{if .next_retry}} We will try again on {{.next_retry}}.{{else}} No further automatic attempt is scheduled.{{end}} To avoid interruption, update your payment method: {{.hosted_url}}" + portalLine, true
	case PurposeDunningHardDecline:
		return "Action needed: your card was declined",
			"Your bank declined the payment for invoice {{.invoice_id}} ({{.reason}}) and retrying will not help. Please pay with another card: {{.hosted_url}}" + portalLine, true
	case PurposeDunningReminder:
		return "Reminder: {{.amount}} is still due",
			"Attempt {{.attempt}} to charge invoice {{.invoice_id}} failed.{{if .next_retry}} We will try again on {{.next_retry}}.{{else}} No further automatic attempt is scheduled.{{end}} Update your payment method here: {{.hosted_url}}" + portalLine, true
	case PurposeDunningFinal:
		return "Final notice: {{.amount}} is overdue",
			"We could not collect invoice {{.invoice_id}} after every attempt. {{.final}}{{if not .no_payment}} Pay now to restore your access: {{.hosted_url}}" + portalLine + "{{end}}", true
	case PurposeActionRequired:
		return "Please confirm your payment of {{.amount}}",
			"Your bank asks you to confirm the payment for invoice {{.invoice_id}}. Confirm it here: {{.hosted_url}}" + portalLine, true
	case PurposeRecovered:
		return "Payment received: you're all set",
			"Thank you: invoice {{.invoice_id}} ({{.amount}}) is paid and your access is restored.", true
	case PurposeSuspended:
		return "Your access is paused",
			"Invoice {{.invoice_id}} is still unpaid, so your access is paused. Pay here to restore it at once: {{.hosted_url}}" + portalLine, true
	case PurposeTrialEnding:
		return "Your trial ends on {{.trial_end}}",
			"Your free trial ends on {{.trial_end}}. Your subscription continues after that unless you cancel.", true
	case PurposeDisputeAlert:
		return "[payflow] Dispute {{.dispute_id}} opened: {{.amount}} ({{.reason}})",
			"A customer disputed charge {{.charge_id}} ({{.amount}}, reason: {{.reason}}).\nEvidence is due by {{.due_by}}.\nRespond in the Stripe Dashboard.", true
	case PurposeDisputeReminder:
		return "[payflow] Evidence for dispute {{.dispute_id}} is due {{.due_by}}",
			"No evidence has been submitted yet for dispute {{.dispute_id}} ({{.amount}}, {{.reason}}). It is due by {{.due_by}}.", true
	case PurposeOperatorRefused:
		return "[payflow] {{.effect}} refused for good in {{.workflow_id}}",
			"{{.workflow_id}} could not carry out {{.what}}: it was refused for good ({{.error_type}}: {{.error}}).\nThe workflow went on without it and noted it in its timeline; payflow will not try again. Check the cause (Stripe's dashboard logs, the provisioning endpoint, the email provider) and do it by hand if it is still needed.", true
	case PurposeDisputeClosed:
		return "[payflow] Dispute {{.dispute_id}} closed: {{.status}}",
			"Dispute {{.dispute_id}} on charge {{.charge_id}} closed as {{.status}} ({{.amount}}).", true
	}
	return "", "", false
}

// Render fills a purpose's subject and body with vars. It is pure (the
// activities call it; the workflow only carries purpose and vars).
func Render(purpose string, vars map[string]string) (subject, body string, err error) {
	st, bt, ok := texts(purpose)
	if !ok {
		return "", "", fmt.Errorf("no email text for purpose %q", purpose)
	}
	exec := func(name, text string) (string, error) {
		t, err := template.New(name).Option("missingkey=zero").Parse(text)
		if err != nil {
			return "", err
		}
		var b strings.Builder
		if err := t.Execute(&b, vars); err != nil {
			return "", err
		}
		return strings.ReplaceAll(b.String(), "<no value>", ""), nil
	}
	if subject, err = exec(purpose+"-subject", st); err != nil {
		return "", "", err
	}
	if body, err = exec(purpose+"-body", bt); err != nil {
		return "", "", err
	}
	return subject, body, nil
}

// FormatAmount renders minor units as "12.34 USD" (payflow.FormatAmount).
func FormatAmount(amount int64, currency string) string {
	return payflow.FormatAmount(amount, currency)
}

// FormatDate is how dates read in emails and UI lines.
func FormatDate(t time.Time) string { return t.UTC().Format("2006-01-02 15:04") }

// formatEmailDate is how a date reads in an email: FormatDate with its
// time zone stated (the customer is not in UTC).
func formatEmailDate(t time.Time) string { return FormatDate(t) + " UTC" }

// emailUnix is formatEmailDate for Stripe's Unix seconds; "" for none.
func emailUnix(sec int64) string {
	if sec <= 0 {
		return ""
	}
	return formatEmailDate(time.Unix(sec, 0))
}

func formatUnix(sec int64) string {
	if sec <= 0 {
		return ""
	}
	return FormatDate(time.Unix(sec, 0))
}
