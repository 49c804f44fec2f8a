package webhook_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/payflow/payflow"
	"github.com/payflow/payflow/billing"
	"github.com/payflow/payflow/fixtures"
	"github.com/payflow/payflow/webhook"
)

// Stripe's own example objects (testdata/stripe-fixtures, see its README)
// are the ground truth: the field shapes the decoder must read for API
// version 2023-10-16.

type obj = map[string]any

// stripeObject reads one of Stripe's fixture objects.
func stripeObject(t testing.TB, version, name string) obj {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("testdata", "stripe-fixtures", version, name+".json"))
	if err != nil {
		t.Fatal(err)
	}
	var o obj
	if err := json.Unmarshal(raw, &o); err != nil {
		t.Fatal(err)
	}
	return o
}

const fixtureVersion = "2023-10-16"

func fixture(t *testing.T, name string) obj { return stripeObject(t, fixtureVersion, name) }

// envelope wraps an object in an event as Stripe delivers it.
func envelope(t testing.TB, typ, version string, o obj) []byte {
	t.Helper()
	b, err := json.Marshal(obj{
		"id": "evt_1Fixture", "object": "event", "api_version": version, "created": 1700000000,
		"data": obj{"object": o}, "livemode": false, "pending_webhooks": 1,
		"request": obj{"id": nil, "idempotency_key": nil}, "type": typ,
	})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// set assigns v at a dotted path inside o ("items.data"), creating maps.
func set(o obj, path string, v any) obj {
	keys := strings.Split(path, ".")
	m := o
	for _, k := range keys[:len(keys)-1] {
		next, ok := m[k].(obj)
		if !ok {
			next = obj{}
			m[k] = next
		}
		m = next
	}
	m[keys[len(keys)-1]] = v
	return o
}

// diff lists the fields of two structs that differ, by name.
func diff(got, want any) []string {
	var out []string
	g, w := reflect.ValueOf(got), reflect.ValueOf(want)
	for i := range g.NumField() {
		if !reflect.DeepEqual(g.Field(i).Interface(), w.Field(i).Interface()) {
			out = append(out, fmt.Sprintf("%s = %#v, want %#v", g.Type().Field(i).Name, g.Field(i).Interface(), w.Field(i).Interface()))
		}
	}
	return out
}

// The fixture objects' own IDs and values (testdata/stripe-fixtures/2023-10-16).
const (
	fxSub      = "sub_1OPouiJN5vQBdWExOgfg6t5C"
	fxSubCus   = "cus_PEHTIoPSgT0tXQ"
	fxSubItem  = "si_PEHTru8PmLRCo3"
	fxItem     = "si_PEHTIbRiA7RW9V" // subscription_item.json
	fxPrice    = "price_1OPouiJN5vQBdWExAQaqTooZ"
	fxProduct  = "prod_PEHTfnvdJH6K0k"
	fxInvoice  = "in_1OPouhJN5vQBdWExQl3czOuP"
	fxInvCus   = "cus_PEHTtYpY7elppN"
	fxInvPrice = "price_1OPougJN5vQBdWEx6kfkXDIL"
	fxCS       = "cs_test_a12et9VnHfV9NETJktvuOmVoyrOB40recOCQWiVNeDlBe4IqxEIRNi1Qdf"
	fxPI       = "pi_1OPougJN5vQBdWEx8s2Dj0YR"
	fxCharge   = "ch_1OPoueJN5vQBdWEx5AWizjSY"
	fxDispute  = "dp_1OPoujJN5vQBdWExZXzZC5oN"
	fxDpCharge = "ch_1OPoueJN5vQBdWExHvNS496R"
	fxT        = 1234567890 // the fixtures' placeholder timestamp
)

// Every field payflow.Event carries, and every field the billing core gets
// from it (billing.FromPayflow), for Stripe's 2023-10-16 objects as they
// are and with the fields a scenario fills (an upgrade's two items, a paid
// renewal's lines, an expanded invoice or charge, metadata, line items).
func TestDecodeStripeFixtures(t *testing.T) {
	base := payflow.Event{ID: "evt_1Fixture", Created: 1700000000, APIVersion: fixtureVersion, APIFamily: webhook.FamilyClassic}
	// The charge fixture's receipt page and billing_details.name, read for
	// emails (receipts link the page, greetings use the name).
	fxReceiptURL, _ := fixture(t, "charge")["receipt_url"].(string)
	const fxChargeName = "Jenny Rosen"
	ev := func(typ string, f func(e *payflow.Event)) payflow.Event {
		e := base
		e.Type = typ
		f(&e)
		return e
	}
	core := func(typ string, f func(e *billing.Event)) billing.Event {
		e := billing.Event{ID: "evt_1Fixture", Type: typ, Created: 1700000000, APIVersion: fixtureVersion}
		f(&e)
		return e
	}
	fxSubItems := []payflow.Item{{ID: fxSubItem, PriceID: fxPrice, ProductID: fxProduct, Quantity: 1}}

	cases := []struct {
		name, typ, fixture string
		edit               func(t *testing.T, o obj)
		want               payflow.Event
		core               billing.Event
	}{
		{
			name: "subscription as Stripe renders it", typ: "customer.subscription.updated", fixture: "subscription",
			want: ev("customer.subscription.updated", func(e *payflow.Event) {
				e.ObjectType, e.ObjectID, e.SubscriptionID, e.CustomerID = "subscription", fxSub, fxSub, fxSubCus
				e.Currency, e.Status, e.CollectionMethod = "usd", "active", "charge_automatically"
				e.CurrentPeriodStart, e.CurrentPeriodEnd, e.CanceledAt, e.TrialEnd = fxT, fxT, fxT, fxT
				e.Items = fxSubItems
				e.PriceID, e.ProductID = fxPrice, fxProduct
			}),
			core: core("customer.subscription.updated", func(e *billing.Event) {
				e.SubscriptionID, e.CustomerID, e.Currency, e.Status, e.CollectionMethod = fxSub, fxSubCus, "usd", "active", "charge_automatically"
				e.CurrentPeriodStart, e.CurrentPeriodEnd, e.TrialEnd = fxT, fxT, fxT
				e.Items = []billing.Item{{ID: fxSubItem, PriceID: fxPrice, ProductID: fxProduct, Quantity: 1}}
			}),
		},
		{
			name: "subscription upgraded to two items, collection paused", typ: "customer.subscription.updated", fixture: "subscription",
			edit: func(t *testing.T, o obj) {
				second := fixture(t, "subscription_item")
				set(second, "price.id", "price_seats")
				set(second, "price.product", set(fixture(t, "product"), "id", "prod_expanded")) // expanded: read its id
				second["quantity"] = 5
				o["items"].(obj)["data"] = []any{o["items"].(obj)["data"].([]any)[0], second}
				o["pause_collection"] = obj{"behavior": "keep_as_draft", "resumes_at": nil}
				o["cancel_at_period_end"] = true
				o["metadata"] = obj{"product": "Pro plan (merchant text)"}
				o["status"] = "trialing"
			},
			want: ev("customer.subscription.updated", func(e *payflow.Event) {
				e.ObjectType, e.ObjectID, e.SubscriptionID, e.CustomerID = "subscription", fxSub, fxSub, fxSubCus
				e.Currency, e.Status, e.CollectionMethod = "usd", "trialing", "charge_automatically"
				e.CurrentPeriodStart, e.CurrentPeriodEnd, e.CanceledAt, e.TrialEnd = fxT, fxT, fxT, fxT
				e.CancelAtPeriodEnd, e.PauseCollection = true, "keep_as_draft"
				e.Items = []payflow.Item{fxSubItems[0], {ID: fxItem, PriceID: "price_seats", ProductID: "prod_expanded", Quantity: 5}}
				e.MetadataProduct, e.PriceID, e.ProductID = "Pro plan (merchant text)", fxPrice, "Pro plan (merchant text)"
			}),
			core: core("customer.subscription.updated", func(e *billing.Event) {
				e.SubscriptionID, e.CustomerID, e.Currency, e.Status, e.CollectionMethod = fxSub, fxSubCus, "usd", "trialing", "charge_automatically"
				e.CurrentPeriodStart, e.CurrentPeriodEnd, e.TrialEnd = fxT, fxT, fxT
				e.CancelAtPeriodEnd, e.PauseCollection = true, "keep_as_draft"
				e.Items = []billing.Item{{ID: fxSubItem, PriceID: fxPrice, ProductID: fxProduct, Quantity: 1}, {ID: fxItem, PriceID: "price_seats", ProductID: "prod_expanded", Quantity: 5}}
			}),
		},
		{
			name: "subscription whose item list has more pages", typ: "customer.subscription.updated", fixture: "subscription",
			edit: func(t *testing.T, o obj) { o["items"].(obj)["has_more"] = true },
			want: ev("customer.subscription.updated", func(e *payflow.Event) {
				e.ObjectType, e.ObjectID, e.SubscriptionID, e.CustomerID = "subscription", fxSub, fxSub, fxSubCus
				e.Currency, e.Status, e.CollectionMethod = "usd", "active", "charge_automatically"
				e.CurrentPeriodStart, e.CurrentPeriodEnd, e.CanceledAt, e.TrialEnd = fxT, fxT, fxT, fxT
				e.Items, e.ItemsTruncated = fxSubItems, true
				e.PriceID, e.ProductID = fxPrice, fxProduct
			}),
			// A partial list is not the subscription's items: the core keeps what it knows.
			core: core("customer.subscription.updated", func(e *billing.Event) {
				e.SubscriptionID, e.CustomerID, e.Currency, e.Status, e.CollectionMethod = fxSub, fxSubCus, "usd", "active", "charge_automatically"
				e.CurrentPeriodStart, e.CurrentPeriodEnd, e.TrialEnd = fxT, fxT, fxT
			}),
		},
		{
			name: "invoice as Stripe renders it (a one-off draft)", typ: "invoice.finalized", fixture: "invoice",
			want: ev("invoice.finalized", func(e *payflow.Event) {
				e.ObjectType, e.ObjectID, e.InvoiceID, e.CustomerID = "invoice", fxInvoice, fxInvoice, fxInvCus
				e.Currency, e.Status, e.BillingReason, e.CollectionMethod = "usd", "draft", "manual", "charge_automatically"
				e.AmountDue, e.Amount, e.NextPaymentAttempt = 1000, 1000, fxT
				e.PeriodEnd, e.CurrentPeriodEnd = 1703175358, 1703175358
				e.PriceID, e.ProductID = fxInvPrice, fxProduct
			}),
			core: core("invoice.finalized", func(e *billing.Event) {
				e.InvoiceID, e.CustomerID, e.Currency, e.Status = fxInvoice, fxInvCus, "usd", "draft"
				e.BillingReason, e.CollectionMethod = "manual", "charge_automatically"
				e.AmountDue, e.NextPaymentAttempt, e.PeriodEnd = 1000, fxT, 1703175358
			}),
		},
		{
			name: "paid renewal with two lines", typ: "invoice.paid", fixture: "invoice",
			edit: func(t *testing.T, o obj) {
				first := fixture(t, "line_item")
				set(first, "period.end", 1700000000)
				renewal := fixture(t, "line_item")
				set(renewal, "period.end", 1702592000)
				set(renewal, "price.product", "prod_seats")
				o["lines"].(obj)["data"] = []any{first, renewal}
				for k, v := range (obj{"status": "paid", "amount_due": 2500, "amount_paid": 2500, "attempt_count": 1, "attempted": true,
					"billing_reason": "subscription_cycle", "next_payment_attempt": nil, "subscription": "sub_renew", "charge": "ch_renew",
					"payment_intent": "pi_renew", "customer_email": "jenny@example.com", "hosted_invoice_url": "https://invoice.stripe.com/i/x"}) {
					o[k] = v
				}
			},
			want: ev("invoice.paid", func(e *payflow.Event) {
				e.ObjectType, e.ObjectID, e.InvoiceID, e.CustomerID, e.Email = "invoice", fxInvoice, fxInvoice, fxInvCus, "jenny@example.com"
				e.SubscriptionID, e.ChargeID, e.HostedInvoiceURL = "sub_renew", "ch_renew", "https://invoice.stripe.com/i/x"
				e.Currency, e.Status, e.BillingReason, e.CollectionMethod = "usd", "paid", "subscription_cycle", "charge_automatically"
				e.AmountDue, e.AmountPaid, e.Amount, e.AttemptCount = 2500, 2500, 2500, 1
				e.PeriodEnd, e.CurrentPeriodEnd = 1702592000, 1700000000 // the latest line; line 0 (older readers)
				e.PriceID, e.ProductID = fxInvPrice, fxProduct
			}),
			core: core("invoice.paid", func(e *billing.Event) {
				e.InvoiceID, e.CustomerID, e.Email, e.SubscriptionID, e.ChargeID = fxInvoice, fxInvCus, "jenny@example.com", "sub_renew", "ch_renew"
				e.HostedInvoiceURL, e.Currency, e.Status = "https://invoice.stripe.com/i/x", "usd", "paid"
				e.BillingReason, e.CollectionMethod, e.AttemptCount = "subscription_cycle", "charge_automatically", 1
				e.AmountDue, e.AmountPaid, e.PeriodEnd = 2500, 2500, 1702592000
			}),
		},
		{
			name: "failed send_invoice proration", typ: "invoice.payment_failed", fixture: "invoice",
			edit: func(t *testing.T, o obj) {
				for k, v := range (obj{"status": "open", "amount_due": 700, "amount_paid": 0, "attempt_count": 2, "billing_reason": "subscription_update",
					"collection_method": "send_invoice", "next_payment_attempt": 1700259200, "subscription": obj{"id": "sub_exp", "object": "subscription"}}) {
					o[k] = v
				}
			},
			want: ev("invoice.payment_failed", func(e *payflow.Event) {
				e.ObjectType, e.ObjectID, e.InvoiceID, e.CustomerID, e.SubscriptionID = "invoice", fxInvoice, fxInvoice, fxInvCus, "sub_exp"
				e.Currency, e.Status, e.BillingReason, e.CollectionMethod = "usd", "open", "subscription_update", "send_invoice"
				e.AmountDue, e.Amount, e.AttemptCount, e.NextPaymentAttempt = 700, 700, 2, 1700259200
				e.PeriodEnd, e.CurrentPeriodEnd = 1703175358, 1703175358
				e.PriceID, e.ProductID = fxInvPrice, fxProduct
			}),
			core: core("invoice.payment_failed", func(e *billing.Event) {
				e.InvoiceID, e.CustomerID, e.SubscriptionID, e.Currency, e.Status = fxInvoice, fxInvCus, "sub_exp", "usd", "open"
				e.BillingReason, e.CollectionMethod, e.AttemptCount, e.NextPaymentAttempt = "subscription_update", "send_invoice", 2, 1700259200
				e.AmountDue, e.PeriodEnd = 700, 1703175358
			}),
		},
		{
			name: "checkout session as Stripe renders it", typ: "checkout.session.completed", fixture: "checkout.session",
			want: ev("checkout.session.completed", func(e *payflow.Event) {
				e.ObjectType, e.ObjectID, e.CheckoutID, e.PaymentIntent = "checkout.session", fxCS, fxCS, fxPI
				e.Email, e.Status, e.PaymentStatus, e.Mode = "example@example.com", "open", "unpaid", "payment"
			}),
			core: core("checkout.session.completed", func(e *billing.Event) {
				e.CheckoutID, e.PaymentIntent, e.Email, e.Status, e.PaymentStatus, e.Mode = fxCS, fxPI, "example@example.com", "open", "unpaid", "payment"
			}),
		},
		{
			name: "checkout session naming its product in metadata", typ: "checkout.session.completed", fixture: "checkout.session",
			edit: func(t *testing.T, o obj) {
				o["metadata"], o["amount_total"], o["currency"], o["customer"] = obj{"product": "prod_meta"}, 4200, "eur", "cus_cs"
				o["status"], o["payment_status"] = "complete", "paid"
			},
			want: ev("checkout.session.completed", func(e *payflow.Event) {
				e.ObjectType, e.ObjectID, e.CheckoutID, e.PaymentIntent, e.CustomerID = "checkout.session", fxCS, fxCS, fxPI, "cus_cs"
				e.Email, e.Status, e.PaymentStatus, e.Mode = "example@example.com", "complete", "paid", "payment"
				e.Amount, e.Currency, e.ProductID, e.MetadataProduct = 4200, "eur", "prod_meta", "prod_meta"
			}),
			core: core("checkout.session.completed", func(e *billing.Event) {
				e.CheckoutID, e.PaymentIntent, e.CustomerID, e.Email = fxCS, fxPI, "cus_cs", "example@example.com"
				e.Status, e.PaymentStatus, e.Mode, e.Amount, e.Currency = "complete", "paid", "payment", 4200, "eur"
				e.Products, e.ProductFrom = []string{"prod_meta"}, billing.ProductFromCheckoutMetadata
			}),
		},
		{
			name: "checkout session with its line items expanded", typ: "checkout.session.completed", fixture: "checkout.session",
			edit: func(t *testing.T, o obj) {
				o["metadata"] = obj{"product": "prod_meta"}
				o["line_items"] = obj{"object": "list", "has_more": false, "url": "/v1/checkout/sessions/" + fxCS + "/line_items", "data": []any{
					obj{"id": "li_1", "object": "item", "price": fixture(t, "price"), "quantity": 2, "amount_total": 4000},
					obj{"id": "li_2", "object": "item", "price": set(fixture(t, "price"), "product", "prod_addon"), "quantity": 1},
				}}
			},
			want: ev("checkout.session.completed", func(e *payflow.Event) {
				e.ObjectType, e.ObjectID, e.CheckoutID, e.PaymentIntent = "checkout.session", fxCS, fxCS, fxPI
				e.Email, e.Status, e.PaymentStatus, e.Mode = "example@example.com", "open", "unpaid", "payment"
				e.ProductID, e.MetadataProduct = "prod_meta", "prod_meta"
				e.LineItems = []payflow.Item{{ID: "li_1", PriceID: fxPrice, ProductID: fxProduct, Quantity: 2}, {ID: "li_2", PriceID: fxPrice, ProductID: "prod_addon", Quantity: 1}}
			}),
			core: core("checkout.session.completed", func(e *billing.Event) {
				e.CheckoutID, e.PaymentIntent, e.Email, e.Status, e.PaymentStatus, e.Mode = fxCS, fxPI, "example@example.com", "open", "unpaid", "payment"
				e.Products, e.ProductFrom = []string{fxProduct, "prod_addon"}, billing.ProductFromLineItems // sorted
			}),
		},
		{
			name: "checkout session with one page of its line items", typ: "checkout.session.completed", fixture: "checkout.session",
			edit: func(t *testing.T, o obj) {
				o["metadata"] = obj{"product": "prod_meta"}
				o["line_items"] = obj{"object": "list", "has_more": true, "data": []any{obj{"id": "li_1", "object": "item", "price": fixture(t, "price"), "quantity": 1}}}
			},
			want: ev("checkout.session.completed", func(e *payflow.Event) {
				e.ObjectType, e.ObjectID, e.CheckoutID, e.PaymentIntent = "checkout.session", fxCS, fxCS, fxPI
				e.Email, e.Status, e.PaymentStatus, e.Mode = "example@example.com", "open", "unpaid", "payment"
				e.ProductID, e.MetadataProduct = "prod_meta", "prod_meta"
				e.LineItems, e.LineItemsTruncated = []payflow.Item{{ID: "li_1", PriceID: fxPrice, ProductID: fxProduct, Quantity: 1}}, true
			}),
			// Part of the cart must not replace the metadata's product.
			core: core("checkout.session.completed", func(e *billing.Event) {
				e.CheckoutID, e.PaymentIntent, e.Email, e.Status, e.PaymentStatus, e.Mode = fxCS, fxPI, "example@example.com", "open", "unpaid", "payment"
				e.Products, e.ProductFrom = []string{"prod_meta"}, billing.ProductFromCheckoutMetadata
			}),
		},
		{
			name: "charge as Stripe renders it", typ: "charge.refunded", fixture: "charge",
			want: ev("charge.refunded", func(e *payflow.Event) {
				e.ObjectType, e.ObjectID, e.ChargeID, e.Amount, e.Currency, e.Status = "charge", fxCharge, fxCharge, 100, "usd", "succeeded"
				e.Description = "My First Test Charge (created for API docs)"
				e.CustomerName, e.ReceiptURL = fxChargeName, fxReceiptURL
			}),
			core: core("charge.refunded", func(e *billing.Event) {
				e.ChargeID, e.Amount, e.Currency, e.Status = fxCharge, 100, "usd", "succeeded"
				e.CustomerName, e.ReceiptURL = fxChargeName, fxReceiptURL
			}),
		},
		{
			name: "partial refund of a subscription invoice's charge", typ: "charge.refunded", fixture: "charge",
			edit: func(t *testing.T, o obj) {
				for k, v := range (obj{"amount": 2000, "amount_refunded": 500, "refunded": false, "invoice": "in_paid", "payment_intent": "pi_inv",
					"customer": "cus_ch", "receipt_email": "r@example.com"}) {
					o[k] = v
				}
			},
			want: ev("charge.refunded", func(e *payflow.Event) {
				e.ObjectType, e.ObjectID, e.ChargeID, e.Currency, e.Status = "charge", fxCharge, fxCharge, "usd", "succeeded"
				e.Amount, e.AmountRefunded, e.InvoiceID, e.PaymentIntent, e.CustomerID, e.Email = 2000, 500, "in_paid", "pi_inv", "cus_ch", "r@example.com"
				e.Description = "My First Test Charge (created for API docs)"
				e.CustomerName, e.ReceiptURL = fxChargeName, fxReceiptURL
			}),
			core: core("charge.refunded", func(e *billing.Event) {
				e.ChargeID, e.Currency, e.Status, e.Amount, e.AmountRefunded = fxCharge, "usd", "succeeded", 2000, 500
				e.InvoiceID, e.PaymentIntent, e.CustomerID, e.Email = "in_paid", "pi_inv", "cus_ch", "r@example.com"
				e.CustomerName, e.ReceiptURL = fxChargeName, fxReceiptURL
			}),
		},
		{
			name: "full refund of a charge with its invoice expanded", typ: "charge.refunded", fixture: "charge",
			edit: func(t *testing.T, o obj) {
				inv := fixture(t, "invoice")
				inv["subscription"] = "sub_paid"
				o["invoice"], o["amount_refunded"], o["refunded"], o["metadata"] = inv, 100, true, obj{"product": "prod_pay"}
			},
			want: ev("charge.refunded", func(e *payflow.Event) {
				e.ObjectType, e.ObjectID, e.ChargeID, e.Currency, e.Status = "charge", fxCharge, fxCharge, "usd", "succeeded"
				e.Amount, e.AmountRefunded, e.Refunded, e.InvoiceID, e.SubscriptionID = 100, 100, true, fxInvoice, "sub_paid"
				e.Description, e.ProductID, e.MetadataProduct = "My First Test Charge (created for API docs)", "prod_pay", "prod_pay"
				e.CustomerName, e.ReceiptURL = fxChargeName, fxReceiptURL
			}),
			core: core("charge.refunded", func(e *billing.Event) {
				e.ChargeID, e.Currency, e.Status, e.Amount, e.AmountRefunded, e.Refunded = fxCharge, "usd", "succeeded", 100, 100, true
				e.InvoiceID, e.SubscriptionID = fxInvoice, "sub_paid"
				e.Products, e.ProductFrom = []string{"prod_pay"}, billing.ProductFromPaymentMetadata
				e.CustomerName, e.ReceiptURL = fxChargeName, fxReceiptURL
			}),
		},
		{
			name: "dispute as Stripe renders it", typ: "charge.dispute.created", fixture: "dispute",
			want: ev("charge.dispute.created", func(e *payflow.Event) {
				e.ObjectType, e.ObjectID, e.DisputeID, e.ChargeID = "dispute", fxDispute, fxDispute, fxDpCharge
				e.Amount, e.Currency, e.Status, e.DisputeReason, e.EvidenceDueBy = 1000, "usd", "warning_needs_response", "general", 1704844799
			}),
			core: core("charge.dispute.created", func(e *billing.Event) {
				e.DisputeID, e.ChargeID, e.Amount, e.Currency, e.Status = fxDispute, fxDpCharge, 1000, "usd", "warning_needs_response"
				e.DisputeReason, e.EvidenceDueBy = "general", 1704844799
			}),
		},
		{
			name: "dispute with its charge and the charge's invoice expanded", typ: "charge.dispute.closed", fixture: "dispute",
			edit: func(t *testing.T, o obj) {
				ch := fixture(t, "charge")
				inv := fixture(t, "invoice")
				inv["subscription"] = obj{"id": "sub_disputed", "object": "subscription"}
				ch["invoice"], ch["payment_intent"] = inv, "pi_disputed"
				o["charge"], o["status"], o["reason"] = ch, "lost", "fraudulent"
			},
			want: ev("charge.dispute.closed", func(e *payflow.Event) {
				e.ObjectType, e.ObjectID, e.DisputeID, e.ChargeID = "dispute", fxDispute, fxDispute, fxCharge
				e.PaymentIntent, e.InvoiceID, e.SubscriptionID = "pi_disputed", fxInvoice, "sub_disputed"
				e.Amount, e.Currency, e.Status, e.DisputeReason, e.EvidenceDueBy = 1000, "usd", "lost", "fraudulent", 1704844799
			}),
			core: core("charge.dispute.closed", func(e *billing.Event) {
				e.DisputeID, e.ChargeID, e.PaymentIntent, e.InvoiceID, e.SubscriptionID = fxDispute, fxCharge, "pi_disputed", fxInvoice, "sub_disputed"
				e.Amount, e.Currency, e.Status, e.DisputeReason, e.EvidenceDueBy = 1000, "usd", "lost", "fraudulent", 1704844799
			}),
		},
		{
			name: "payment intent as Stripe renders it", typ: "payment_intent.payment_failed", fixture: "payment_intent",
			want: ev("payment_intent.payment_failed", func(e *payflow.Event) {
				e.ObjectType, e.ObjectID, e.PaymentIntent = "payment_intent", fxPI, fxPI
				e.Amount, e.Currency, e.Status, e.CanceledAt = 1099, "usd", "requires_payment_method", fxT
			}),
			core: core("payment_intent.payment_failed", func(e *billing.Event) {
				e.PaymentIntent, e.Amount, e.Currency, e.Status = fxPI, 1099, "usd", "requires_payment_method"
			}),
		},
		{
			name: "payment intent naming its product, declined", typ: "payment_intent.payment_failed", fixture: "payment_intent",
			edit: func(t *testing.T, o obj) {
				o["metadata"], o["customer"], o["receipt_email"], o["latest_charge"] = obj{"product": "prod_pi"}, "cus_pi", "p@example.com", "ch_pi"
				o["last_payment_error"] = obj{"code": "card_declined", "decline_code": "insufficient_funds", "message": "Your card has insufficient funds.", "type": "card_error"}
			},
			want: ev("payment_intent.payment_failed", func(e *payflow.Event) {
				e.ObjectType, e.ObjectID, e.PaymentIntent, e.CustomerID, e.Email, e.ChargeID = "payment_intent", fxPI, fxPI, "cus_pi", "p@example.com", "ch_pi"
				e.Amount, e.Currency, e.Status, e.CanceledAt = 1099, "usd", "requires_payment_method", fxT
				e.FailureCode, e.DeclineCode, e.FailureMessage = "card_declined", "insufficient_funds", "Your card has insufficient funds."
				e.ProductID, e.MetadataProduct = "prod_pi", "prod_pi"
			}),
			core: core("payment_intent.payment_failed", func(e *billing.Event) {
				e.PaymentIntent, e.CustomerID, e.Email, e.ChargeID, e.Amount, e.Currency, e.Status = fxPI, "cus_pi", "p@example.com", "ch_pi", 1099, "usd", "requires_payment_method"
				e.FailureCode, e.DeclineCode, e.FailureMessage = "card_declined", "insufficient_funds", "Your card has insufficient funds."
				e.Products, e.ProductFrom = []string{"prod_pi"}, billing.ProductFromPaymentMetadata
			}),
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			o := fixture(t, tc.fixture)
			if tc.edit != nil {
				tc.edit(t, o)
			}
			got, err := webhook.Decode(envelope(t, tc.typ, fixtureVersion, o))
			if err != nil {
				t.Fatal(err)
			}
			for _, d := range diff(got, tc.want) {
				t.Errorf("payflow.Event.%s", d)
			}
			for _, d := range diff(billing.FromPayflow(got), tc.core) {
				t.Errorf("billing.Event.%s", d)
			}
		})
	}
}

