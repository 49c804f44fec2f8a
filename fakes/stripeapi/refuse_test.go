package stripeapi

import (
	"errors"
	"net/http"
	"testing"

	"github.com/stripe/stripe-go/v76"
	"github.com/stripe/stripe-go/v76/client"
)

// Refuse answers a method and path with Stripe's error object and the
// status asked for, until lifted; other requests are served as usual.
func TestRefuse(t *testing.T) {
	s := New("sk_test_refuse")
	s.PutSubscription(Subscription{ID: "sub_r", CustomerID: "cus_r"})
	url, stop := s.Start()
	defer stop()
	backend := stripe.GetBackendWithConfig(stripe.APIBackend, &stripe.BackendConfig{URL: stripe.String(url),
		LeveledLogger: &stripe.LeveledLogger{Level: stripe.LevelNull}})
	sc := client.New("sk_test_refuse", &stripe.Backends{API: backend, Connect: backend, Uploads: backend})

	s.Refuse("DELETE", "/v1/subscriptions/*", http.StatusForbidden, "The provided key does not have the required permissions")
	_, err := sc.Subscriptions.Cancel("sub_r", nil)
	var se *stripe.Error
	if !errors.As(err, &se) || se.HTTPStatusCode != http.StatusForbidden || se.Type != stripe.ErrorTypeInvalidRequest ||
		se.Msg != "The provided key does not have the required permissions" {
		t.Fatalf("cancel: %v", err)
	}
	if sub, err := sc.Subscriptions.Get("sub_r", nil); err != nil || sub.Status != "active" {
		t.Fatalf("get is not refused: %v %v", sub, err)
	}
	s.Refuse("DELETE", "/v1/subscriptions/*", 0, "")
	if sub, err := sc.Subscriptions.Cancel("sub_r", nil); err != nil || sub.Status != "canceled" {
		t.Fatalf("cancel after lifting: %v %v", sub, err)
	}
	if r := s.Requests(); len(r) != 3 || r[0].Status != http.StatusForbidden {
		t.Errorf("requests %+v", r)
	}
}
