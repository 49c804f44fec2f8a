package store

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/payflow/payflow"
)

func TestWriteSummary(t *testing.T) {
	t0 := time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)
	fulfilled := t0.Add(time.Minute)
	validUntil := t0.Add(30 * 24 * time.Hour)
	s := payflow.CustomerSummary{
		Customer: payflow.Customer{ID: "cus_1", Email: "alice@example.com", UpdatedAt: t0},
		Orders: []payflow.Order{
			{ID: "pi_1", Status: payflow.OrderFulfilled, Amount: 1999, Currency: "usd", ProductID: "prod_1",
				ChargeID: "ch_1", Email: "alice@example.com", CreatedAt: t0, FulfilledAt: &fulfilled},
			{ID: "pi_2", Status: payflow.OrderFailed, Amount: 500, Currency: "jpy", CreatedAt: t0.Add(time.Hour),
				FailureReason: "card_declined"},
		},
		Subscriptions: []payflow.Subscription{
			{ID: "sub_1", Status: "past_due", DunningStage: "retry_1", CurrentPeriodEnd: t0.Add(24 * time.Hour).Unix(),
				CancelAtPeriodEnd: true, UpdatedAt: t0},
		},
		Entitlements: []payflow.Entitlement{
			{ProductID: "prod_1", Status: payflow.AccessGranted, Source: "order/pi_1", ValidUntil: &validUntil, GrantedAt: &fulfilled},
		},
		Emails: []payflow.Email{
			{DedupeKey: "order/pi_1/receipt", To: "alice@example.com", Purpose: "receipt", Subject: "Your\nreceipt",
				Status: payflow.EmailSent, CreatedAt: t0, SentAt: &fulfilled},
		},
	}
	var buf bytes.Buffer
	if err := WriteSummary(&buf, s); err != nil {
		t.Fatal(err)
	}
	want := `Customer  cus_1
Email     alice@example.com
Updated   2024-05-01T12:00:00Z

ORDERS (2)
ID    STATUS          AMOUNT     PRODUCT  CHARGE  EMAIL              CREATED               FULFILLED             REASON
pi_1  fulfilled       19.99 USD  prod_1   ch_1    alice@example.com  2024-05-01T12:00:00Z  2024-05-01T12:01:00Z  -
pi_2  payment_failed  500 JPY    -        -       -                  2024-05-01T13:00:00Z  -                     card_declined

SUBSCRIPTIONS (1)
ID     STATUS    DUNNING  PERIOD END            CANCEL AT PERIOD END  UPDATED
sub_1  past_due  retry_1  2024-05-02T12:00:00Z  yes                   2024-05-01T12:00:00Z

ENTITLEMENTS (1)
PRODUCT  STATUS   SOURCE      VALID UNTIL           GRANTED               SUSPENDED  REVOKED
prod_1   granted  order/pi_1  2024-05-31T12:00:00Z  2024-05-01T12:01:00Z  -          -

EMAILS (1)
CREATED               PURPOSE  TO                 STATUS  SENT                  SUBJECT       KEY
2024-05-01T12:00:00Z  receipt  alice@example.com  sent    2024-05-01T12:01:00Z  Your receipt  order/pi_1/receipt

DISPUTES (0)
  (none)
`
	if got := buf.String(); got != want {
		t.Errorf("WriteSummary wrote:\n%s\nwant:\n%s", got, want)
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