// Stripe's objects of every version decode as they are (version_test.go
// reads them field for field): no field the receiver reads changed its
// type.
func TestDecodeOtherAPIVersions(t *testing.T) {
	types := map[string]string{"subscription": "customer.subscription.updated", "invoice": "invoice.paid", "checkout.session": "checkout.session.completed",
		"charge": "charge.refunded", "dispute": "charge.dispute.created", "payment_intent": "payment_intent.succeeded"}
	for _, version := range []string{"2025-03-31.basil", "2026-07-29.dahlia"} {
		for name, typ := range types {
			t.Run(version+"/"+name, func(t *testing.T) {
				o := stripeObject(t, version, name)
				ev, err := webhook.Decode(envelope(t, typ, version, o))
				if err != nil {
					t.Fatal(err)
				}
				if ev.ObjectID != o["id"] || ev.ObjectType != name || ev.APIVersion != version || ev.APIFamily != webhook.FamilyBasil {
					t.Errorf("object %s %s version %s family %s", ev.ObjectType, ev.ObjectID, ev.APIVersion, ev.APIFamily)
				}
				if name == "subscription" && (len(ev.Items) != 1 || ev.Items[0].ProductID == "") {
					t.Errorf("items %+v", ev.Items)
				}
			})
		}
	}
}

