package billing

import (
	"fmt"
	"reflect"
	"testing"

	"github.com/payflow/payflow"
)

// FromPayflow maps the receiver's fields one for one; what payflow.Event
// keeps for older readers (Amount on invoices, ProductID, PriceID, an
// invoice's CurrentPeriodEnd) never stands in for what the core reads.
func TestFromPayflow(t *testing.T) {
	items := []payflow.Item{{ID: "si_1", PriceID: "price_basic", ProductID: "prod_basic", Quantity: 1}, {ID: "si_2", PriceID: "price_seat", ProductID: "prod_seat", Quantity: 5}}
	cases := []struct {
		name string
		in   payflow.Event
		want Event
	}{
		{
			name: "subscription snapshot: every item, the period, collection",
			in: payflow.Event{ID: "evt_1", Type: "customer.subscription.updated", Created: 100, ObjectType: "subscription", ObjectID: "sub_1",
				SubscriptionID: "sub_1", CustomerID: "cus_1", Status: "trialing", Items: items, PriceID: "price_basic", ProductID: "prod_basic",
				CurrentPeriodStart: 10, CurrentPeriodEnd: 20, CancelAtPeriodEnd: true, CanceledAt: 15, TrialEnd: 20,
				PauseCollection: "keep_as_draft", CollectionMethod: "send_invoice", Currency: "usd", MetadataProduct: "ignored"},
			want: Event{ID: "evt_1", Type: "customer.subscription.updated", Created: 100, SubscriptionID: "sub_1", CustomerID: "cus_1",
				Status: "trialing", Currency: "usd", CurrentPeriodStart: 10, CurrentPeriodEnd: 20, CancelAtPeriodEnd: true, TrialEnd: 20,
				PauseCollection: "keep_as_draft", CollectionMethod: "send_invoice",
				Items: []Item{{ID: "si_1", PriceID: "price_basic", ProductID: "prod_basic", Quantity: 1}, {ID: "si_2", PriceID: "price_seat", ProductID: "prod_seat", Quantity: 5}}},
		},
		{
			name: "subscription snapshot with a partial item list: no items",
			in: payflow.Event{ID: "evt_2", Type: "customer.subscription.updated", ObjectType: "subscription", SubscriptionID: "sub_1",
				Items: items[:1], ItemsTruncated: true, ProductID: "prod_basic", Status: "active", CurrentPeriodEnd: 20},
			want: Event{ID: "evt_2", Type: "customer.subscription.updated", SubscriptionID: "sub_1", Status: "active", CurrentPeriodEnd: 20},
		},
		{
			name: "subscription snapshot without items (ProductID alone is not an item)",
			in:   payflow.Event{ID: "evt_3", Type: "customer.subscription.deleted", ObjectType: "subscription", SubscriptionID: "sub_1", ProductID: "prod_meta", Status: "canceled"},
			want: Event{ID: "evt_3", Type: "customer.subscription.deleted", SubscriptionID: "sub_1", Status: "canceled"},
		},
		{
			name: "paid invoice: due and paid apart, its own period",
			in: payflow.Event{ID: "evt_4", Type: "invoice.paid", ObjectType: "invoice", InvoiceID: "in_1", SubscriptionID: "sub_1", ChargeID: "ch_1",
				CustomerID: "cus_1", Email: "a@example.com", Amount: 1200, AmountDue: 1500, AmountPaid: 1200, Currency: "eur", Status: "paid",
				BillingReason: "subscription_update", CollectionMethod: "charge_automatically", AttemptCount: 1, NextPaymentAttempt: 0,
				HostedInvoiceURL: "https://invoice.example/1", PeriodEnd: 300, CurrentPeriodEnd: 250, PriceID: "price_basic", ProductID: "prod_basic"},
			want: Event{ID: "evt_4", Type: "invoice.paid", InvoiceID: "in_1", SubscriptionID: "sub_1", ChargeID: "ch_1", CustomerID: "cus_1",
				Email: "a@example.com", AmountDue: 1500, AmountPaid: 1200, Currency: "eur", Status: "paid", BillingReason: "subscription_update",
				CollectionMethod: "charge_automatically", AttemptCount: 1, HostedInvoiceURL: "https://invoice.example/1", PeriodEnd: 300},
		},
		{
			name: "failed invoice: nothing paid, the next attempt",
			in: payflow.Event{ID: "evt_5", Type: "invoice.payment_failed", ObjectType: "invoice", InvoiceID: "in_2", SubscriptionID: "sub_1",
				Amount: 2000, AmountDue: 2000, AttemptCount: 2, NextPaymentAttempt: 999, DeclineCode: "insufficient_funds",
				FailureCode: "card_declined", FailureMessage: "Your card has insufficient funds.", BillingReason: "subscription_cycle", Status: "open"},
			want: Event{ID: "evt_5", Type: "invoice.payment_failed", InvoiceID: "in_2", SubscriptionID: "sub_1", AmountDue: 2000, AttemptCount: 2,
				NextPaymentAttempt: 999, DeclineCode: "insufficient_funds", FailureCode: "card_declined", FailureMessage: "Your card has insufficient funds.",
				BillingReason: "subscription_cycle", Status: "open"},
		},
		{
			name: "trial invoice: zero due, zero paid",
			in:   payflow.Event{ID: "evt_6", Type: "invoice.paid", ObjectType: "invoice", InvoiceID: "in_3", BillingReason: "subscription_create", Status: "paid", PeriodEnd: 40},
			want: Event{ID: "evt_6", Type: "invoice.paid", InvoiceID: "in_3", BillingReason: "subscription_create", Status: "paid", PeriodEnd: 40},
		},
		{
			name: "checkout session: line items over metadata",
			in: payflow.Event{ID: "evt_7", Type: "checkout.session.completed", ObjectType: "checkout.session", CheckoutID: "cs_1", PaymentIntent: "pi_1",
				Amount: 3500, Currency: "usd", Mode: "payment", Status: "complete", PaymentStatus: "paid", ProductID: "prod_meta", MetadataProduct: "prod_meta",
				LineItems: []payflow.Item{{ID: "li_2", PriceID: "price_seat", ProductID: "prod_seat", Quantity: 5}, {ID: "li_1", ProductID: "prod_basic"}, {ID: "li_3", ProductID: "prod_seat"}}},
			want: Event{ID: "evt_7", Type: "checkout.session.completed", CheckoutID: "cs_1", PaymentIntent: "pi_1", Amount: 3500, Currency: "usd",
				Mode: "payment", Status: "complete", PaymentStatus: "paid", Products: []string{"prod_basic", "prod_seat"}, ProductFrom: ProductFromLineItems},
		},
		{
			name: "checkout session with part of its line items: the metadata",
			in: payflow.Event{ID: "evt_8", Type: "checkout.session.completed", ObjectType: "checkout.session", CheckoutID: "cs_1",
				MetadataProduct: "prod_meta", ProductID: "prod_meta", LineItems: []payflow.Item{{ID: "li_1", ProductID: "prod_basic"}}, LineItemsTruncated: true},
			want: Event{ID: "evt_8", Type: "checkout.session.completed", CheckoutID: "cs_1", Products: []string{"prod_meta"}, ProductFrom: ProductFromCheckoutMetadata},
		},
		{
			name: "checkout session naming no product",
			in:   payflow.Event{ID: "evt_9", Type: "checkout.session.completed", ObjectType: "checkout.session", CheckoutID: "cs_2", Mode: "payment"},
			want: Event{ID: "evt_9", Type: "checkout.session.completed", CheckoutID: "cs_2", Mode: "payment"},
		},
		{
			name: "payment intent: its metadata",
			in: payflow.Event{ID: "evt_10", Type: "payment_intent.succeeded", ObjectType: "payment_intent", PaymentIntent: "pi_1", ChargeID: "ch_1",
				Amount: 900, MetadataProduct: "prod_x", ProductID: "prod_x", Email: "b@example.com", Description: "not read"},
			want: Event{ID: "evt_10", Type: "payment_intent.succeeded", PaymentIntent: "pi_1", ChargeID: "ch_1", Amount: 900, Email: "b@example.com",
				Products: []string{"prod_x"}, ProductFrom: ProductFromPaymentMetadata},
		},
		{
			name: "refund of an invoice's charge, the invoice expanded",
			in: payflow.Event{ID: "evt_11", Type: "charge.refunded", ObjectType: "charge", ChargeID: "ch_2", PaymentIntent: "pi_2", InvoiceID: "in_1",
				SubscriptionID: "sub_1", Amount: 2000, AmountRefunded: 2000, Refunded: true},
			want: Event{ID: "evt_11", Type: "charge.refunded", ChargeID: "ch_2", PaymentIntent: "pi_2", InvoiceID: "in_1", SubscriptionID: "sub_1",
				Amount: 2000, AmountRefunded: 2000, Refunded: true},
		},
		{
			name: "partial refund of a one-off charge",
			in: payflow.Event{ID: "evt_12", Type: "charge.refunded", ObjectType: "charge", ChargeID: "ch_3", PaymentIntent: "pi_3", Amount: 2000,
				AmountRefunded: 500, MetadataProduct: "prod_y"},
			want: Event{ID: "evt_12", Type: "charge.refunded", ChargeID: "ch_3", PaymentIntent: "pi_3", Amount: 2000, AmountRefunded: 500,
				Products: []string{"prod_y"}, ProductFrom: ProductFromPaymentMetadata},
		},
		{
			name: "dispute",
			in: payflow.Event{ID: "evt_13", Type: "charge.dispute.created", ObjectType: "dispute", DisputeID: "dp_1", ChargeID: "ch_2", PaymentIntent: "pi_2",
				InvoiceID: "in_1", SubscriptionID: "sub_1", Amount: 2000, Currency: "usd", Status: "needs_response", DisputeReason: "fraudulent", EvidenceDueBy: 77},
			want: Event{ID: "evt_13", Type: "charge.dispute.created", DisputeID: "dp_1", ChargeID: "ch_2", PaymentIntent: "pi_2", InvoiceID: "in_1",
				SubscriptionID: "sub_1", Amount: 2000, Currency: "usd", Status: "needs_response", DisputeReason: "fraudulent", EvidenceDueBy: 77},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			in := tc.in
			in.Items, in.LineItems = cloneItems(tc.in.Items), cloneItems(tc.in.LineItems)
			got := FromPayflow(in)
			if !reflect.DeepEqual(got, tc.want) {
				g, w := reflect.ValueOf(got), reflect.ValueOf(tc.want)
				for i := range g.NumField() {
					if !reflect.DeepEqual(g.Field(i).Interface(), w.Field(i).Interface()) {
						t.Errorf("%s = %#v, want %#v", g.Type().Field(i).Name, g.Field(i).Interface(), w.Field(i).Interface())
					}
				}
			}
			if !reflect.DeepEqual(in.Items, tc.in.Items) || !reflect.DeepEqual(in.LineItems, tc.in.LineItems) {
				t.Error("FromPayflow modified its input")
			}
			if len(got.Items) > 0 {
				got.Items[0].ProductID = "changed"
				if in.Items[0].ProductID == "changed" {
					t.Error("Items share memory with the input")
				}
			}
		})
	}
}

