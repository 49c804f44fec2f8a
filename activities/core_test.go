package activities_test

import (
	"context"
	"testing"
	"time"

	"github.com/payflow/payflow"
	"github.com/payflow/payflow/activities"
	"github.com/payflow/payflow/billing"
	"github.com/payflow/payflow/fakes/stripeapi"
	"github.com/payflow/payflow/store"
)

// These tests drive the activities with the billing core's own commands,
// as the workflows do, on the real SQLite store: the core decides, the
// activities carry out.

// runCommands runs the commands that are activities without an answer
// (records, access, email, cancellation); the rest (timers, search
// attributes, notes, Stripe reads the core waits for) are the workflow's.
func runCommands(t *testing.T, a *activities.Activities, cmds []billing.Command) {
	t.Helper()
	ctx := context.Background()
	for _, c := range cmds {
		var err error
		switch c := c.(type) {
		case billing.RecordSubscription:
			err = a.RecordSubscription(ctx, c)
		case billing.RecordInvoice:
			err = a.RecordInvoice(ctx, c)
		case billing.RecordOrder:
			err = a.RecordOrder(ctx, c)
		case billing.RecordRefund:
			err = a.RecordRefund(ctx, c)
		case billing.RecordDispute:
			err = a.RecordDispute(ctx, c)
		case billing.SetAccess:
			err = a.SetAccess(ctx, c)
		case billing.SendEmail:
			err = a.SendEmail(ctx, c)
		case billing.CancelSubscription:
			err = a.CancelSubscription(ctx, c)
		}
		if err != nil {
			t.Fatalf("%s: %v", c.Name(), err)
		}
	}
}

// productX is sold both one-off and by subscription.
const productX = "prod_X"

var periodEnd = fixedNow.Add(30 * 24 * time.Hour).Truncate(time.Second)

// subscribed applies a live subscription for productX and runs its
// commands.
func subscribed(t *testing.T, a *activities.Activities) billing.Subscription {
	t.Helper()
	s, cmds := billing.ApplySubscription(billing.NewSubscription("sub_1"), billing.Event{ID: "evt_sub",
		Type: "customer.subscription.created", Created: fixedNow.Unix(), CustomerID: "cus_A", SubscriptionID: "sub_1",
		Status: billing.StatusActive, Items: []billing.Item{{ID: "si_1", PriceID: "price_X", ProductID: productX, Quantity: 1}},
		CurrentPeriodEnd: periodEnd.Unix()}, billing.DefaultPolicy(), fixedNow)
	runCommands(t, a, cmds)
	return s
}

// paidOrder applies a one-off payment for productX and runs its commands.
func paidOrder(t *testing.T, a *activities.Activities) billing.Order {
	t.Helper()
	o, cmds := billing.ApplyOrder(billing.NewOrder("pi_1"), billing.Event{ID: "evt_pi", Type: "payment_intent.succeeded",
		Created: fixedNow.Unix(), CustomerID: "cus_A", Email: "a@example.com", PaymentIntent: "pi_1", ChargeID: "ch_1",
		Amount: 4900, Currency: "usd", Status: "succeeded", Products: []string{productX},
		ProductFrom: billing.ProductFromPaymentMetadata}, fixedNow)
	runCommands(t, a, cmds)
	return o
}

// lastFrom returns the last provisioning event the source caused.
func lastFrom(t *testing.T, m *merchant, source string) activities.ProvisioningEvent {
	t.Helper()
	got := m.requests()
	for i := len(got) - 1; i >= 0; i-- {
		if got[i].event.Source == source {
			return got[i].event
		}
	}
	t.Fatalf("no provisioning call from %s among %d", source, len(got))
	return activities.ProvisioningEvent{}
}

func productAccess(t *testing.T, db *store.DB, customer, product string) store.ProductAccess {
	t.Helper()
	sum, err := db.CustomerSummary(context.Background(), customer)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range store.View(sum).Access {
		if p.ProductID == product {
			return p
		}
	}
	t.Fatalf("%s has no access entry for %s", customer, product)
	return store.ProductAccess{}
}