// Item, price and product IDs are checked like every other ID.
func TestDecodeRefusesImpossibleItemIDs(t *testing.T) {
	long := strings.Repeat("x", webhook.MaxIDLen+1)
	cases := []struct {
		name string
		edit func(t *testing.T, o obj) obj
		ok   bool
	}{
		{"a product of merchant text", func(t *testing.T, o obj) obj { return set(o, "price.product", "Pro plan (yearly)") }, true},
		{"an item ID with a slash", func(t *testing.T, o obj) obj { o["id"] = "si_a/b"; return o }, false},
		{"an item ID of 256 characters", func(t *testing.T, o obj) obj { o["id"] = "si_" + long; return o }, false},
		{"a price ID with a space", func(t *testing.T, o obj) obj { return set(o, "price.id", "price_a b") }, false},
		{"a product with a control character", func(t *testing.T, o obj) obj { return set(o, "price.product", "prod_\x01") }, false},
		{"a product of 256 characters", func(t *testing.T, o obj) obj { return set(o, "price.product", long) }, false},
		{"an expanded product with an impossible ID", func(t *testing.T, o obj) obj { return set(o, "price.product", obj{"id": "prod_\n"}) }, false},
	}
	for _, tc := range cases {
		for _, list := range []string{"items", "line_items"} {
			t.Run(list+"/"+tc.name, func(t *testing.T) {
				good := fixture(t, "subscription_item")
				bad := tc.edit(t, fixture(t, "subscription_item"))
				o, typ := fixture(t, "subscription"), "customer.subscription.updated"
				if list == "line_items" {
					o, typ = fixture(t, "checkout.session"), "checkout.session.completed"
				}
				o[list] = obj{"object": "list", "has_more": false, "data": []any{good, bad}}
				ev, err := webhook.Decode(envelope(t, typ, fixtureVersion, o))
				if tc.ok {
					if err != nil {
						t.Fatalf("refused: %v", err)
					}
					return
				}
				if !errors.Is(err, webhook.ErrBadID) || !strings.Contains(err.Error(), list+"[1]") {
					t.Fatalf("err = %v (event %+v), want ErrBadID naming %s[1]", err, ev, list)
				}
			})
		}
	}
	o := fixture(t, "payment_intent")
	o["metadata"] = obj{"product": "prod_\x7f"}
	if _, err := webhook.Decode(envelope(t, "payment_intent.succeeded", fixtureVersion, o)); !errors.Is(err, webhook.ErrBadID) {
		t.Errorf("metadata.product with DEL: %v", err)
	}
}

