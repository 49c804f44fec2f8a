package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/payflow/payflow"
	"github.com/payflow/payflow/billing"
	"github.com/payflow/payflow/store"
	"github.com/payflow/payflow/workflows"
)

// inspectDB is a migrated SQLite database holding one customer whose
// order for prod_X was refunded while a subscription still pays for it.
func inspectDB(t *testing.T) string {
	t.Helper()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "payflow.db")
	if _, err := store.Migrate(ctx, path); err != nil {
		t.Fatal(err)
	}
	db, err := store.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	periodEnd := time.Date(2024, 6, 1, 0, 0, 0, 0, time.UTC)
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(db.UpsertCustomer(ctx, payflow.Customer{ID: "cus_A", Email: "a@example.com"}))
	_, _, err = db.UpsertOrder(ctx, payflow.Order{ID: "pi_1", CustomerID: "cus_A", Products: []string{"prod_X"},
		Amount: 4900, AmountRefunded: 4900, Currency: "usd", Status: payflow.OrderRefunded})
	must(err)
	_, err = db.UpsertSubscription(ctx, payflow.Subscription{ID: "sub_1", CustomerID: "cus_A", Status: "active",
		DunningStage: "none", Items: []payflow.SubscriptionItem{{ID: "si_1", ProductID: "prod_X", Quantity: 1}},
		CurrentPeriodEnd: periodEnd.Unix(), StripeCreated: 100})
	must(err)
	for _, a := range []payflow.AccessSource{
		{CustomerID: "cus_A", ProductID: "prod_X", Source: "order/pi_1", Status: payflow.AccessRevoked, Reason: "order refunded"},
		{CustomerID: "cus_A", ProductID: "prod_X", Source: "subscription/sub_1", Status: payflow.AccessGranted, ValidUntil: &periodEnd,
			Reason: "subscription active"},
		{CustomerID: "cus_A", ProductID: "prod_Y", Source: "subscription/sub_2", Status: payflow.AccessSuspended, Reason: "grace over"},
	} {
		_, err := db.SetAccessSource(ctx, a)
		must(err)
	}
	return path
}

func TestInspectCustomerJSON(t *testing.T) {
	path := inspectDB(t)
	// Flags before or after the positional arguments.
	for _, args := range [][]string{
		{"-database", path, "-json", "-temporal=false", "customer", "cus_A"},
		{"customer", "cus_A", "-json", "-database", path, "-temporal=false"},
	} {
		var out bytes.Buffer
		if err := runInspect(context.Background(), args, &out); err != nil {
			t.Fatalf("%v: %v", args, err)
		}
		var doc struct {
			Customer struct {
				ID    string `json:"id"`
				Email string `json:"email"`
			} `json:"customer"`
			Access []struct {
				ProductID  string  `json:"product_id"`
				Status     string  `json:"status"`
				ValidUntil *string `json:"valid_until"`
				Sources    []struct {
					Source     string  `json:"source"`
					Status     string  `json:"status"`
					ValidUntil *string `json:"valid_until"`
					Reason     string  `json:"reason"`
					UpdatedAt  string  `json:"updated_at"`
				} `json:"sources"`
			} `json:"access"`
			Orders []struct {
				ID       string   `json:"id"`
				Status   string   `json:"status"`
				Products []string `json:"products"`
			} `json:"orders"`
			Subscriptions []struct {
				ID    string `json:"id"`
				Items []struct {
					ProductID string `json:"product_id"`
				} `json:"items"`
			} `json:"subscriptions"`
		}
		if err := json.Unmarshal(out.Bytes(), &doc); err != nil {
			t.Fatalf("%v: %v\n%s", args, err, out.String())
		}
		if doc.Customer.ID != "cus_A" || doc.Customer.Email != "a@example.com" {
			t.Errorf("customer %+v", doc.Customer)
		}
		if len(doc.Access) != 2 {
			t.Fatalf("access %+v", doc.Access)
		}
		x, y := doc.Access[0], doc.Access[1]
		if x.ProductID != "prod_X" || x.Status != payflow.AccessGranted || x.ValidUntil == nil || *x.ValidUntil != "2024-06-01T00:00:00Z" {
			t.Errorf("prod_X %+v; want granted until the subscription's period end", x)
		}
		if len(x.Sources) != 2 || x.Sources[0].Source != "order/pi_1" || x.Sources[0].Status != payflow.AccessRevoked ||
			x.Sources[0].Reason != "order refunded" || x.Sources[0].ValidUntil != nil || x.Sources[0].UpdatedAt == "" ||
			x.Sources[1].Source != "subscription/sub_1" || x.Sources[1].Status != payflow.AccessGranted {
			t.Errorf("prod_X sources %+v", x.Sources)
		}
		if y.ProductID != "prod_Y" || y.Status != payflow.AccessSuspended || y.ValidUntil != nil || len(y.Sources) != 1 {
			t.Errorf("prod_Y %+v", y)
		}
		if len(doc.Orders) != 1 || doc.Orders[0].Status != "refunded" || len(doc.Orders[0].Products) != 1 ||
			len(doc.Subscriptions) != 1 || doc.Subscriptions[0].Items[0].ProductID != "prod_X" {
			t.Errorf("orders %+v, subscriptions %+v", doc.Orders, doc.Subscriptions)
		}
		// Snake_case keys only.
		for _, key := range []string{`"Customer"`, `"Orders"`, `"ProductID"`, `"CustomerID"`} {
			if strings.Contains(out.String(), key) {
				t.Errorf("JSON has Go field name %s", key)
			}
		}
	}
}

