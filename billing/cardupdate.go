package billing

// Retry when the customer fixes the card.
//
// A change of the customer's payment method — customer.updated with a new
// invoice_settings.default_payment_method, payment_method.attached,
// setup_intent.succeeded for off-session use — is the moment a failed
// invoice is most likely to be paid. The receiver decodes only real
// changes (payflow.Event.PaymentMethod); the event is keyed by customer,
// and the customer/<cus> fan-out workflow hands it to each of the
// customer's subscriptions (routing.CustomerID), which applies it here.
// A subscription's own default_payment_method (which Stripe charges before
// the customer's default) changing is customer.subscription.updated: it
// reaches that subscription directly and retries its campaigns alone.
//
// In payflow mode every open campaign retries at once, whatever its
// schedule says, hard-declined or waiting for 3-D Secure included (both
// wait for exactly this): RetryCharge with the campaign's next attempt
// number, so its idempotency key <workflow>/<invoice>/retry-<n> is new for
// each attempt and a redelivered or re-forwarded event (same event ID, in
// Seen) charges nothing twice. The result goes through ApplyChargeResult
// as any retry's: paid recovers (access restored, one "payment recovered"
// email), a hard decline waits again, another decline follows the
// schedule from where it stands (the attempt counts as one of the
// policy's retries). A campaign whose retry is already in flight is left
// to it; one whose takeover is pending retries as soon as the takeover is
// answered; a campaign past its final action is not charged.
//
// In stripe mode payflow charges nothing: Stripe retries with the
// customer's current payment method on its own schedule
// (docs.stripe.com/billing/revenue-recovery/smart-retries, "Payment method
// ordering"), and a payflow charge would fight it. Stripe does not retry
// after a hard decline; that campaign keeps waiting for the customer to
// pay the hosted invoice.

// IsPaymentMethodUpdate reports whether ev changed the customer's payment
// method in a way that retries open campaigns.
func IsPaymentMethodUpdate(ev Event) bool {
	if ev.PaymentMethod == "" {
		return false
	}
	switch ev.Type {
	case "customer.updated", "payment_method.attached", "setup_intent.succeeded", "customer.subscription.updated":
		return true
	}
	return false
}

func (st *subStep) paymentMethodUpdated(ev Event) {
	s := st.s
	if len(s.Campaigns) == 0 {
		st.note("payment method %s (%s): no open campaign", ev.PaymentMethod, ev.Type)
		return
	}
	for i := range s.Campaigns {
		c := &s.Campaigns[i]
		switch {
		case c.Final:
			st.note("payment method %s: invoice %s is past its final action, not retried", ev.PaymentMethod, c.InvoiceID)
		case c.Policy.Mode != ModePayflow:
			st.note("payment method %s: invoice %s is retried by Stripe (stripe mode)", ev.PaymentMethod, c.InvoiceID)
		case c.ChargePending != 0:
			st.note("payment method %s: retry %d of invoice %s already in flight", ev.PaymentMethod, c.ChargePending, c.InvoiceID)
		case c.TakeoverPending:
			now := st.now
			c.HardDecline, c.ActionRequired, c.NextRetryAt = false, false, &now
			st.note("payment method %s: invoice %s retries once Stripe hands it over", ev.PaymentMethod, c.InvoiceID)
			st.retime(c)
		default:
			c.HardDecline, c.ActionRequired = false, false
			st.note("payment method %s (%s): invoice %s retried now", ev.PaymentMethod, ev.Type, c.InvoiceID)
			st.charge(c)
			st.retime(c)
		}
	}
}