// A signed event whose lists or metadata fill the body limit costs a
// bounded number of allocations: up to MaxItems elements of each list are
// read (Stripe allows 20 subscription items and 100 Checkout line items),
// the rest is skipped without allocating, and the event says the list was
// cut. Decoding a list of 20,000 costs what a list just over the bound
// costs.
func TestDecodeHugeListsCostNoAllocations(t *testing.T) {
	list := func(head, elem, tail string, n, limit int) string {
		var b strings.Builder
		b.WriteString(head)
		for i := 0; (n > 0 && i < n) || (n == 0 && b.Len() < limit); i++ {
			if i > 0 {
				b.WriteByte(',')
			}
			fmt.Fprintf(&b, elem, i)
		}
		b.WriteString(tail)
		return b.String()
	}
	const limit = webhook.DefaultBodyLimit - 200
	subHead := `{"id":"evt_items","object":"event","type":"customer.subscription.updated","created":1,"data":{"object":{"id":"sub_items","object":"subscription","customer":"cus_items","status":"active","items":{"object":"list","has_more":false,"data":[`
	subItem := `{"id":"si_%d","price":{"id":"price_x","product":"prod_x"},"quantity":1}`
	csHead := `{"id":"evt_li","object":"event","type":"checkout.session.completed","created":1,"data":{"object":{"id":"cs_li","object":"checkout.session","line_items":{"object":"list","has_more":false,"data":[`
	inHead := `{"id":"evt_lines","object":"event","type":"invoice.paid","created":1,"data":{"object":{"id":"in_lines","object":"invoice","subscription":"sub_l","lines":{"object":"list","has_more":false,"data":[`
	inLine := `{"id":"il_%d","price":{"id":"price_l","product":"prod_l"},"period":{"end":%[1]d}}`
	const tail = `]}}}}`
	type body struct {
		name  string
		json  string
		check func(payflow.Event) bool
	}
	bodies := []struct{ bounded, huge body }{
		{
			body{"subscription items: one over the bound", list(subHead, subItem, tail, webhook.MaxItems+1, 0), nil},
			body{"subscription items: the body limit full", list(subHead, subItem, tail, 0, limit), func(ev payflow.Event) bool {
				return len(ev.Items) == webhook.MaxItems && ev.ItemsTruncated && ev.Items[99].ID == "si_99" && ev.PriceID == "price_x" && ev.ProductID == "prod_x"
			}},
		},
		{
			body{"line items: one over the bound", list(csHead, subItem, tail, webhook.MaxItems+1, 0), nil},
			body{"line items: the body limit full", list(csHead, subItem, tail, 0, limit), func(ev payflow.Event) bool {
				return len(ev.LineItems) == webhook.MaxItems && ev.LineItemsTruncated
			}},
		},
		{
			body{"invoice lines: the bound", list(inHead, inLine, tail, webhook.MaxItems, 0), nil},
			body{"invoice lines: the body limit full", list(inHead, inLine, tail, 0, limit), func(ev payflow.Event) bool {
				return ev.PeriodEnd == webhook.MaxItems-1 && ev.CurrentPeriodEnd == 0 && ev.PriceID == "price_l"
			}},
		},
	}
	for _, b := range bodies {
		t.Run(b.huge.name, func(t *testing.T) {
			if len(b.huge.json) < 1<<19 {
				t.Fatalf("body of %d bytes: not huge", len(b.huge.json))
			}
			ev, err := webhook.Decode([]byte(b.huge.json))
			if err != nil || !b.huge.check(ev) {
				t.Fatalf("decoded %d items, %d line items, %+v, %v", len(ev.Items), len(ev.LineItems), ev.Items[:min(len(ev.Items), 2)], err)
			}
			bounded := testing.AllocsPerRun(3, func() { _, _ = webhook.Decode([]byte(b.bounded.json)) })
			huge := testing.AllocsPerRun(3, func() { _, _ = webhook.Decode([]byte(b.huge.json)) })
			t.Logf("%.0f allocations for %d bytes; %.0f for %s (%d bytes)", huge, len(b.huge.json), bounded, b.bounded.name, len(b.bounded.json))
			if huge > bounded+2 || huge > 10*webhook.MaxItems {
				t.Errorf("%.0f allocations to decode %d bytes; %.0f for %s", huge, len(b.huge.json), bounded, b.bounded.name)
			}
		})
	}
	// Exactly the bound: the whole list, not truncated.
	ev, err := webhook.Decode([]byte(list(subHead, subItem, tail, webhook.MaxItems, 0)))
	if err != nil || len(ev.Items) != webhook.MaxItems || ev.ItemsTruncated {
		t.Errorf("%d items truncated=%v, %v", len(ev.Items), ev.ItemsTruncated, err)
	}
	// Metadata: only metadata.product is read, whatever the other keys.
	var meta strings.Builder
	meta.WriteString(`{"id":"evt_meta","object":"event","type":"invoice.paid","created":1,"data":{"object":{"id":"in_meta","object":"invoice","subscription":"sub_meta","metadata":{"product":"prod_meta"`)
	for i := 0; meta.Len() < limit; i++ {
		fmt.Fprintf(&meta, `,"k%d":"v"`, i)
	}
	meta.WriteString(`},"lines":{"data":[{"price":{"id":"price_l","product":"prod_l"},"period":{"end":42}},{"price":{"id":"price_y","product":"prod_y"},"period":{"end":1}}]}}}}`)
	ev, err = webhook.Decode([]byte(meta.String()))
	if err != nil || ev.MetadataProduct != "prod_meta" || ev.ProductID != "prod_meta" || ev.PriceID != "price_l" || ev.PeriodEnd != 42 {
		t.Fatalf("decoded %+v, %v", ev, err)
	}
	if n := testing.AllocsPerRun(3, func() { _, _ = webhook.Decode([]byte(meta.String())) }); n > 100 {
		t.Errorf("%.0f allocations to decode %d bytes of metadata", n, meta.Len())
	}
}

