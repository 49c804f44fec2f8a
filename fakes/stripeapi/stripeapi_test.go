package stripeapi_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stripe/stripe-go/v76"
	"github.com/stripe/stripe-go/v76/client"

	"github.com/payflow/payflow/fakes/stripeapi"
	"github.com/payflow/payflow/fixtures"
)

const key = "sk_test_51FakeKeyForPayflow"

func start(t *testing.T) (*stripeapi.Server, *client.API, string) {
	t.Helper()
	srv := stripeapi.New(key)
	url, stop := srv.Start()
	t.Cleanup(stop)
	return srv, newClient(url, key), url
}

func newClient(url, apiKey string) *client.API {
	backend := stripe.GetBackendWithConfig(stripe.APIBackend, &stripe.BackendConfig{
		URL:               stripe.String(url),
		LeveledLogger:     &stripe.LeveledLogger{Level: stripe.LevelNull},
		MaxNetworkRetries: stripe.Int64(0),
	})
	return client.New(apiKey, &stripe.Backends{API: backend, Connect: backend, Uploads: backend})
}

func stripeErr(t *testing.T, err error) *stripe.Error {
	t.Helper()
	var se *stripe.Error
	if !errors.As(err, &se) {
		t.Fatalf("err = %v (%T), want *stripe.Error", err, err)
	}
	return se
}

func TestAuth(t *testing.T) {
	srv, _, url := start(t)
	srv.PutCustomer("cus_A", "a@example.com")

	_, err := newClient(url, "sk_test_wrong_key_1234").Customers.Get("cus_A", nil)
	se := stripeErr(t, err)
	if se.HTTPStatusCode != 401 || se.Type != stripe.ErrorTypeInvalidRequest || !strings.Contains(se.Msg, "Invalid API Key provided: sk_test_**********1234") {
		t.Errorf("wrong key: %+v", se)
	}

	res, err := http.Get(url + "/v1/customers/cus_A")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var body struct {
		Error struct{ Type, Message string } `json:"error"`
	}
	json.NewDecoder(res.Body).Decode(&body)
	if res.StatusCode != 401 || body.Error.Type != "invalid_request_error" || !strings.Contains(body.Error.Message, "You did not provide an API key") {
		t.Errorf("no key: %d %+v", res.StatusCode, body)
	}

	req, _ := http.NewRequest("GET", url+"/v1/customers/cus_A", nil)
	req.SetBasicAuth(key, "")
	res2, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res2.Body.Close()
	if res2.StatusCode != 200 || res2.Header.Get("Request-Id") == "" {
		t.Errorf("basic auth: %d, request id %q", res2.StatusCode, res2.Header.Get("Request-Id"))
	}
}

