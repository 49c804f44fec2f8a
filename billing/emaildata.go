package billing

import (
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/payflow/payflow"
)

// Brand is who customer emails come from: the merchant's name
// (EMAIL_BRAND_NAME), shown in the sender name, the greeting's sign-off
// and the footer, and the support address (EMAIL_REPLY_TO), which replies
// go to. Both may be empty: the messages read right without them.
type Brand struct {
	Name         string
	SupportEmail string
}

// TemplateData is everything an email says, typed and formatted: the dot
// of the built-in templates (billing/emails) and, as JSON, the
// dynamic_template_data a SendGrid dynamic template receives. It is built
// from the command's vars (EmailData) and never holds anything else: a var
// it does not know is dropped, so nothing the core did not mean for the
// customer can reach a template. Every string is plain text (escaped by
// the HTML templates, by SendGrid's {{double braces}}); every URL is
// http(s) or empty. The README's email section documents each field.
type TemplateData struct {
	Purpose   string `json:"purpose"`
	Subject   string `json:"subject"`   // payflow's subject line, for a template's {{subject}}
	Preheader string `json:"preheader"` // one line: the inbox preview text
	// Operator: an alert to ALERT_EMAIL, not a customer email (no
	// greeting, no reply-to).
	Operator bool `json:"operator,omitempty"`

	BrandName    string `json:"brand_name,omitempty"`
	SupportEmail string `json:"support_email,omitempty"`
	CustomerName string `json:"customer_name,omitempty"`
	Greeting     string `json:"greeting,omitempty"` // "Hi Jenny Rosen," or "Hello,"; empty for operator alerts

	Amount              string `json:"amount,omitempty"` // formatted for its currency: $19.00, ¥1,900, 19,00 €
	AmountMinor         int64  `json:"amount_minor,omitempty"`
	AmountRefunded      string `json:"amount_refunded,omitempty"`
	AmountRefundedMinor int64  `json:"amount_refunded_minor,omitempty"`
	Currency            string `json:"currency,omitempty"` // ISO 4217, upper case

	OrderID        string `json:"order_id,omitempty"`
	Product        string `json:"product,omitempty"`
	InvoiceID      string `json:"invoice_id,omitempty"`
	SubscriptionID string `json:"subscription_id,omitempty"`

	HostedInvoiceURL string `json:"hosted_invoice_url,omitempty"`
	InvoicePDFURL    string `json:"invoice_pdf_url,omitempty"`
	ReceiptURL       string `json:"receipt_url,omitempty"`
	PortalURL        string `json:"portal_url,omitempty"`

	DeclineCode    string `json:"decline_code,omitempty"`
	DeclineMessage string `json:"decline_message,omitempty"`
	Attempt        int    `json:"attempt,omitempty"`
	NextRetry      string `json:"next_retry,omitempty"`
	NextRetryAt    string `json:"next_retry_at,omitempty"`
	PeriodEnd      string `json:"period_end,omitempty"`
	PeriodEndAt    string `json:"period_end_at,omitempty"`
	TrialEnd       string `json:"trial_end,omitempty"`
	TrialEndAt     string `json:"trial_end_at,omitempty"`
	FinalMessage   string `json:"final_message,omitempty"`
	NothingToPay   bool   `json:"nothing_to_pay,omitempty"`

	// Operator alerts: disputes.
	DisputeID       string `json:"dispute_id,omitempty"`
	ChargeID        string `json:"charge_id,omitempty"`
	DisputeReason   string `json:"dispute_reason,omitempty"`
	DisputeStatus   string `json:"dispute_status,omitempty"`
	EvidenceDueBy   string `json:"evidence_due_by,omitempty"`
	EvidenceDueByAt string `json:"evidence_due_by_at,omitempty"`
	// Operator alerts: a side effect refused for good.
	WorkflowID        string `json:"workflow_id,omitempty"`
	Effect            string `json:"effect,omitempty"`
	EffectDescription string `json:"effect_description,omitempty"`
	ErrorType         string `json:"error_type,omitempty"`
	ErrorMessage      string `json:"error_message,omitempty"`
	// Operator alerts: an event kept in quarantine.
	EventID          string `json:"event_id,omitempty"`
	EventType        string `json:"event_type,omitempty"`
	APIVersion       string `json:"api_version,omitempty"`
	Livemode         bool   `json:"livemode,omitempty"`
	Account          string `json:"account,omitempty"`
	QuarantineReason string `json:"quarantine_reason,omitempty"`
	QuarantineDetail string `json:"quarantine_detail,omitempty"`
	ReceivedAt       string `json:"received_at,omitempty"`
}

// operatorPurposes go to ALERT_EMAIL.
var operatorPurposes = map[string]bool{
	PurposeDisputeAlert: true, PurposeDisputeReminder: true, PurposeDisputeClosed: true,
	PurposeOperatorRefused: true, PurposeOperatorQuarantined: true,
}