func TestInspectCustomerText(t *testing.T) {
	path := inspectDB(t)
	var out bytes.Buffer
	if err := runInspect(context.Background(), []string{"-database", path, "-temporal=false", "customer", "cus_A"}, &out); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"ACCESS (2)", "prod_X   granted    2024-06-01T00:00:00Z  order/pi_1", "subscription/sub_1",
		"prod_Y   suspended", "ORDERS (1)", "SUBSCRIPTIONS (1)"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("text output lacks %q:\n%s", want, out.String())
		}
	}
	err := runInspect(context.Background(), []string{"-database", path, "customer", "cus_nobody"}, &out)
	if err == nil || !strings.Contains(err.Error(), "no customer cus_nobody") {
		t.Errorf("unknown customer: %v", err)
	}
}

// The dunning section: each subscription's stage, the details line split
// into its parts, the pending wake-ups in UTC; a workflow that cannot be
// asked is named with the reason, and the others still show.
func TestInspectDunningTimelines(t *testing.T) {
	at := time.Date(2026, 12, 4, 9, 30, 0, 0, time.UTC)
	query := func(_ context.Context, sub string) (workflows.SubscriptionView, error) {
		if sub == "sub_gone" {
			return workflows.SubscriptionView{}, errors.New("workflow not found")
		}
		return workflows.SubscriptionView{DunningStage: billing.StageRetrying,
			Details: sub + ": past_due; invoice in_1 (soft: generic_decline): failed 2026-12-01 09:30 UTC, retry 1 of 3 on 2026-12-04 09:30 UTC",
			Timers:  []billing.Timer{{Campaign: "in_1", Kind: billing.TimerRetry, At: at}}}, nil
	}
	tls := queryTimelines(context.Background(), []string{"sub_1", "sub_gone"}, query)
	var out bytes.Buffer
	writeTimelines(&out, "127.0.0.1:7233 namespace default", tls)
	for _, want := range []string{
		"DUNNING (2, from the subscription workflows at 127.0.0.1:7233 namespace default)",
		"  sub_1  retrying\n", "    invoice in_1 (soft: generic_decline): failed 2026-12-01 09:30 UTC, retry 1 of 3 on 2026-12-04 09:30 UTC\n",
		"    next: retry for invoice in_1 at 2026-12-04 09:30 UTC\n",
		"  sub_gone  not available: workflow not found\n",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
}