// fixtures (the generators behind tests and payflow trigger) produce what
// the receiver reads: several items, an upgrade, a trial, a proration, a
// refund of an invoice's charge.
func TestDecodeFixtureScenarios(t *testing.T) {
	items := []fixtures.Item{{ProductID: "prod_basic"}, {ProductID: "prod_seats", Quantity: 5, UnitAmount: 300}}
	ev, err := webhook.Decode(event(t, "customer.subscription.updated", fixtures.Options{SubscriptionID: "sub_f", Items: items,
		PreviousItems: []fixtures.Item{{ProductID: "prod_basic"}}, PauseCollection: "void", CollectionMethod: "send_invoice", Trial: true}))
	if err != nil {
		t.Fatal(err)
	}
	if len(ev.Items) != 2 || ev.Items[1].ProductID != "prod_seats" || ev.Items[1].Quantity != 5 || !strings.HasPrefix(ev.Items[1].ID, "si_") ||
		ev.Status != "trialing" || ev.PauseCollection != "void" || ev.CollectionMethod != "send_invoice" || ev.CurrentPeriodStart == 0 || ev.ItemsTruncated {
		t.Errorf("subscription %+v", ev)
	}
	ev, err = webhook.Decode(event(t, "invoice.paid", fixtures.Options{SubscriptionID: "sub_f", BillingReason: "subscription_update",
		PreviousItems: []fixtures.Item{{ProductID: "prod_basic", UnitAmount: 1000}}, Items: []fixtures.Item{{ProductID: "prod_pro", UnitAmount: 3000}}}))
	if err != nil {
		t.Fatal(err)
	}
	if ev.AmountDue != 1000 || ev.AmountPaid != 1000 || ev.BillingReason != "subscription_update" || ev.AttemptCount != 1 || ev.PeriodEnd == 0 || ev.CollectionMethod != "charge_automatically" {
		t.Errorf("proration invoice %+v", ev)
	}
	ev, err = webhook.Decode(event(t, "invoice.paid", fixtures.Options{SubscriptionID: "sub_f", Trial: true}))
	if err != nil || ev.AmountDue != 0 || ev.AmountPaid != 0 || ev.ChargeID != "" || ev.Status != "paid" {
		t.Errorf("trial invoice %+v, %v", ev, err)
	}
	ev, err = webhook.Decode(event(t, "charge.refunded", fixtures.Options{InvoicePayment: true, InvoiceID: "in_f", Amount: 3000, AmountRefunded: 3000}))
	if err != nil || ev.InvoiceID != "in_f" || ev.MetadataProduct != "" || !ev.Refunded || ev.AmountRefunded != 3000 {
		t.Errorf("refund of an invoice's charge %+v, %v", ev, err)
	}
	ev, err = webhook.Decode(event(t, "checkout.session.completed", fixtures.Options{ExpandLineItems: true, Items: items}))
	if err != nil || len(ev.LineItems) != 2 || ev.LineItems[1].Quantity != 5 || ev.MetadataProduct != "prod_basic" {
		t.Errorf("checkout with line items %+v, %v", ev, err)
	}
	if c := billing.FromPayflow(ev); c.ProductFrom != billing.ProductFromLineItems || !reflect.DeepEqual(c.Products, []string{"prod_basic", "prod_seats"}) {
		t.Errorf("core products %v from %s", c.Products, c.ProductFrom)
	}
}
