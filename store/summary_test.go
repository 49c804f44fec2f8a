package store

import (
	"bytes"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/payflow/payflow"
)

// summaryFixture: a customer whose order for prod_1 was fully refunded
// while a subscription still pays for prod_1, and whose second product is
// suspended by dunning.
func summaryFixture() payflow.CustomerSummary {
	t0 := time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)
	fulfilled := t0.Add(time.Minute)
	revoked := t0.Add(time.Hour)
	periodEnd := t0.Add(30 * 24 * time.Hour)
	return payflow.CustomerSummary{
		Customer: payflow.Customer{ID: "cus_1", Email: "alice@example.com", UpdatedAt: t0},
		Orders: []payflow.Order{
			{ID: "pi_1", Status: payflow.OrderRefunded, Amount: 1999, AmountRefunded: 1999, Currency: "usd",
				Products: []string{"prod_1"}, ProductID: "prod_1", PaymentIntent: "pi_1", ChargeID: "ch_1",
				Email: "alice@example.com", CreatedAt: t0, FulfilledAt: &fulfilled, UpdatedAt: revoked},
			{ID: "pi_2", Status: payflow.OrderFailed, Amount: 500, Currency: "jpy", CreatedAt: t0.Add(time.Hour),
				FailureReason: "card_declined", UpdatedAt: t0.Add(time.Hour)},
		},
		Subscriptions: []payflow.Subscription{
			{ID: "sub_1", Status: "past_due", DunningStage: "suspended", CurrentPeriodEnd: periodEnd.Unix(),
				Items: []payflow.SubscriptionItem{{ID: "si_1", PriceID: "price_1", ProductID: "prod_1", Quantity: 1},
					{ID: "si_2", PriceID: "price_2", ProductID: "prod_2", Quantity: 3}},
				CancelAtPeriodEnd: true, StripeCreated: 100, UpdatedAt: t0},
		},
		Invoices: []payflow.Invoice{
			{ID: "in_1", SubscriptionID: "sub_1", Status: "open", AmountDue: 2000, Currency: "usd", AttemptCount: 2,
				BillingReason: "subscription_cycle", ChargeID: "ch_9", StripeCreated: 100, UpdatedAt: t0},
		},
		Access: []payflow.AccessSource{
			{CustomerID: "cus_1", ProductID: "prod_1", Source: "order/pi_1", Status: payflow.AccessRevoked,
				Reason: "order refunded", GrantedAt: &fulfilled, RevokedAt: &revoked, UpdatedAt: revoked},
			{CustomerID: "cus_1", ProductID: "prod_1", Source: "subscription/sub_1", Status: payflow.AccessGranted,
				ValidUntil: &periodEnd, Reason: "subscription past_due", GrantedAt: &fulfilled, UpdatedAt: t0},
			{CustomerID: "cus_1", ProductID: "prod_2", Source: "subscription/sub_1", Status: payflow.AccessSuspended,
				Reason: "grace over", SuspendedAt: &revoked, UpdatedAt: revoked},
		},
		Refunds: []payflow.Refund{
			{Source: "order/pi_1", ChargeID: "ch_1", AmountRefunded: 1999, Currency: "usd", Full: true, EventID: "evt_r",
				StripeCreated: 90, UpdatedAt: revoked},
		},
		Emails: []payflow.Email{
			{DedupeKey: "order/pi_1/receipt", To: "alice@example.com", Purpose: "receipt", Subject: "Your\nreceipt",
				Status: payflow.EmailSent, CreatedAt: t0, SentAt: &fulfilled},
		},
		Disputes: []payflow.Dispute{
			{ID: "dp_1", Status: "needs_response", Reason: "fraudulent", Amount: 2000, Currency: "usd", ChargeID: "ch_9",
				InvoiceID: "in_1", Owner: "subscription/sub_1", FundsWithdrawn: true, EvidenceDueBy: periodEnd.Unix(), UpdatedAt: t0},
		},
	}
}