// A full refund of an order for X, while a live subscription also grants
// X, revokes the order's own access only: the effective access stays
// granted and the provisioning call says so. Cancelling the subscription
// then ends it.
func TestRefundedOrderKeepsSubscriptionAccess(t *testing.T) {
	db := newStore(t)
	m, url := startMerchant(t)
	a := newActivities(db)
	a.Provisioner = &activities.Provisioner{URL: url, Secret: provisioningSecret}

	s := subscribed(t, a)
	o := paidOrder(t, a)
	if ev := lastFrom(t, m, "order/pi_1"); ev.Access != payflow.AccessGranted || ev.SourceAccess != payflow.AccessGranted ||
		len(ev.Sources) != 2 || ev.Version != 2 {
		t.Errorf("order grant: %+v", ev)
	}

	o, cmds := billing.ApplyOrder(o, billing.Event{ID: "evt_refund", Type: "charge.refunded", Created: fixedNow.Unix() + 60,
		CustomerID: "cus_A", PaymentIntent: "pi_1", ChargeID: "ch_1", Amount: 4900, AmountRefunded: 4900, Refunded: true,
		Currency: "usd"}, fixedNow.Add(time.Minute))
	runCommands(t, a, cmds)
	if o.Status() != billing.OrderRefunded {
		t.Fatalf("order %s, want refunded", o.Status())
	}

	ev := lastFrom(t, m, "order/pi_1")
	if ev.SourceAccess != payflow.AccessRevoked || ev.SourceValidUntil != nil {
		t.Errorf("the refund's call says the order did %q (until %v), want revoked", ev.SourceAccess, ev.SourceValidUntil)
	}
	if ev.Access != payflow.AccessGranted || ev.ValidUntil == nil || !ev.ValidUntil.Equal(periodEnd) {
		t.Errorf("the refund's call says effective access %q until %v; want granted until %v (the subscription pays for it)",
			ev.Access, ev.ValidUntil, periodEnd)
	}
	if ev.Version != 3 || len(ev.Sources) != 2 || ev.Sources[0].Source != "order/pi_1" || ev.Sources[0].Access != payflow.AccessRevoked ||
		ev.Sources[1].Source != "subscription/sub_1" || ev.Sources[1].Access != payflow.AccessGranted {
		t.Errorf("version %d, sources %+v", ev.Version, ev.Sources)
	}
	p := productAccess(t, db, "cus_A", productX)
	if p.Status != payflow.AccessGranted || len(p.Sources) != 2 || p.Sources[0].Status != payflow.AccessRevoked {
		t.Errorf("inspect: %+v", p)
	}
	if ord, err := db.GetOrder(context.Background(), "pi_1"); err != nil || ord.Status != payflow.OrderRefunded || ord.AmountRefunded != 4900 {
		t.Errorf("order row %+v, %v", ord, err)
	}
	if row := ledger(t, db, "order/pi_1/refund"); row.Purpose != billing.PurposeRefund {
		t.Errorf("refund email %+v", row)
	}

	// The subscription ends: nothing grants X any more.
	_, cmds = billing.ApplySubscription(s, billing.Event{ID: "evt_del", Type: "customer.subscription.deleted",
		Created: fixedNow.Unix() + 120, CustomerID: "cus_A", SubscriptionID: "sub_1", Status: billing.StatusCanceled,
		Items: []billing.Item{{ID: "si_1", PriceID: "price_X", ProductID: productX, Quantity: 1}}}, billing.DefaultPolicy(), fixedNow.Add(2*time.Minute))
	runCommands(t, a, cmds)
	if ev := lastFrom(t, m, "subscription/sub_1"); ev.SourceAccess != payflow.AccessRevoked || ev.Access != payflow.AccessRevoked || ev.Version != 4 {
		t.Errorf("cancellation's call: %+v; want effective revoked", ev)
	}
	if p := productAccess(t, db, "cus_A", productX); p.Status != payflow.AccessRevoked {
		t.Errorf("inspect after cancellation: %+v", p)
	}
}