// IsOperatorPurpose reports whether the purpose is an operator alert (sent
// to ALERT_EMAIL) rather than a customer email.
func IsOperatorPurpose(purpose string) bool { return operatorPurposes[purpose] }

// EmailData builds a purpose's template data from the command's vars (the
// core's, plus portal_url from the activity) and the brand. Subject and
// Preheader are filled by RenderEmail.
func EmailData(purpose string, vars map[string]string, brand Brand) TemplateData {
	v := func(k string) string { return strings.TrimSpace(vars[k]) }
	d := TemplateData{
		Purpose:   purpose,
		Operator:  IsOperatorPurpose(purpose),
		BrandName: cleanLine(brand.Name, 100), SupportEmail: cleanLine(brand.SupportEmail, 254),
		OrderID: cleanLine(v("order_id"), 255), Product: cleanLine(v("product"), 500),
		InvoiceID: cleanLine(v("invoice_id"), 255), SubscriptionID: cleanLine(v("subscription_id"), 255),
		HostedInvoiceURL: safeURL(v("hosted_url")), InvoicePDFURL: safeURL(v("invoice_pdf")),
		ReceiptURL: safeURL(v("receipt_url")), PortalURL: safeURL(v("portal_url")),
		FinalMessage: cleanLine(v("final"), 500), NothingToPay: v("no_payment") == "true",
	}
	d.Currency, d.AmountMinor, d.Amount = money(vars, "amount_minor", "amount")
	// An order's vars carry refunded (zero) in every email: only a refund
	// is shown.
	if cur, n, s := money(vars, "refunded_minor", "refunded"); n != 0 {
		d.Currency, d.AmountRefundedMinor, d.AmountRefunded = firstNonEmpty(d.Currency, cur), n, s
	}
	if n, err := strconv.Atoi(v("attempt")); err == nil && n > 0 {
		d.Attempt = n
	}
	d.NextRetry, d.NextRetryAt = emailTime(vars, "next_retry")
	d.PeriodEnd, d.PeriodEndAt = emailTime(vars, "period_end")
	d.TrialEnd, d.TrialEndAt = emailTime(vars, "trial_end")
	if d.Operator {
		d.DisputeID, d.ChargeID = cleanLine(v("dispute_id"), 255), cleanLine(v("charge_id"), 255)
		d.DisputeStatus = cleanLine(v("status"), 100)
		d.EvidenceDueBy, d.EvidenceDueByAt = emailTime(vars, "due_by")
		d.WorkflowID, d.Effect, d.EffectDescription = cleanLine(v("workflow_id"), 500), cleanLine(v("effect"), 100), cleanLine(v("what"), 1000)
		d.ErrorType, d.ErrorMessage = cleanLine(v("error_type"), 200), cleanLine(v("error"), 1000)
		d.EventID, d.EventType, d.APIVersion = cleanLine(v("event_id"), 255), cleanLine(v("type"), 255), cleanLine(v("api_version"), 100)
		d.Livemode, d.Account = v("livemode") == "true", cleanLine(v("account"), 255)
		d.QuarantineDetail, d.ReceivedAt = cleanLine(v("detail"), 1000), cleanLine(v("received_at"), 100)
		switch purpose {
		case PurposeOperatorQuarantined:
			d.QuarantineReason = cleanLine(v("reason"), 200)
		default:
			d.DisputeReason = cleanLine(v("reason"), 200)
		}
		return d
	}
	d.CustomerName = CleanName(v("customer_name"))
	d.Greeting = "Hello,"
	if d.CustomerName != "" {
		d.Greeting = "Hi " + d.CustomerName + ","
	}
	d.DeclineCode, d.DeclineMessage = declineWords(v("reason"))
	return d
}

// money reads an amount: minor units and currency when the core sent
// them, else the legacy "19.00 USD" text (read back exactly), else the
// text as it is.
func money(vars map[string]string, minorKey, legacyKey string) (currency string, minor int64, formatted string) {
	cur := strings.ToUpper(strings.TrimSpace(vars["currency"]))
	if s := strings.TrimSpace(vars[minorKey]); s != "" {
		if n, err := strconv.ParseInt(s, 10, 64); err == nil {
			return cur, n, FormatMoney(n, cur)
		}
	}
	legacy := strings.TrimSpace(vars[legacyKey])
	if n, c, ok := parseLegacyAmount(legacy); ok {
		return c, n, FormatMoney(n, c)
	}
	return cur, 0, cleanLine(legacy, 100)
}

// The core's times in email vars: <key>_at in RFC 3339 (UTC), and <key>
// in the older "2006-01-02 15:04[ UTC]" text, always UTC.
var legacyTimeLayouts = []string{"2006-01-02 15:04 UTC", "2006-01-02 15:04", "2006-01-02"}

