package billing

import (
	"fmt"
	"strings"
)

// RefusedEffect is the operator alert for a command whose side effect was
// refused for good (a permanent 4xx from Stripe's API in RetryCharge,
// RecheckInvoice or CancelSubscription, a merchant app's 4xx on the
// provisioning webhook in SetAccess, an email the provider refuses, …).
// The workflow never fails because of such a refusal: the payment, the
// access and the records stay right, it notes the refusal in its timeline,
// counts it (payflow_side_effects_refused_total{effect}) and sends this
// email to ALERT_EMAIL through the ledger, once per refused effect (the
// dedupe key names the workflow, the command and the command's own key).
// An alert about an operator email is not sent: nil (it would only be
// refused the same way).
func RefusedEffect(workflowID string, c Command, what, errType, message string) *SendEmail {
	if e, ok := c.(SendEmail); ok && e.ToOperator {
		return nil
	}
	key := "operator/" + workflowID + "/refused/" + c.Name()
	if k := effectKey(c); k != "" {
		key += "/" + k
	}
	return &SendEmail{DedupeKey: key, Purpose: PurposeOperatorRefused, ToOperator: true, Vars: map[string]string{
		"workflow_id": workflowID, "effect": c.Name(), "what": what, "error_type": errType, "error": message}}
}

// effectKey is what makes one command's effect distinct from another of
// the same kind in the same workflow.
func effectKey(c Command) string {
	switch c := c.(type) {
	case SendEmail:
		return c.DedupeKey
	case RetryCharge:
		return firstNonEmpty(c.IdempotencyKey, fmt.Sprintf("%s/retry-%d", c.InvoiceID, c.Attempt))
	case RecheckInvoice:
		return c.InvoiceID + "/" + c.Step
	case CancelSubscription:
		return firstNonEmpty(c.IdempotencyKey, c.SubscriptionID)
	case SetAccess:
		parts := []string{c.CustomerID, c.ProductID, c.Source, c.Status}
		if c.ValidUntil != nil {
			parts = append(parts, fmt.Sprint(c.ValidUntil.Unix()))
		}
		return strings.Join(parts, "/")
	case NotifyOwner:
		return c.WorkflowID + "/" + c.Event.ID
	case LookupPaymentOwner:
		return firstNonEmpty(c.DisputeID, c.ChargeID, c.PaymentIntent, c.InvoiceID)
	}
	return ""
}
