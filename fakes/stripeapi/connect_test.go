package stripeapi_test

import (
	"testing"

	"github.com/stripe/stripe-go/v76"

	"github.com/payflow/payflow/fakes/stripeapi"
	"github.com/payflow/payflow/fixtures"
)

// Stripe Connect: Stripe-Account scopes every object, idempotency key and
// event list to that account, and each request records its header.
func TestStripeAccountScopes(t *testing.T) {
	srv, sc, _ := start(t)
	srv.PutCustomerIn("acct_1A", "cus_same", "a@example.com")
	srv.PutCustomerIn("acct_1B", "cus_same", "b@example.com")
	srv.PutSubscription(stripeapi.Subscription{Account: "acct_1A", ID: "sub_same", CustomerID: "cus_same", Status: "past_due"})
	srv.PutCharge(stripeapi.Charge{Account: "acct_1A", ID: "ch_a", PaymentIntentID: "pi_a"})

	get := func(acct string) (*stripe.Customer, error) {
		p := &stripe.CustomerParams{}
		if acct != "" {
			p.SetStripeAccount(acct)
		}
		return sc.Customers.Get("cus_same", p)
	}
	for acct, want := range map[string]string{"acct_1A": "a@example.com", "acct_1B": "b@example.com"} {
		c, err := get(acct)
		if err != nil || c.Email != want {
			t.Errorf("%s: %v, %v", acct, c, err)
		}
	}
	if _, err := get(""); stripeErr(t, err).HTTPStatusCode != 404 {
		t.Errorf("the platform sees a connected account's customer: %v", err)
	}
	for _, acct := range []string{"acct_1B", ""} {
		sp := &stripe.SubscriptionParams{}
		cp := &stripe.ChargeParams{}
		pp := &stripe.PaymentIntentParams{}
		if acct != "" {
			sp.SetStripeAccount(acct)
			cp.SetStripeAccount(acct)
			pp.SetStripeAccount(acct)
		}
		if _, err := sc.Subscriptions.Get("sub_same", sp); stripeErr(t, err).HTTPStatusCode != 404 {
			t.Errorf("%q sees acct_1A's subscription", acct)
		}
		if _, err := sc.Charges.Get("ch_a", cp); stripeErr(t, err).HTTPStatusCode != 404 {
			t.Errorf("%q sees acct_1A's charge", acct)
		}
		if _, err := sc.PaymentIntents.Get("pi_a", pp); stripeErr(t, err).HTTPStatusCode != 404 {
			t.Errorf("%q sees acct_1A's payment intent", acct)
		}
	}
	sp := &stripe.SubscriptionParams{}
	sp.SetStripeAccount("acct_1A")
	if s, err := sc.Subscriptions.Get("sub_same", sp); err != nil || s.Status != "past_due" {
		t.Errorf("acct_1A's subscription: %v, %v", s, err)
	}
	if sub, ok := srv.GetSubscriptionIn("acct_1A", "sub_same"); !ok || sub.Account != "acct_1A" {
		t.Errorf("GetSubscriptionIn: %+v %v", sub, ok)
	}
	if _, ok := srv.GetSubscription("sub_same"); ok {
		t.Error("GetSubscription (the platform's) finds acct_1A's")
	}

	headers := map[string]int{}
	for _, r := range srv.Requests() {
		headers[r.StripeAccount]++
	}
	if headers["acct_1A"] != 2 || headers["acct_1B"] != 4 || headers[""] != 4 {
		t.Errorf("recorded Stripe-Account headers %v", headers)
	}

	// Events: the platform's list has the platform's events only, an
	// account's list its own.
	for _, o := range []fixtures.Options{{EventID: "evt_platform"}, {EventID: "evt_conn", Account: "acct_1A"}} {
		b, err := fixtures.Build("customer.subscription.updated", o)
		if err != nil {
			t.Fatal(err)
		}
		if err := srv.AddEvent(b); err != nil {
			t.Fatal(err)
		}
	}
	list := func(acct string) []string {
		p := &stripe.EventListParams{}
		if acct != "" {
			p.SetStripeAccount(acct)
		}
		var ids []string
		it := sc.Events.List(p)
		for it.Next() {
			ids = append(ids, it.Event().ID)
		}
		if err := it.Err(); err != nil {
			t.Fatal(err)
		}
		return ids
	}
	if got := list(""); len(got) != 1 || got[0] != "evt_platform" {
		t.Errorf("platform events %v", got)
	}
	if got := list("acct_1A"); len(got) != 1 || got[0] != "evt_conn" {
		t.Errorf("acct_1A's events %v", got)
	}
}