// A dispute of the order suspends the order's access only; the product
// stays granted through the subscription. Lost, the order's access is
// revoked; the subscription's still grants.
func TestDisputedOrderKeepsSubscriptionAccess(t *testing.T) {
	db := newStore(t)
	m, url := startMerchant(t)
	a := newActivities(db)
	a.Provisioner = &activities.Provisioner{URL: url, Secret: provisioningSecret}
	subscribed(t, a)
	o := paidOrder(t, a)

	for i, status := range []string{"needs_response", "lost"} {
		typ := "charge.dispute.created"
		if status == "lost" {
			typ = "charge.dispute.closed"
		}
		var cmds []billing.Command
		o, cmds = billing.ApplyOrder(o, billing.Event{ID: "evt_dp_" + status, Type: typ, Created: fixedNow.Unix() + int64(60*(i+1)),
			CustomerID: "cus_A", ChargeID: "ch_1", PaymentIntent: "pi_1", DisputeID: "dp_1", Status: status, Amount: 4900,
			Currency: "usd"}, fixedNow)
		runCommands(t, a, cmds)
		want := map[string]string{"needs_response": payflow.AccessSuspended, "lost": payflow.AccessRevoked}[status]
		ev := lastFrom(t, m, "order/pi_1")
		if ev.SourceAccess != want || ev.Access != payflow.AccessGranted {
			t.Errorf("dispute %s: the order did %q, effective %q; want %q and granted", status, ev.SourceAccess, ev.Access, want)
		}
	}
	if p := productAccess(t, db, "cus_A", productX); p.Status != payflow.AccessGranted {
		t.Errorf("inspect: %+v", p)
	}
	if ord, _ := db.GetOrder(context.Background(), "pi_1"); ord.Status != payflow.OrderDisputed {
		t.Errorf("order status %s, want disputed", ord.Status)
	}
}

// The merchant's app is told the effective access in the order of the
// changes: the version orders calls that raced.
func TestSetAccessVersionsOrderTheCalls(t *testing.T) {
	db := newStore(t)
	m, url := startMerchant(t)
	a := newActivities(db)
	a.Provisioner = &activities.Provisioner{URL: url, Secret: provisioningSecret}
	ctx := context.Background()
	changes := []billing.SetAccess{
		{CustomerID: "cus_A", ProductID: productX, Source: "order/pi_1", Status: payflow.AccessGranted, Reason: "order fulfilled"},
		{CustomerID: "cus_A", ProductID: productX, Source: "subscription/sub_1", Status: payflow.AccessGranted, ValidUntil: &periodEnd},
		{CustomerID: "cus_A", ProductID: productX, Source: "order/pi_1", Status: payflow.AccessRevoked, Reason: "order refunded"},
		{CustomerID: "cus_A", ProductID: productX, Source: "subscription/sub_1", Status: payflow.AccessSuspended, Reason: "grace over"},
	}
	wantEffective := []string{payflow.AccessGranted, payflow.AccessGranted, payflow.AccessGranted, payflow.AccessSuspended}
	for _, ch := range changes {
		if err := a.SetAccess(ctx, ch); err != nil {
			t.Fatal(err)
		}
	}
	got := m.requests()
	if len(got) != len(changes) {
		t.Fatalf("%d calls", len(got))
	}
	for i, r := range got {
		if r.event.Version != int64(i+1) || r.event.Access != wantEffective[i] || r.event.SourceAccess != changes[i].Status {
			t.Errorf("call %d: version %d, effective %s, source %s; want %d, %s, %s", i, r.event.Version, r.event.Access,
				r.event.SourceAccess, i+1, wantEffective[i], changes[i].Status)
		}
	}
}

