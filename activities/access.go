package activities

import (
	"context"
	"fmt"

	"github.com/payflow/payflow"
	"github.com/payflow/payflow/billing"
)

// SetAccess records what one source does to one product of the customer —
// one row per (customer, product, source) — and computes the customer's
// effective access to the product after it (billing.EffectiveAccess over
// all of the product's rows: granted if any source grants it, else
// suspended if any suspends it, else revoked). When a provisioning URL is
// set, the merchant's app is told both (Provisioner.Send), so it never
// revokes what another purchase still pays for.
//
// A retried call writes nothing new and tells the app again, under the
// same event ID, with the effective access as it is then.
func (a *Activities) SetAccess(ctx context.Context, ch billing.SetAccess) error {
	if ch.CustomerID == "" || ch.ProductID == "" || ch.Source == "" {
		return invalid("access change needs a customer, a product and a source (got %q, %q, %q)", ch.CustomerID, ch.ProductID, ch.Source)
	}
	switch ch.Status {
	case payflow.AccessGranted, payflow.AccessSuspended, payflow.AccessRevoked:
	default: // the store refuses it on every attempt: don't retry forever
		return invalid("access change %s/%s from %s: unknown status %q", ch.CustomerID, ch.ProductID, ch.Source, ch.Status)
	}
	up, err := a.Store.SetAccessSource(ctx, payflow.AccessSource{CustomerID: ch.CustomerID, ProductID: ch.ProductID,
		Source: ch.Source, Status: ch.Status, ValidUntil: ch.ValidUntil, Reason: ch.Reason, UpdatedAt: a.now(),
		Account: AccountOf(ctx)})
	if err != nil {
		return fmt.Errorf("set access %s/%s from %s to %s: %w", ch.CustomerID, ch.ProductID, ch.Source, ch.Status, err)
	}
	eff := effectiveAccess(ch.CustomerID, ch.ProductID, up.Sources)
	a.logger(ctx).Info("access", "customer_id", ch.CustomerID, "product", ch.ProductID, "source", ch.Source,
		"status", ch.Status, "effective", eff.Status, "version", up.Version, "changed", up.Changed)
	if a.Provisioner == nil {
		return nil
	}
	return a.Provisioner.Send(ctx, ch, eff, up.Version)
}

// effectiveAccess folds one product's source rows by the core's rule.
func effectiveAccess(customerID, productID string, rows []payflow.AccessSource) billing.ProductAccess {
	in := make([]billing.AccessRow, 0, len(rows))
	for _, r := range rows {
		in = append(in, billing.AccessRow{CustomerID: r.CustomerID, ProductID: r.ProductID, Source: r.Source,
			Status: r.Status, ValidUntil: r.ValidUntil})
	}
	for _, p := range billing.EffectiveAccess(in) {
		if p.CustomerID == customerID && p.ProductID == productID {
			return p
		}
	}
	return billing.ProductAccess{CustomerID: customerID, ProductID: productID, Status: payflow.AccessRevoked}
}