// emailTime reads a time var and returns it as an email says it (with its
// zone) and in RFC 3339; text no layout reads is kept as it is (e.g.
// "unknown").
func emailTime(vars map[string]string, key string) (shown, rfc3339 string) {
	if s := strings.TrimSpace(vars[key+"_at"]); s != "" {
		if t, err := time.Parse(time.RFC3339, s); err == nil {
			return FormatEmailTime(t), t.UTC().Format(time.RFC3339)
		}
	}
	s := strings.TrimSpace(vars[key])
	if s == "" {
		return "", ""
	}
	for _, layout := range legacyTimeLayouts {
		if t, err := time.Parse(layout, s); err == nil {
			return FormatEmailTime(t), t.UTC().Format(time.RFC3339)
		}
	}
	return cleanLine(s, 100), ""
}

// FormatEmailTime is how a time reads in an email: "4 December 2026,
// 09:30 UTC". payflow does not know the customer's time zone, so it says
// which one it uses.
func FormatEmailTime(t time.Time) string {
	return t.UTC().Format("2 January 2006, 15:04") + " UTC"
}

// setEmailTime puts t in vars as <key> (the older text, for an activity
// of an older release) and <key>_at (RFC 3339); a zero or missing time
// removes both.
func setEmailTime(vars map[string]string, key string, t *time.Time) {
	if t == nil || t.IsZero() {
		delete(vars, key)
		delete(vars, key+"_at")
		return
	}
	vars[key] = formatEmailDate(*t)
	vars[key+"_at"] = t.UTC().Format(time.RFC3339)
}

// setEmailUnix is setEmailTime for Stripe's Unix seconds (0: none); the
// older text is FormatDate's, as before.
func setEmailUnix(vars map[string]string, key string, sec int64) {
	if sec <= 0 {
		delete(vars, key)
		delete(vars, key+"_at")
		return
	}
	vars[key] = formatUnix(sec)
	vars[key+"_at"] = time.Unix(sec, 0).UTC().Format(time.RFC3339)
}

// setMoney puts an amount in vars as <key>_minor and currency beside the
// older formatted text under key.
func setMoney(vars map[string]string, key, minorKey string, amount int64, currency string) {
	vars[key] = FormatAmount(amount, currency)
	vars[minorKey] = strconv.FormatInt(amount, 10)
	if currency != "" {
		vars["currency"] = strings.ToLower(currency)
	}
}

// safeURL keeps an http(s) URL with a host, and nothing else: a link in an
// email (or a SendGrid template, where {{x}} in an href is not checked)
// can never be javascript: or data:.
func safeURL(s string) string {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || strings.ContainsAny(s, " \t\r\n\"'<>") {
		return ""
	}
	return s
}

// CleanName is a customer's name as an email shows it (payflow.CleanName).
func CleanName(s string) string { return payflow.CleanName(s) }

// cleanLine makes s one line of printable text of at most max runes.
func cleanLine(s string, max int) string { return payflow.OneLine(s, max) }

// declineWords turns a decline or failure code into what a customer email
// says: the code as shown (a code that hints at fraud — lost_card,
// stolen_card, pickup_card, fraudulent, … — is shown as generic_decline,
// as Stripe advises, so a person holding a stolen card learns nothing)
// and a sentence. An empty code says nothing.
func declineWords(code string) (shown, sentence string) {
	// An order's reason is "code: Stripe's message"; the message is
	// Stripe's, written for the merchant: only the code is read.
	code, _, _ = strings.Cut(code, ":")
	code = strings.ToLower(strings.TrimSpace(cleanLine(code, 100)))
	switch code {
	case "":
		return "", ""
	case "insufficient_funds":
		return code, "Your card has insufficient funds."
	case "expired_card":
		return code, "Your card has expired."
	case "incorrect_cvc", "invalid_cvc":
		return code, "The card's security code (CVC) was not accepted."
	case "incorrect_number", "invalid_number":
		return code, "The card number was not accepted."
	case "invalid_expiry_month", "invalid_expiry_year", "invalid_expiry_date":
		return code, "The card's expiry date was not accepted."
	case "card_not_supported":
		return code, "Your card does not support this kind of payment."
	case "currency_not_supported":
		return code, "Your card does not support payments in this currency."
	case "card_velocity_exceeded", "withdrawal_count_limit_exceeded":
		return code, "Your card has reached its spending limit."
	case "authentication_required":
		return code, "Your bank asks you to confirm the payment."
	case "processing_error", "issuer_not_available", "try_again_later", "reenter_transaction", "approve_with_id":
		return code, "Your bank could not process the payment at the time."
	case "lost_card", "stolen_card", "pickup_card", "fraudulent", "merchant_blacklist", "restricted_card",
		"security_violation", "revocation_of_all_authorizations", "revocation_of_authorization", "stop_payment_order":
		return "generic_decline", "Your bank declined the payment."
	}
	return code, "Your bank declined the payment."
}