func TestWriteSummary(t *testing.T) {
	var buf bytes.Buffer
	if err := WriteSummary(&buf, summaryFixture()); err != nil {
		t.Fatal(err)
	}
	want := `Customer  cus_1
Email     alice@example.com
Updated   2024-05-01T12:00:00Z

ACCESS (2)
PRODUCT  ACCESS     VALID UNTIL           SOURCE              SOURCE STATUS  SOURCE VALID UNTIL    REASON                 UPDATED
prod_1   granted    2024-05-31T12:00:00Z  order/pi_1          revoked        -                     order refunded         2024-05-01T13:00:00Z
                                          subscription/sub_1  granted        2024-05-31T12:00:00Z  subscription past_due  2024-05-01T12:00:00Z
prod_2   suspended  -                     subscription/sub_1  suspended      -                     grace over             2024-05-01T13:00:00Z

ORDERS (2)
ID    STATUS          AMOUNT     REFUNDED   PRODUCTS  CHARGE  EMAIL              CREATED               FULFILLED             REASON
pi_1  refunded        19.99 USD  19.99 USD  prod_1    ch_1    alice@example.com  2024-05-01T12:00:00Z  2024-05-01T12:01:00Z  -
pi_2  payment_failed  500 JPY    -          -         -       -                  2024-05-01T13:00:00Z  -                     card_declined

SUBSCRIPTIONS (1)
ID     STATUS    DUNNING    PRODUCTS         PERIOD END            CANCEL AT PERIOD END  UPDATED
sub_1  past_due  suspended  prod_1,prod_2×3  2024-05-31T12:00:00Z  yes                   2024-05-01T12:00:00Z

INVOICES (1)
ID    SUBSCRIPTION  STATUS  DUE        PAID      REFUNDED  ATTEMPTS  REASON              CHARGE  DISPUTE
in_1  sub_1         open    20.00 USD  0.00 USD  -         2         subscription_cycle  ch_9    -

REFUNDS (1)
SOURCE      INVOICE  CHARGE  REFUNDED   FULL  EVENT  UPDATED
order/pi_1  -        ch_1    19.99 USD  yes   evt_r  2024-05-01T13:00:00Z

DISPUTES (1)
ID    STATUS          REASON      AMOUNT     CHARGE  OWNER               FUNDS      EVIDENCE DUE
dp_1  needs_response  fraudulent  20.00 USD  ch_9    subscription/sub_1  withdrawn  2024-05-31T12:00:00Z

EMAILS (1)
CREATED               PURPOSE  TO                 STATUS  SENT                  SUBJECT       KEY
2024-05-01T12:00:00Z  receipt  alice@example.com  sent    2024-05-01T12:01:00Z  Your receipt  order/pi_1/receipt
`
	if got := buf.String(); got != want {
		t.Errorf("WriteSummary wrote:\n%s\nwant:\n%s", got, want)
	}
}