func TestCustomer(t *testing.T) {
	srv, sc, _ := start(t)
	srv.PutCustomer("cus_A", "jenny@example.com")
	srv.PutCustomer("cus_NoEmail", "")

	c, err := sc.Customers.Get("cus_A", nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.ID != "cus_A" || c.Email != "jenny@example.com" || c.Object != "customer" || c.Created == 0 {
		t.Errorf("customer %+v", c)
	}
	c, err = sc.Customers.Get("cus_NoEmail", nil)
	if err != nil || c.Email != "" {
		t.Errorf("customer without email: %v %q", err, c.Email)
	}

	_, err = sc.Customers.Get("cus_missing", nil)
	se := stripeErr(t, err)
	if se.HTTPStatusCode != 404 || se.Code != stripe.ErrorCodeResourceMissing || se.Msg != "No such customer: 'cus_missing'" || se.Param != "id" {
		t.Errorf("missing: %+v", se)
	}
	var ire *stripe.InvalidRequestError
	if !errors.As(err, &ire) {
		t.Errorf("missing: %T does not wrap *stripe.InvalidRequestError", err)
	}
}

func TestInvoiceGetAndPay(t *testing.T) {
	srv, sc, _ := start(t)
	srv.PutSubscription(stripeapi.Subscription{ID: "sub_A", CustomerID: "cus_A", Status: "past_due"})
	srv.PutInvoice(stripeapi.Invoice{ID: "in_A", CustomerID: "cus_A", CustomerEmail: "jenny@example.com", SubscriptionID: "sub_A", Amount: 1500, ProductID: "prod_A", HostedInvoiceURL: "https://invoice.example/in_A"})

	inv, err := sc.Invoices.Get("in_A", nil)
	if err != nil {
		t.Fatal(err)
	}
	if inv.Status != stripe.InvoiceStatusOpen || inv.Customer.ID != "cus_A" || inv.Subscription.ID != "sub_A" || inv.CustomerEmail != "jenny@example.com" ||
		inv.AmountDue != 1500 || inv.AmountRemaining != 1500 || inv.HostedInvoiceURL != "https://invoice.example/in_A" ||
		inv.Lines.Data[0].Price.Product.ID != "prod_A" || inv.Charge != nil || inv.PaymentIntent == nil || inv.BillingReason != "subscription_cycle" {
		t.Errorf("invoice %+v", inv)
	}

	paid, err := sc.Invoices.Pay("in_A", &stripe.InvoicePayParams{})
	if err != nil {
		t.Fatal(err)
	}
	if paid.Status != stripe.InvoiceStatusPaid || !paid.Paid || paid.AmountPaid != 1500 || paid.AmountRemaining != 0 || paid.AttemptCount != 1 ||
		paid.Charge == nil || paid.StatusTransitions.PaidAt == 0 || paid.NextPaymentAttempt != 0 {
		t.Errorf("paid invoice %+v", paid)
	}
	if n := srv.PayAttempts("in_A"); n != 1 {
		t.Errorf("PayAttempts = %d", n)
	}
	if sub, _ := srv.GetSubscription("sub_A"); sub.Status != "active" {
		t.Errorf("subscription after payment: %s", sub.Status)
	}

	_, err = sc.Invoices.Pay("in_A", nil)
	if se := stripeErr(t, err); se.HTTPStatusCode != 400 || se.Msg != "Invoice is already paid" {
		t.Errorf("paying twice: %+v", se)
	}
	if n := srv.PayAttempts("in_A"); n != 1 {
		t.Errorf("PayAttempts after paying a paid invoice = %d", n)
	}
	_, err = sc.Invoices.Pay("in_missing", nil)
	if se := stripeErr(t, err); se.HTTPStatusCode != 404 || se.Code != stripe.ErrorCodeResourceMissing {
		t.Errorf("missing invoice: %+v", se)
	}
}

func TestInvoicePayDeclined(t *testing.T) {
	srv, sc, _ := start(t)
	srv.PutInvoice(stripeapi.Invoice{ID: "in_B", CustomerID: "cus_B", SubscriptionID: "sub_B"})
	srv.ScriptPay("in_B", stripeapi.PayDeclined("insufficient_funds"), stripeapi.PayDeclined("expired_card"))

	_, err := sc.Invoices.Pay("in_B", nil)
	se := stripeErr(t, err)
	if se.HTTPStatusCode != 402 || se.Type != stripe.ErrorTypeCard || se.Code != stripe.ErrorCodeCardDeclined ||
		se.DeclineCode != stripe.DeclineCodeInsufficientFunds || se.Msg != "Your card has insufficient funds." || !strings.HasPrefix(se.ChargeID, "ch_") {
		t.Errorf("declined: %+v", se)
	}
	var ce *stripe.CardError
	if !errors.As(err, &ce) || ce.DeclineCode != stripe.DeclineCodeInsufficientFunds {
		t.Errorf("declined: no *stripe.CardError with the decline code in %v", err)
	}
	inv, _ := sc.Invoices.Get("in_B", nil)
	if inv.Status != stripe.InvoiceStatusOpen || inv.AttemptCount != 1 || !inv.Attempted || inv.Charge == nil || inv.Charge.ID != se.ChargeID {
		t.Errorf("after a decline: status %s attempts %d attempted %v charge %v", inv.Status, inv.AttemptCount, inv.Attempted, inv.Charge)
	}

	_, err = sc.Invoices.Pay("in_B", nil)
	if se := stripeErr(t, err); se.Code != stripe.ErrorCodeExpiredCard || se.DeclineCode != "expired_card" || se.Msg != "Your card has expired." {
		t.Errorf("second decline: %+v", se)
	}
	inv, err = sc.Invoices.Pay("in_B", nil) // the script ran out: success
	if err != nil || inv.Status != stripe.InvoiceStatusPaid || inv.AttemptCount != 1 {
		t.Fatalf("third attempt: %v %+v", err, inv)
	}
	if n := srv.PayAttempts("in_B"); n != 3 {
		t.Errorf("PayAttempts = %d, want 3", n)
	}
}

func TestInvoicePayIdempotency(t *testing.T) {
	srv, sc, _ := start(t)
	srv.PutInvoice(stripeapi.Invoice{ID: "in_C", CustomerID: "cus_C"})
	srv.ScriptPay("in_C", stripeapi.PayDeclined("generic_decline"))

	pay := func(idemKey string, params *stripe.InvoicePayParams) (*stripe.Invoice, error) {
		if params == nil {
			params = &stripe.InvoicePayParams{}
		}
		params.SetIdempotencyKey(idemKey)
		return sc.Invoices.Pay("in_C", params)
	}
	_, err1 := pay("pay-in_C-1", nil)
	_, err2 := pay("pay-in_C-1", nil) // a retry: the stored decline, no new charge
	se1, se2 := stripeErr(t, err1), stripeErr(t, err2)
	if se1.DeclineCode != "generic_decline" || se2.DeclineCode != "generic_decline" || se1.ChargeID != se2.ChargeID || se2.HTTPStatusCode != 402 {
		t.Errorf("replayed decline: %+v vs %+v", se1, se2)
	}
	if n := srv.PayAttempts("in_C"); n != 1 {
		t.Errorf("PayAttempts after a replayed decline = %d", n)
	}

	first, err := pay("pay-in_C-2", nil)
	if err != nil {
		t.Fatal(err)
	}
	again, err := pay("pay-in_C-2", nil)
	if err != nil {
		t.Fatalf("replay of a success: %v", err)
	}
	if again.Status != stripe.InvoiceStatusPaid || again.Charge.ID != first.Charge.ID {
		t.Errorf("replay differs: %s %s vs %s", again.Status, again.Charge.ID, first.Charge.ID)
	}
	if again.LastResponse.Header.Get("Idempotent-Replayed") != "true" {
		t.Error("replay lacks Idempotent-Replayed")
	}
	if n := srv.PayAttempts("in_C"); n != 2 {
		t.Errorf("PayAttempts = %d, want 2", n)
	}

	_, err = pay("pay-in_C-2", &stripe.InvoicePayParams{PaidOutOfBand: stripe.Bool(true)})
	if se := stripeErr(t, err); se.Type != stripe.ErrorTypeIdempotency || se.HTTPStatusCode != 400 {
		t.Errorf("same key, other params: %+v", se)
	}

	var replays, attempts int
	for _, r := range srv.Requests() {
		if r.Method == "POST" && r.Path == "/v1/invoices/in_C/pay" {
			attempts++
			if r.Replayed {
				replays++
			}
			if r.IdempotencyKey == "" {
				t.Error("recorded request lacks its idempotency key")
			}
		}
	}
	if attempts != 5 || replays != 2 {
		t.Errorf("recorded %d pay requests, %d replays; want 5 and 2", attempts, replays)
	}
}

func TestMarkUncollectibleAndOutOfBand(t *testing.T) {
	srv, sc, _ := start(t)
	srv.PutInvoice(stripeapi.Invoice{ID: "in_D"})
	srv.PutInvoice(stripeapi.Invoice{ID: "in_E", Status: "draft"})

	inv, err := sc.Invoices.MarkUncollectible("in_D", nil)
	if err != nil || inv.Status != stripe.InvoiceStatusUncollectible || inv.StatusTransitions.MarkedUncollectibleAt == 0 {
		t.Fatalf("mark uncollectible: %v %+v", err, inv)
	}
	_, err = sc.Invoices.MarkUncollectible("in_E", nil)
	if se := stripeErr(t, err); se.HTTPStatusCode != 400 {
		t.Errorf("draft marked uncollectible: %+v", se)
	}
	inv, err = sc.Invoices.Pay("in_E", &stripe.InvoicePayParams{PaidOutOfBand: stripe.Bool(true)})
	if err != nil || inv.Status != stripe.InvoiceStatusPaid || !inv.PaidOutOfBand || inv.PaymentIntent == nil {
		t.Fatalf("paid out of band: %v %+v", err, inv)
	}
	if n := srv.PayAttempts("in_E"); n != 0 {
		t.Errorf("out-of-band payment counted as %d attempts", n)
	}
}

func TestSubscriptionCancelAndUpdate(t *testing.T) {
	srv, sc, _ := start(t)
	now := time.Unix(1750000000, 0)
	srv.SetClock(func() time.Time { return now })
	end := now.AddDate(0, 0, 20)
	srv.PutSubscription(stripeapi.Subscription{ID: "sub_A", CustomerID: "cus_A", CurrentPeriodEnd: end, LatestInvoiceID: "in_A", ProductID: "prod_A", PriceID: "price_A"})

	sub, err := sc.Subscriptions.Get("sub_A", nil)
	if err != nil {
		t.Fatal(err)
	}
	if sub.Status != stripe.SubscriptionStatusActive || sub.Customer.ID != "cus_A" || sub.CurrentPeriodEnd != end.Unix() || sub.LatestInvoice.ID != "in_A" ||
		sub.Items.Data[0].Price.ID != "price_A" || sub.Items.Data[0].Price.Product.ID != "prod_A" || sub.CanceledAt != 0 {
		t.Errorf("subscription %+v", sub)
	}

	sub, err = sc.Subscriptions.Update("sub_A", &stripe.SubscriptionParams{CancelAtPeriodEnd: stripe.Bool(true)})
	if err != nil || !sub.CancelAtPeriodEnd || sub.CancelAt != end.Unix() || sub.CanceledAt != now.Unix() || sub.CancellationDetails.Reason != "cancellation_requested" {
		t.Fatalf("cancel at period end: %v %+v", err, sub)
	}
	sub, err = sc.Subscriptions.Update("sub_A", &stripe.SubscriptionParams{CancelAtPeriodEnd: stripe.Bool(false), Params: stripe.Params{Metadata: map[string]string{"dunning": "stage1"}}})
	if err != nil || sub.CancelAtPeriodEnd || sub.CancelAt != 0 || sub.CanceledAt != 0 || sub.Metadata["dunning"] != "stage1" {
		t.Fatalf("undo cancel: %v %+v", err, sub)
	}
	bogus := &stripe.SubscriptionParams{}
	bogus.AddExtra("bogus_param", "1")
	_, err = sc.Subscriptions.Update("sub_A", bogus)
	if se := stripeErr(t, err); se.HTTPStatusCode != 400 || se.Code != stripe.ErrorCodeParameterUnknown || se.Param != "bogus_param" {
		t.Errorf("unknown parameter: %+v", se)
	}

	sub, err = sc.Subscriptions.Cancel("sub_A", &stripe.SubscriptionCancelParams{CancellationDetails: &stripe.SubscriptionCancelCancellationDetailsParams{Feedback: stripe.String("too_expensive")}})
	if err != nil || sub.Status != stripe.SubscriptionStatusCanceled || sub.CanceledAt != now.Unix() || sub.EndedAt != now.Unix() || sub.CancellationDetails.Feedback != "too_expensive" {
		t.Fatalf("cancel: %v %+v", err, sub)
	}
	sub, err = sc.Subscriptions.Cancel("sub_A", nil) // idempotent by default
	if err != nil || sub.Status != stripe.SubscriptionStatusCanceled {
		t.Fatalf("second cancel: %v %+v", err, sub)
	}
	_, err = sc.Subscriptions.Update("sub_A", &stripe.SubscriptionParams{CancelAtPeriodEnd: stripe.Bool(true)})
	if se := stripeErr(t, err); se.HTTPStatusCode != 400 {
		t.Errorf("updating a canceled subscription: %+v", se)
	}
	srv.SetStrictCancel(true)
	_, err = sc.Subscriptions.Cancel("sub_A", nil)
	if se := stripeErr(t, err); se.HTTPStatusCode != 404 || se.Code != stripe.ErrorCodeResourceMissing || se.Msg != "No such subscription: 'sub_A'" {
		t.Errorf("strict second cancel: %+v", se)
	}
	if got, _ := srv.GetSubscription("sub_A"); got.Status != "canceled" || got.CancellationFeedback != "too_expensive" {
		t.Errorf("stored subscription %+v", got)
	}
	_, err = sc.Subscriptions.Get("sub_missing", nil)
	if se := stripeErr(t, err); se.HTTPStatusCode != 404 {
		t.Errorf("missing subscription: %+v", se)
	}
}

// seedEvents adds n events, one per minute from base, cycling through types.
func seedEvents(t *testing.T, srv *stripeapi.Server, base time.Time, n int, types ...string) []string {
	t.Helper()
	var ids []string
	for i := range n {
		id := fmt.Sprintf("evt_%03d", i)
		raw, err := fixtures.Build(types[i%len(types)], fixtures.Options{EventID: id, Created: base.Add(time.Duration(i) * time.Minute)})
		if err != nil {
			t.Fatal(err)
		}
		if err := srv.AddEvent(raw); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	return ids
}

func TestEventsListPagination(t *testing.T) {
	srv, sc, url := start(t)
	base := time.Unix(1700000000, 0)
	ids := seedEvents(t, srv, base, 25, "invoice.paid", "invoice.payment_failed", "customer.subscription.updated", "charge.refunded", "checkout.session.completed")
	if err := srv.AddEvent([]byte(`{"id":"evt_000","object":"event","type":"x","created":1}`)); err == nil {
		t.Error("AddEvent accepted a duplicate ID")
	}
	if err := srv.AddEvent([]byte(`{"id":"x"}`)); err == nil {
		t.Error("AddEvent accepted a non-event")
	}

	collect := func(params *stripe.EventListParams) (got []string, pages int) {
		it := sc.Events.List(params)
		for it.Next() {
			e := it.Event()
			if e.Data == nil || e.Data.Object["id"] == nil {
				t.Fatalf("event %s without data.object", e.ID)
			}
			got = append(got, e.ID)
		}
		if err := it.Err(); err != nil {
			t.Fatal(err)
		}
		return got, len(srv.Requests())
	}

	// All events, newest first, across pages of 4.
	got, _ := collect(&stripe.EventListParams{ListParams: stripe.ListParams{Limit: stripe.Int64(4)}})
	want := slices.Clone(ids)
	slices.Reverse(want)
	if !slices.Equal(got, want) {
		t.Fatalf("all events:\n got %v\nwant %v", got, want)
	}

	// created[gte] and types[] (stripe-go sends types[0], types[1]).
	before := len(srv.Requests())
	got, after := collect(&stripe.EventListParams{
		ListParams:   stripe.ListParams{Limit: stripe.Int64(3)},
		CreatedRange: &stripe.RangeQueryParams{GreaterThanOrEqual: base.Add(10 * time.Minute).Unix()},
		Types:        stripe.StringSlice([]string{"invoice.paid", "invoice.payment_failed"}),
	})
	// Minutes 10..24 with i%5 in {0,1}: 10 11 15 16 20 21.
	want = []string{"evt_021", "evt_020", "evt_016", "evt_015", "evt_011", "evt_010"}
	if !slices.Equal(got, want) {
		t.Errorf("filtered:\n got %v\nwant %v", got, want)
	}
	if pages := after - before; pages != 2 {
		t.Errorf("filtered listing took %d requests, want 2 pages of 3", pages)
	}

	// type with a wildcard, created range on both sides.
	got, _ = collect(&stripe.EventListParams{
		Type:         stripe.String("customer.subscription.*"),
		CreatedRange: &stripe.RangeQueryParams{GreaterThan: base.Unix(), LesserThan: base.Add(20 * time.Minute).Unix()},
	})
	if want := []string{"evt_017", "evt_012", "evt_007", "evt_002"}; !slices.Equal(got, want) {
		t.Errorf("type wildcard: got %v want %v", got, want)
	}

	// ending_before pages towards newer events; stripe-go yields them oldest first.
	got, _ = collect(&stripe.EventListParams{ListParams: stripe.ListParams{Limit: stripe.Int64(4), EndingBefore: stripe.String("evt_014")}})
	if want := []string{"evt_015", "evt_016", "evt_017", "evt_018", "evt_019", "evt_020", "evt_021", "evt_022", "evt_023", "evt_024"}; !slices.Equal(got, want) {
		t.Errorf("ending_before: got %v want %v", got, want)
	}

	// One page on the wire: Stripe's list envelope.
	req, _ := http.NewRequest("GET", url+"/v1/events?limit=2&starting_after=evt_010", nil)
	req.Header.Set("Authorization", "Bearer "+key)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(res.Body)
	res.Body.Close()
	var page struct {
		Object  string `json:"object"`
		URL     string `json:"url"`
		HasMore bool   `json:"has_more"`
		Data    []struct {
			ID string `json:"id"`
		} `json:"data"`
	}
	if err := json.Unmarshal(b, &page); err != nil {
		t.Fatal(err)
	}
	if page.Object != "list" || page.URL != "/v1/events" || !page.HasMore || len(page.Data) != 2 || page.Data[0].ID != "evt_009" || page.Data[1].ID != "evt_008" {
		t.Errorf("page %s", b)
	}

	// types[] as form-style arrays, and an exact created.
	for query, want := range map[string][]string{
		"types[]=charge.refunded&types[]=invoice.paid&limit=3":    {"evt_023", "evt_020", "evt_018"},
		fmt.Sprintf("created=%d", base.Add(7*time.Minute).Unix()): {"evt_007"},
		"type=*.completed&limit=100":                              {"evt_024", "evt_019", "evt_014", "evt_009", "evt_004"},
	} {
		req, _ := http.NewRequest("GET", url+"/v1/events?"+query, nil)
		req.Header.Set("Authorization", "Bearer "+key)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var page struct {
			Data []struct {
				ID string `json:"id"`
			} `json:"data"`
		}
		json.NewDecoder(res.Body).Decode(&page)
		res.Body.Close()
		var got []string
		for _, d := range page.Data {
			got = append(got, d.ID)
		}
		if !slices.Equal(got, want) {
			t.Errorf("%s: got %v want %v", query, got, want)
		}
	}

	for _, bad := range []*stripe.EventListParams{
		{ListParams: stripe.ListParams{Limit: stripe.Int64(101)}},
		{ListParams: stripe.ListParams{StartingAfter: stripe.String("evt_nope")}},
		{Type: stripe.String("invoice.paid"), Types: stripe.StringSlice([]string{"charge.refunded"})},
	} {
		it := sc.Events.List(bad)
		for it.Next() {
		}
		if it.Err() == nil {
			t.Errorf("%+v: no error", bad)
		}
	}

	e, err := sc.Events.Get("evt_003", nil)
	if err != nil || e.ID != "evt_003" || e.Type != "charge.refunded" {
		t.Errorf("get event: %v %+v", err, e)
	}
}

func TestConcurrentClients(t *testing.T) {
	srv, sc, _ := start(t)
	for i := range 20 {
		srv.PutInvoice(stripeapi.Invoice{ID: fmt.Sprintf("in_%02d", i)})
		srv.PutCustomer(fmt.Sprintf("cus_%02d", i), "c@example.com")
	}
	var wg sync.WaitGroup
	for i := range 20 {
		wg.Add(2)
		go func() {
			defer wg.Done()
			params := &stripe.InvoicePayParams{}
			params.SetIdempotencyKey("shared-key-" + fmt.Sprint(i%2)) // reused keys on different invoices
			sc.Invoices.Pay(fmt.Sprintf("in_%02d", i), params)
		}()
		go func() {
			defer wg.Done()
			if _, err := sc.Customers.Get(fmt.Sprintf("cus_%02d", i), nil); err != nil {
				t.Error(err)
			}
			raw, _ := fixtures.Build("invoice.paid", fixtures.Options{})
			srv.AddEvent(raw)
		}()
	}
	wg.Wait()
	total := 0
	for i := range 20 {
		total += srv.PayAttempts(fmt.Sprintf("in_%02d", i))
	}
	if total != 2 { // one attempt per idempotency key; the rest are rejected as mismatched
		t.Errorf("total attempts = %d, want 2", total)
	}
	if n := len(srv.Requests()); n != 40 {
		t.Errorf("recorded %d requests, want 40", n)
	}
}