func TestLookupPaymentOwner(t *testing.T) {
	ctx := context.Background()
	db := newStore(t)
	srv, api := startStripe(t)
	a := newActivities(db)

	// In the database: an order by its charge, a Checkout order by its
	// payment intent, a subscription's invoice, a one-off invoice.
	for _, o := range []billing.RecordOrder{
		{OrderID: "pi_db", CustomerID: "cus_A", PaymentIntent: "pi_db", ChargeID: "ch_db", Status: billing.OrderFulfilled},
		{OrderID: "cs_db", CustomerID: "cus_A", CheckoutID: "cs_db", PaymentIntent: "pi_cs", Status: billing.OrderFulfilled},
	} {
		if err := a.RecordOrder(ctx, o); err != nil {
			t.Fatal(err)
		}
	}
	for _, inv := range []billing.RecordInvoice{
		{SubscriptionID: "sub_db", CustomerID: "cus_B", Invoice: billing.Invoice{ID: "in_db", Status: billing.InvoicePaid, ChargeID: "ch_in_db", StripeCreated: 1}},
		{CustomerID: "cus_C", Invoice: billing.Invoice{ID: "in_oneoff", Status: billing.InvoicePaid, ChargeID: "ch_oneoff", StripeCreated: 1}},
	} {
		if err := a.RecordInvoice(ctx, inv); err != nil {
			t.Fatal(err)
		}
	}
	// Only Stripe knows these.
	srv.PutSubscription(stripeapi.Subscription{ID: "sub_s", CustomerID: "cus_S"})
	srv.PutInvoice(stripeapi.Invoice{ID: "in_s", CustomerID: "cus_S", SubscriptionID: "sub_s", Status: "paid",
		ChargeID: "ch_in_s", PaymentIntentID: "pi_in_s"})
	srv.PutCharge(stripeapi.Charge{ID: "ch_once", CustomerID: "cus_O", PaymentIntentID: "pi_once"})

	cases := []struct {
		name        string
		q           billing.LookupPaymentOwner
		withStripe  bool
		want        billing.PaymentOwner
		stripeAsked bool
	}{
		{"order by charge", billing.LookupPaymentOwner{ChargeID: "ch_db"}, true,
			billing.PaymentOwner{WorkflowID: "order/pi_db", CustomerID: "cus_A"}, false},
		{"order by payment intent", billing.LookupPaymentOwner{ChargeID: "ch_unknown_to_db", PaymentIntent: "pi_cs"}, true,
			billing.PaymentOwner{WorkflowID: "order/cs_db", CustomerID: "cus_A"}, false},
		{"subscription invoice by charge", billing.LookupPaymentOwner{ChargeID: "ch_in_db"}, true,
			billing.PaymentOwner{WorkflowID: "subscription/sub_db", CustomerID: "cus_B", InvoiceID: "in_db", SubscriptionID: "sub_db"}, false},
		{"one-off invoice: nothing payflow sells", billing.LookupPaymentOwner{ChargeID: "ch_oneoff"}, true,
			billing.PaymentOwner{CustomerID: "cus_C", InvoiceID: "in_oneoff"}, false},
		{"unknown, no Stripe key", billing.LookupPaymentOwner{ChargeID: "ch_in_s"}, false, billing.PaymentOwner{}, false},
		{"Stripe: charge → invoice → subscription", billing.LookupPaymentOwner{ChargeID: "ch_in_s"}, true,
			billing.PaymentOwner{WorkflowID: "subscription/sub_s", CustomerID: "cus_S", InvoiceID: "in_s", SubscriptionID: "sub_s"}, true},
		{"Stripe: payment intent → invoice → subscription", billing.LookupPaymentOwner{PaymentIntent: "pi_in_s"}, true,
			billing.PaymentOwner{WorkflowID: "subscription/sub_s", CustomerID: "cus_S", InvoiceID: "in_s", SubscriptionID: "sub_s"}, true},
		{"Stripe: a one-off payment", billing.LookupPaymentOwner{ChargeID: "ch_once"}, true,
			billing.PaymentOwner{WorkflowID: "order/pi_once", CustomerID: "cus_O"}, true},
		{"Stripe knows nothing", billing.LookupPaymentOwner{ChargeID: "ch_nowhere"}, true, billing.PaymentOwner{}, true},
		{"nothing to look up", billing.LookupPaymentOwner{}, true, billing.PaymentOwner{}, false},
		// An order run's refund of an invoice's charge names the invoice:
		// it is looked up by its ID, and no order is considered.
		{"invoice named: the database by its ID, never an order", billing.LookupPaymentOwner{ChargeID: "ch_db", InvoiceID: "in_db"}, true,
			billing.PaymentOwner{WorkflowID: "subscription/sub_db", CustomerID: "cus_B", InvoiceID: "in_db", SubscriptionID: "sub_db"}, false},
		{"invoice named: Stripe's charge → invoice → subscription", billing.LookupPaymentOwner{ChargeID: "ch_in_s", PaymentIntent: "pi_in_s", InvoiceID: "in_s"}, true,
			billing.PaymentOwner{WorkflowID: "subscription/sub_s", CustomerID: "cus_S", InvoiceID: "in_s", SubscriptionID: "sub_s"}, true},
		{"invoice named, charge unknown to Stripe: the invoice", billing.LookupPaymentOwner{ChargeID: "ch_nowhere", InvoiceID: "in_s"}, true,
			billing.PaymentOwner{WorkflowID: "subscription/sub_s", CustomerID: "cus_S", InvoiceID: "in_s", SubscriptionID: "sub_s"}, true},
		{"invoice named, Stripe knows nothing", billing.LookupPaymentOwner{ChargeID: "ch_nowhere", InvoiceID: "in_nowhere"}, true,
			billing.PaymentOwner{}, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			a.Stripe = nil
			if tc.withStripe {
				a.Stripe = api
			}
			before := len(srv.Requests())
			tc.q.DisputeID = "dp_1"
			got, err := a.LookupPaymentOwner(ctx, tc.q)
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Errorf("owner %+v, want %+v", got, tc.want)
			}
			if asked := len(srv.Requests()) > before; asked != tc.stripeAsked {
				t.Errorf("Stripe asked: %v, want %v (the database comes first)", asked, tc.stripeAsked)
			}
		})
	}

	// The answer, handed to the core, sends the dispute to the owner.
	d, cmds := billing.ApplyDispute(billing.NewDispute("dp_1"), billing.Event{ID: "evt_dp", Type: "charge.dispute.created",
		Created: fixedNow.Unix(), ChargeID: "ch_in_s", DisputeID: "dp_1", Status: "needs_response", Amount: 2000, Currency: "usd"},
		billing.DefaultDisputePolicy(), fixedNow)
	var q *billing.LookupPaymentOwner
	for _, c := range cmds {
		if l, ok := c.(billing.LookupPaymentOwner); ok {
			q = &l
		}
	}
	if q == nil {
		t.Fatalf("the core asked for no lookup: %s", names(cmds))
	}
	a.Stripe = api
	owner, err := a.LookupPaymentOwner(ctx, *q)
	if err != nil {
		t.Fatal(err)
	}
	_, cmds = billing.ApplyDisputeOwner(d, owner, fixedNow)
	notified := false
	for _, c := range cmds {
		if n, ok := c.(billing.NotifyOwner); ok && n.WorkflowID == "subscription/sub_s" && n.Event.InvoiceID == "in_s" {
			notified = true
		}
	}
	if !notified {
		t.Errorf("after the lookup the core sends %s; want NotifyOwner(subscription/sub_s) with the invoice", names(cmds))
	}
}