// The JSON document: documented snake_case keys, the effective access per
// product with its sources, lists never null.
func TestViewJSON(t *testing.T) {
	b, err := json.Marshal(View(summaryFixture()))
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	access := doc["access"].([]any)
	if len(access) != 2 {
		t.Fatalf("access = %v", access)
	}
	p1 := access[0].(map[string]any)
	if p1["product_id"] != "prod_1" || p1["status"] != "granted" || p1["valid_until"] != "2024-05-31T12:00:00Z" {
		t.Errorf("prod_1 = %v; want effective granted (the subscription pays for it) until the period end", p1)
	}
	sources := p1["sources"].([]any)
	if len(sources) != 2 {
		t.Fatalf("prod_1 sources = %v", sources)
	}
	refunded := sources[0].(map[string]any)
	for k, want := range map[string]any{"source": "order/pi_1", "status": "revoked", "valid_until": nil,
		"reason": "order refunded", "updated_at": "2024-05-01T13:00:00Z"} {
		if refunded[k] != want {
			t.Errorf("prod_1 source %s = %v, want %v", k, refunded[k], want)
		}
	}
	if p2 := access[1].(map[string]any); p2["product_id"] != "prod_2" || p2["status"] != "suspended" || p2["valid_until"] != nil {
		t.Errorf("prod_2 = %v", p2)
	}
	keys := func(v any) string {
		var out []string
		for k := range v.(map[string]any) {
			out = append(out, k)
		}
		return strings.Join(slices.Sorted(slices.Values(out)), ",")
	}
	wantKeys := map[string]string{
		"document":     "access,customer,disputes,emails,invoices,orders,refunds,subscriptions",
		"customer":     "email,id,updated_at",
		"access":       "product_id,sources,status,valid_until",
		"source":       "account_id,granted_at,reason,revoked_at,source,status,suspended_at,updated_at,valid_until",
		"order":        "amount,amount_refunded,charge_id,checkout_session_id,created_at,currency,email,failure_reason,fulfilled_at,id,payment_intent_id,products,status,updated_at",
		"subscription": "account_id,cancel_at_period_end,current_period_end,dunning_stage,id,items,status,updated_at",
		"item":         "id,price_id,product_id,quantity",
		"invoice":      "amount_due,amount_paid,amount_refunded,attempt_count,billing_reason,charge_id,collection_method,currency,dispute_id,dispute_status,fully_refunded,hosted_invoice_url,id,payment_intent_id,period_end,status,subscription_id,updated_at",
		"refund":       "amount_refunded,charge_id,currency,event_id,full,invoice_id,source,updated_at",
		"dispute":      "amount,charge_id,currency,evidence_due_by,funds_reinstated,funds_withdrawn,id,invoice_id,owner,payment_intent_id,reason,status,updated_at",
		"email":        "body,created_at,dedupe_key,provider_message_id,purpose,sent_at,status,subject,to",
	}
	first := func(list string) any { return doc[list].([]any)[0] }
	got := map[string]string{
		"document": keys(doc), "customer": keys(doc["customer"]), "access": keys(p1), "source": keys(refunded),
		"order": keys(first("orders")), "subscription": keys(first("subscriptions")),
		"item":    keys(first("subscriptions").(map[string]any)["items"].([]any)[0]),
		"invoice": keys(first("invoices")), "refund": keys(first("refunds")), "dispute": keys(first("disputes")),
		"email": keys(first("emails")),
	}
	for what, want := range wantKeys {
		if got[what] != want {
			t.Errorf("%s keys = %s\nwant %s (README's table documents them)", what, got[what], want)
		}
	}

	// An empty summary has lists, not nulls.
	b, _ = json.Marshal(View(payflow.CustomerSummary{Customer: payflow.Customer{ID: "cus_2"}}))
	for _, list := range []string{"access", "orders", "subscriptions", "invoices", "refunds", "disputes", "emails"} {
		if !strings.Contains(string(b), `"`+list+`":[]`) {
			t.Errorf("empty summary: %s is not []: %s", list, b)
		}
	}
}

func TestFmtAmount(t *testing.T) {
	tests := []struct {
		amount   int64
		currency string
		want     string
	}{
		{1999, "usd", "19.99 USD"},
		{5, "eur", "0.05 EUR"},
		{-250, "gbp", "-2.50 GBP"},
		{500, "JPY", "500 JPY"},
		{42, "", "42"},
	}
	for _, tt := range tests {
		if got := fmtAmount(tt.amount, tt.currency); got != tt.want {
			t.Errorf("fmtAmount(%d, %q) = %q, want %q", tt.amount, tt.currency, got, tt.want)
		}
	}
}

type failingWriter struct{}

func (failingWriter) Write([]byte) (int, error) { return 0, errors.New("disk full") }

func TestWriteSummaryReportsWriteErrors(t *testing.T) {
	err := WriteSummary(failingWriter{}, payflow.CustomerSummary{Customer: payflow.Customer{ID: "cus_1"}})
	if err == nil || !strings.Contains(err.Error(), "disk full") {
		t.Errorf("WriteSummary to a failing writer = %v, want the write error", err)
	}
}
