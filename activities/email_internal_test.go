package activities

import (
	"strings"
	"testing"
	"text/template"
)

// TestTemplatesUseOnlyWorkflowVars executes every template with
// missingkey=error and only the variables the workflows pass for that
// purpose (order, subscription and dispute emails each build their own
// map), so a template that names a variable no workflow sets fails here
// instead of rendering an empty gap.
func TestTemplatesUseOnlyWorkflowVars(t *testing.T) {
	order := []string{"order_id", "amount", "product", "reason", "refunded"}
	// subscriptionImpl.email: always subscription_id; campaign fields
	// when a dunning campaign runs (next_retry only when one is planned).
	sub := []string{"subscription_id"}
	campaign := append([]string{"invoice_id", "hosted_url", "amount", "reason", "next_retry", "attempt"}, sub...)
	dispute := []string{"dispute_id", "charge_id", "amount", "reason", "due_by", "status", "policy"}
	vars := map[string][]string{
		PurposeReceipt:            order,
		PurposeOrderPaymentFailed: order,
		PurposeRefund:             order,
		PurposeInvoiceReceipt:     append([]string{"invoice_id", "amount", "period_end"}, sub...),
		PurposeDunningFirst:       campaign,
		PurposeDunningHardDecline: campaign,
		PurposeDunningReminder:    campaign,
		PurposeDunningFinal:       append([]string{"final"}, campaign...),
		PurposeActionRequired:     campaign,
		PurposeRecovered:          campaign,
		PurposeSuspended:          campaign,
		PurposeCanceled:           sub,
		PurposeTrialEnding:        append([]string{"trial_end"}, sub...),
		PurposeDisputeAlert:       dispute,
		PurposeDisputeReminder:    dispute,
		PurposeDisputeClosed:      dispute,
	}
	if len(vars) != len(templates) {
		t.Errorf("%d templates, %d purposes covered here", len(templates), len(vars))
	}
	for purpose, tpl := range templates {
		keys, ok := vars[purpose]
		if !ok {
			t.Errorf("purpose %s not covered", purpose)
			continue
		}
		data := map[string]string{}
		for _, k := range keys {
			data[k] = "<" + k + ">"
		}
		for _, text := range []string{tpl.subject, tpl.body} {
			strict := template.Must(template.New(purpose).Option("missingkey=error").Parse(text))
			var b strings.Builder
			if err := strict.Execute(&b, data); err != nil {
				t.Errorf("%s: %v", purpose, err)
			}
		}
	}
}
