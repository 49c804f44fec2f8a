package billing

import (
	"strings"
	"time"
)

// SampleCurrencies are the currencies EmailSample knows (a fresh slice):
// a two-decimal currency written before the number, one written after it
// with a decimal comma, and a zero-decimal one.
func SampleCurrencies() []string { return []string{"usd", "eur", "jpy"} }

// SampleBrand is the merchant of the samples when none is configured.
func SampleBrand() Brand {
	return Brand{Name: "Northwind Studio", SupportEmail: "support@northwind.example"}
}

// sampleCustomer is one currency's customer in the samples.
type sampleCustomer struct {
	name    string
	amount  int64
	product string
}

func sampleCustomerFor(currency string) (sampleCustomer, bool) {
	switch currency {
	case "usd":
		return sampleCustomer{"Jenny Rosen", 1900, "Studio Pro"}, true
	case "eur":
		return sampleCustomer{"Élodie Durand", 4900, "Studio Team"}, true
	case "jpy":
		return sampleCustomer{"山田 花子", 2980, "Studio Basic"}, true
	}
	return sampleCustomer{}, false
}

// EmailSample returns the vars the core (and, for dunning emails, the
// activity's portal_url) would send for purpose, with realistic values in
// currency (one of SampleCurrencies; another is read as usd): what
// `payflow emails preview` renders and the golden tests pin.
func EmailSample(purpose, currency string) map[string]string {
	currency = strings.ToLower(currency)
	c, ok := sampleCustomerFor(currency)
	if !ok {
		currency = "usd"
		c, _ = sampleCustomerFor(currency)
	}
	const (
		orderID   = "pi_3QaZ8xLkdIwHu7ix0X8bVx2Y"
		invoiceID = "in_1QaZ9BLkdIwHu7ixqW1Y2s3T"
		subID     = "sub_1QaZ9BLkdIwHu7ixTnWq8A0p"
		chargeID  = "ch_3QaZ8xLkdIwHu7ix0sXc1d2E"
		disputeID = "dp_1QaZCdLkdIwHu7ixF4Lw0a9C"
		hosted    = "https://invoice.stripe.com/i/acct_1NorthwindSt/test_YWNjdF8xTm9ydGh3aW5kU3QsX1BxRjR6?s=ap"
		pdf       = "https://pay.stripe.com/invoice/acct_1NorthwindSt/test_YWNjdF8xTm9ydGh3aW5kU3QsX1BxRjR6/pdf?s=ap"
		receipt   = "https://pay.stripe.com/receipts/payment/CAcaFwoVYWNjdF8xTm9ydGh3aW5kU3QoxJ3ZuQYyBpLn"
		portal    = "https://pay.northwind.example/billing/portal/AQAAAABnUjqAY3VzX1BxRjR6TGtkSXdIdTdpeA.q1vDfhzJ0cY8"
	)
	at := func(s string) *time.Time {
		t, _ := time.Parse(time.RFC3339, s)
		return &t
	}
	v := map[string]string{}
	order := func() {
		v["order_id"], v["product"], v["customer_name"] = orderID, c.product, c.name
		setMoney(v, "amount", "amount_minor", c.amount, currency)
		setMoney(v, "refunded", "refunded_minor", 0, currency)
	}
	campaign := func(reason string, attempts string, next *time.Time) {
		v["invoice_id"], v["subscription_id"], v["hosted_url"], v["customer_name"] = invoiceID, subID, hosted, c.name
		v["reason"], v["attempt"] = reason, attempts
		setMoney(v, "amount", "amount_minor", c.amount, currency)
		setEmailTime(v, "next_retry", next)
		v["portal_url"] = portal
	}
	invoice := func() {
		v["invoice_id"], v["subscription_id"], v["hosted_url"], v["invoice_pdf"], v["customer_name"] = invoiceID, subID, hosted, pdf, c.name
		setMoney(v, "amount", "amount_minor", c.amount, currency)
		setEmailTime(v, "period_end", at("2027-01-04T09:30:00Z"))
	}
	dispute := func(status string) {
		v["dispute_id"], v["charge_id"], v["reason"], v["status"] = disputeID, chargeID, "fraudulent", status
		setMoney(v, "amount", "amount_minor", c.amount, currency)
		setEmailTime(v, "due_by", at("2026-12-14T23:59:59Z"))
	}
	switch purpose {
	case PurposeReceipt:
		order()
		v["receipt_url"] = receipt
	case PurposeOrderPaymentFailed:
		order()
		v["reason"] = "insufficient_funds"
	case PurposeRefund:
		order()
		setMoney(v, "refunded", "refunded_minor", c.amount, currency)
		v["receipt_url"] = receipt
	case PurposeInvoiceReceipt, PurposeRecovered:
		invoice()
	case PurposeInvoiceRefund:
		invoice()
		delete(v, "amount")
		delete(v, "amount_minor")
		setMoney(v, "refunded", "refunded_minor", c.amount, currency)
		v["receipt_url"] = receipt
	case PurposeSubscriptionIncomplete:
		campaign("expired_card", "0", nil)
		delete(v, "portal_url") // not a dunning email: no portal link
	case PurposeDunningFirst:
		campaign("insufficient_funds", "0", at("2026-12-04T09:30:00Z"))
	case PurposeDunningReminder:
		campaign("insufficient_funds", "2", at("2026-12-11T09:30:00Z"))
	case PurposeDunningHardDecline:
		campaign("expired_card", "0", nil)
	case PurposeActionRequired:
		campaign("authentication_required", "0", nil)
	case PurposeSuspended:
		campaign("insufficient_funds", "2", at("2026-12-11T09:30:00Z"))
	case PurposeDunningFinal:
		campaign("insufficient_funds", "3", nil)
		v["final"] = "Your subscription has been canceled."
	case PurposeTrialEnding:
		v["subscription_id"], v["customer_name"] = subID, c.name
		setEmailTime(v, "trial_end", at("2026-12-04T09:30:00Z"))
	case PurposeDisputeAlert, PurposeDisputeReminder:
		dispute("needs_response")
	case PurposeDisputeClosed:
		dispute("lost")
	case PurposeOperatorRefused:
		v["workflow_id"], v["effect"] = "subscription/"+subID, "RetryCharge"
		v["what"] = "retry 2 of invoice " + invoiceID
		v["error_type"], v["error"] = "StripeRequestRefused", "No such invoice: 'in_1QaZ9BLkdIwHu7ixqW1Y2s3T' (resource_missing)"
	case PurposeOperatorQuarantined:
		v["event_id"], v["type"], v["api_version"], v["livemode"] = "evt_1QaZDeLkdIwHu7ixm3N9pQrS", "invoice.paid", "2099-01-01.zeta", "true"
		v["reason"], v["detail"] = "unknown_api_version", `api_version "2099-01-01.zeta" is of no family payflow reads`
		v["received_at"] = "2026-12-04 09:30:12 UTC"
	}
	return v
}
