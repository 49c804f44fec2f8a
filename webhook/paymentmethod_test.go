package webhook_test

import (
	"encoding/json"
	"testing"

	"github.com/payflow/payflow/fixtures"
	"github.com/payflow/payflow/routing"
	"github.com/payflow/payflow/webhook"
)

// withPrevious wraps o in an event whose data.previous_attributes is prev
// (nil: none), as Stripe sends *.updated events.
func withPrevious(t *testing.T, typ string, o, prev obj) []byte {
	t.Helper()
	data := obj{"object": o}
	if prev != nil {
		data["previous_attributes"] = prev
	}
	b, err := json.Marshal(obj{"id": "evt_1Fixture", "object": "event", "api_version": fixtureVersion, "created": 1700000000,
		"data": data, "livemode": false, "pending_webhooks": 1, "request": obj{"id": nil, "idempotency_key": nil}, "type": typ})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// Only a real change of the customer's payment method is decoded
// (payflow.Event.PaymentMethod): a new default for invoices, an attached
// method, an off-session setup. Shapes: Stripe's own customer and
// payment_method objects (API 2023-10-16), the fixtures' setup intent.
func TestDecodePaymentMethodChanges(t *testing.T) {
	customer := func(pm any) obj {
		c := fixture(t, "customer")
		set(c, "invoice_settings.default_payment_method", pm)
		return c
	}
	prevPM := func(pm any) obj { return obj{"invoice_settings": obj{"default_payment_method": pm}} }
	pm := fixture(t, "payment_method")
	pm["customer"] = "cus_PM"
	expandedPM := customer(obj{"id": "pm_expanded", "object": "payment_method"})

	type pmCase struct {
		name     string
		payload  []byte
		customer string
		want     string
	}
	cases := []pmCase{
		{"new default", withPrevious(t, "customer.updated", customer("pm_new"), prevPM("pm_old")), "cus_PEHTtYpY7elppN", "pm_new"},
		{"first default (was null)", withPrevious(t, "customer.updated", customer("pm_new"), prevPM(nil)), "cus_PEHTtYpY7elppN", "pm_new"},
		{"expanded default", withPrevious(t, "customer.updated", expandedPM, prevPM("pm_old")), "cus_PEHTtYpY7elppN", "pm_expanded"},
		{"default removed", withPrevious(t, "customer.updated", customer(nil), prevPM("pm_old")), "cus_PEHTtYpY7elppN", ""},
		{"same default", withPrevious(t, "customer.updated", customer("pm_same"), prevPM("pm_same")), "cus_PEHTtYpY7elppN", ""},
		{"email changed", withPrevious(t, "customer.updated", customer("pm_new"), obj{"email": "old@example.com"}), "cus_PEHTtYpY7elppN", ""},
		{"footer changed", withPrevious(t, "customer.updated", customer("pm_new"), obj{"invoice_settings": obj{"footer": nil}}), "cus_PEHTtYpY7elppN", ""},
		{"no previous attributes", withPrevious(t, "customer.updated", customer("pm_new"), nil), "cus_PEHTtYpY7elppN", ""},
		{"payment method attached", withPrevious(t, "payment_method.attached", pm, nil), "cus_PM", "pm_1OPoukJN5vQBdWEx0hPok3pj"},
		{"payment method detached", withPrevious(t, "payment_method.detached", pm, nil), "cus_PM", ""},
	}
	build := func(typ string, o fixtures.Options) []byte {
		b, err := fixtures.Build(typ, o)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	cases = append(cases,
		pmCase{"off-session setup", build("setup_intent.succeeded", fixtures.Options{CustomerID: "cus_S", PaymentMethodID: "pm_set"}), "cus_S", "pm_set"},
		pmCase{"on-session setup", build("setup_intent.succeeded", fixtures.Options{CustomerID: "cus_S", PaymentMethodID: "pm_set", SetupUsage: "on_session"}), "cus_S", ""},
		pmCase{"fixtures' customer.updated", build("customer.updated", fixtures.Options{CustomerID: "cus_F", PaymentMethodID: "pm_f", PreviousPaymentMethodID: "pm_e"}), "cus_F", "pm_f"},
	)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ev, err := webhook.Decode(tc.payload)
			if err != nil {
				t.Fatal(err)
			}
			if ev.PaymentMethod != tc.want || ev.CustomerID != tc.customer {
				t.Errorf("payment method %q customer %q, want %q %q", ev.PaymentMethod, ev.CustomerID, tc.want, tc.customer)
			}
		})
	}
}

// A subscription's own default_payment_method changing is decoded on
// customer.subscription.updated (and routed to the subscription, whose
// open campaigns retry); any other update of the subscription is not.
func TestDecodeSubscriptionPaymentMethodChange(t *testing.T) {
	sub := func(pm any) obj {
		s := fixture(t, "subscription")
		s["default_payment_method"] = pm
		return s
	}
	for _, tc := range []struct {
		name    string
		payload []byte
		want    string
	}{
		{"new default", withPrevious(t, "customer.subscription.updated", sub("pm_sub_new"), obj{"default_payment_method": "pm_sub_old"}), "pm_sub_new"},
		{"first default", withPrevious(t, "customer.subscription.updated", sub("pm_sub_new"), obj{"default_payment_method": nil}), "pm_sub_new"},
		{"expanded", withPrevious(t, "customer.subscription.updated", sub(obj{"id": "pm_x", "object": "payment_method"}), obj{"default_payment_method": "pm_a"}), "pm_x"},
		{"removed", withPrevious(t, "customer.subscription.updated", sub(nil), obj{"default_payment_method": "pm_a"}), ""},
		{"status changed", withPrevious(t, "customer.subscription.updated", sub("pm_sub_new"), obj{"status": "active"}), ""},
		{"created", withPrevious(t, "customer.subscription.created", sub("pm_sub_new"), nil), ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ev, err := webhook.Decode(tc.payload)
			if err != nil {
				t.Fatal(err)
			}
			if ev.PaymentMethod != tc.want || ev.SubscriptionID == "" {
				t.Errorf("payment method %q (subscription %q), want %q", ev.PaymentMethod, ev.SubscriptionID, tc.want)
			}
			route, id, skip, ok := routing.Resolve(ev)
			if !ok || skip != "" || id != routing.SubscriptionID(ev.SubscriptionID) || route.Workflow == "" {
				t.Errorf("routed %+v %q skip %q", route, id, skip)
			}
		})
	}
}