func cloneItems(in []payflow.Item) []payflow.Item {
	if in == nil {
		return nil
	}
	return append([]payflow.Item(nil), in...)
}

// Every field of billing.Event is filled by FromPayflow for some object
// type, so a field added to the core's input without a decoder behind it
// fails here.
func TestFromPayflowFillsEveryField(t *testing.T) {
	filled := map[string]bool{}
	for _, objectType := range []string{"subscription", "invoice", "checkout.session", "payment_intent", "charge", "dispute"} {
		in := allSet(t, objectType)
		out := reflect.ValueOf(FromPayflow(in))
		for i := range out.NumField() {
			if !out.Field(i).IsZero() {
				filled[out.Type().Field(i).Name] = true
			}
		}
	}
	typ := reflect.TypeOf(Event{})
	for i := range typ.NumField() {
		if name := typ.Field(i).Name; !filled[name] {
			t.Errorf("billing.Event.%s is never filled from a payflow.Event", name)
		}
	}
}

// allSet is a payflow.Event with every field set to a distinct value, and
// objectType as its object type.
func allSet(t *testing.T, objectType string) payflow.Event {
	t.Helper()
	var e payflow.Event
	v := reflect.ValueOf(&e).Elem()
	for i := range v.NumField() {
		f := v.Field(i)
		switch f.Kind() {
		case reflect.String:
			f.SetString(fmt.Sprintf("v%d", i))
		case reflect.Int64:
			f.SetInt(int64(i + 1))
		case reflect.Bool:
			f.SetBool(true)
		case reflect.Slice:
			f.Set(reflect.ValueOf([]payflow.Item{{ID: "i", PriceID: "p", ProductID: "prod", Quantity: 2}}))
		default:
			t.Fatalf("payflow.Event.%s: kind %s not filled by this test", v.Type().Field(i).Name, f.Kind())
		}
	}
	e.ObjectType = objectType
	e.ItemsTruncated, e.LineItemsTruncated = false, false
	return e
}
