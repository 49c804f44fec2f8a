package main

import (
	"slices"
	"testing"
	"time"

	"github.com/payflow/payflow/fixtures"
	"github.com/payflow/payflow/routing"
	"github.com/payflow/payflow/webhook"
)

// Stripe's Events API renders each event in the account's API version of
// the moment it was created, so after an upgrade reconcile meets several
// versions in one listing: each is read by its own api_version and routed
// to the same workflows; a renewal's payment intent in basil goes to its
// order run (which asks Stripe before fulfilling), and an unknown version
// is kept in quarantine.
func TestReconcileReadsMixedAPIVersions(t *testing.T) {
	_, db := quarantineDB(t)
	build := func(typ, version string, o fixtures.Options) []byte {
		t.Helper()
		o.APIVersion = version
		b, err := fixtures.Build(typ, o)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	events := [][]byte{
		build("invoice.payment_failed", "2023-10-16", fixtures.Options{SubscriptionID: "sub_mix", InvoiceID: "in_mix_1", CustomerID: "cus_mix"}),
		build("invoice.paid", "2025-03-31.basil", fixtures.Options{SubscriptionID: "sub_mix", InvoiceID: "in_mix_2", CustomerID: "cus_mix"}),
		build("customer.subscription.updated", "2026-07-29.dahlia", fixtures.Options{SubscriptionID: "sub_mix", CustomerID: "cus_mix"}),
		build("payment_intent.succeeded", "2025-09-30.clover", fixtures.Options{PaymentIntentID: "pi_mix", CustomerID: "cus_mix"}),
	}
	events = append(events, withVersion(t, "invoice.paid", fixtures.Options{SubscriptionID: "sub_mix", InvoiceID: "in_mix_3"}, "2099-01-01.zeta"))
	h := &fakeHandoff{}
	sum, err := reconcile(t.Context(), listerOf(events), db, h, webhook.Acceptance{}, time.Now().Add(-time.Hour), nil, quietLog)
	if err != nil {
		t.Fatal(err)
	}
	if sum != (ReconcileSummary{Found: 5, New: 4, Quarantined: 1}) {
		t.Fatalf("summary %+v", sum)
	}
	want := []string{routing.SubscriptionID("sub_mix"), routing.SubscriptionID("sub_mix"), routing.SubscriptionID("sub_mix"), routing.OrderID("pi_mix")}
	if !slices.Equal(h.delivered, want) {
		t.Fatalf("delivered to %v, want %v", h.delivered, want)
	}
	if len(h.quarantined) != 1 || h.quarantined[0].Reason != webhook.ReasonUnknownAPIVersion {
		t.Fatalf("quarantined %+v", h.quarantined)
	}
}
