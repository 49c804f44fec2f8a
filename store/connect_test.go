package store

import (
	"testing"

	"github.com/payflow/payflow"
)

// Schema 5: access rows and subscriptions tell the connected account they
// belong to ("" for the platform); sources stay in platform form. Rows of
// an earlier schema read as the platform's.
func TestConnectAccountColumns(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			b.skipUnavailable(t)
			db := openNew(t, b)
			ctx := t.Context()
			if _, err := db.UpsertSubscription(ctx, payflow.Subscription{ID: "sub_a", CustomerID: "cus_a", Status: "active",
				StripeCreated: 200, Account: "acct_1A"}); err != nil {
				t.Fatal(err)
			}
			// An older snapshot, or a write that does not say, keeps the account.
			for _, in := range []payflow.Subscription{
				{ID: "sub_a", Status: "incomplete", StripeCreated: 100},
				{ID: "sub_a", Status: "past_due", StripeCreated: 300},
			} {
				if _, err := db.UpsertSubscription(ctx, in); err != nil {
					t.Fatal(err)
				}
			}
			s, err := db.GetSubscription(ctx, "sub_a")
			if err != nil || s.Account != "acct_1A" || s.Status != "past_due" {
				t.Fatalf("subscription %+v, %v", s, err)
			}
			// Written before the account was known (an older payflow's row):
			// the first write that knows it fills it, even an older snapshot.
			if _, err := db.UpsertSubscription(ctx, payflow.Subscription{ID: "sub_b", Status: "active", StripeCreated: 200}); err != nil {
				t.Fatal(err)
			}
			if _, err := db.UpsertSubscription(ctx, payflow.Subscription{ID: "sub_b", StripeCreated: 100, Account: "acct_1B"}); err != nil {
				t.Fatal(err)
			}
			if s, _ := db.GetSubscription(ctx, "sub_b"); s.Account != "acct_1B" || s.Status != "active" {
				t.Fatalf("subscription %+v", s)
			}

			up, err := db.SetAccessSource(ctx, payflow.AccessSource{CustomerID: "cus_a", ProductID: "prod_1",
				Source: "subscription/sub_a", Status: payflow.AccessGranted, Account: "acct_1A"})
			if err != nil || len(up.Sources) != 1 || up.Sources[0].Account != "acct_1A" || up.Sources[0].Source != "subscription/sub_a" {
				t.Fatalf("access %+v, %v", up, err)
			}
			if _, err := db.SetAccessSource(ctx, payflow.AccessSource{CustomerID: "cus_p", ProductID: "prod_1",
				Source: "order/pi_p", Status: payflow.AccessGranted}); err != nil {
				t.Fatal(err)
			}
			sum, err := db.CustomerSummary(ctx, "cus_a")
			if err != nil || len(sum.Access) != 1 || sum.Access[0].Account != "acct_1A" || len(sum.Subscriptions) != 1 || sum.Subscriptions[0].Account != "acct_1A" {
				t.Fatalf("summary %+v, %v", sum, err)
			}
			v := View(sum)
			if v.Subscriptions[0].AccountID != "acct_1A" || v.Access[0].Sources[0].AccountID != "acct_1A" {
				t.Errorf("inspect view %+v", v)
			}
			if rows, _ := db.AccessFor(ctx, "cus_p", ""); len(rows) != 1 || rows[0].Account != "" {
				t.Errorf("platform rows %+v", rows)
			}
		})
	}
}
