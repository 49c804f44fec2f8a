package webhook_test

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"net/http"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/payflow/payflow"
	"github.com/payflow/payflow/fixtures"
	"github.com/payflow/payflow/webhook"
)

func TestAcceptanceCheck(t *testing.T) {
	platform := payflow.Event{ID: "evt_1"}
	live := payflow.Event{ID: "evt_2", Livemode: true}
	acctA := payflow.Event{ID: "evt_3", Account: "acct_A"}
	acctB := payflow.Event{ID: "evt_4", Account: "acct_B"}
	odd := payflow.Event{ID: "evt_5", Account: "someone"}
	for _, tc := range []struct {
		name   string
		accept webhook.Acceptance
		ev     payflow.Event
		reason string // "" accepted
	}{
		{"zero value: platform test event", webhook.Acceptance{}, platform, ""},
		{"zero value: platform live event", webhook.Acceptance{}, live, ""},
		{"zero value: connected account", webhook.Acceptance{}, acctA, webhook.ReasonAccountNotAccepted},
		{"live deployment, test event", webhook.Acceptance{Livemode: webhook.LivemodeLive}, platform, webhook.ReasonLivemodeMismatch},
		{"live deployment, live event", webhook.Acceptance{Livemode: webhook.LivemodeLive}, live, ""},
		{"test deployment, live event", webhook.Acceptance{Livemode: webhook.LivemodeTest}, live, webhook.ReasonLivemodeMismatch},
		{"test deployment, test event", webhook.Acceptance{Livemode: webhook.LivemodeTest}, platform, ""},
		{"any", webhook.Acceptance{Livemode: webhook.LivemodeAny}, live, ""},
		{"every account", webhook.Acceptance{AllAccounts: true}, acctB, ""},
		{"every account, platform", webhook.Acceptance{AllAccounts: true}, platform, ""},
		{"listed", webhook.Acceptance{Accounts: []string{"acct_A"}}, acctA, ""},
		{"not listed", webhook.Acceptance{Accounts: []string{"acct_A"}}, acctB, webhook.ReasonAccountNotAccepted},
		{"not an account ID", webhook.Acceptance{AllAccounts: true}, odd, webhook.ReasonAccountNotAccepted},
		{"mode first", webhook.Acceptance{Livemode: webhook.LivemodeLive, AllAccounts: true}, acctA, webhook.ReasonLivemodeMismatch},
	} {
		u := tc.accept.Check(tc.ev)
		switch {
		case tc.reason == "" && u != nil:
			t.Errorf("%s: refused: %v", tc.name, u)
		case tc.reason != "" && (u == nil || u.Reason != tc.reason || u.Detail == ""):
			t.Errorf("%s: %v, want %s with a detail", tc.name, u, tc.reason)
		}
	}
}

// An event of the wrong mode, or of a connected account this deployment
// does not serve, is neither processed nor silently answered: it is
// quarantined, on the same path and with the same answer as an event
// payflow cannot interpret, with its own reason.
func TestNotAcceptedEventsAreQuarantined(t *testing.T) {
	for _, tc := range []struct {
		name    string
		accept  webhook.Acceptance
		o       fixtures.Options
		reason  string
		account string
	}{
		{"live event, test deployment", webhook.Acceptance{Livemode: webhook.LivemodeTest}, fixtures.Options{Livemode: true}, webhook.ReasonLivemodeMismatch, ""},
		{"test event, live deployment", webhook.Acceptance{Livemode: webhook.LivemodeLive}, fixtures.Options{}, webhook.ReasonLivemodeMismatch, ""},
		{"connected account, platform only", webhook.Acceptance{}, fixtures.Options{Account: "acct_1Other"}, webhook.ReasonAccountNotAccepted, "acct_1Other"},
		{"connected account not listed", webhook.Acceptance{Accounts: []string{"acct_1Mine"}}, fixtures.Options{Account: "acct_1Other"}, webhook.ReasonAccountNotAccepted, "acct_1Other"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.o.CustomerID, tc.o.SubscriptionID, tc.o.InvoiceID = "cus_acc", "sub_acc", "in_acc"
			body := event(t, "invoice.payment_failed", tc.o)
			var envelope struct {
				ID string `json:"id"`
			}
			if err := json.Unmarshal(body, &envelope); err != nil {
				t.Fatal(err)
			}
			h := &quarantineRecorder{}
			srv := newServer(h, secretOld)
			srv.Accept = tc.accept
			srv.Metrics = webhook.NewMetrics(prometheus.NewRegistry())
			var logs bytes.Buffer
			srv.Log = slog.New(slog.NewJSONHandler(&logs, nil))

			r := post(t, srv, http.MethodPost, body, sign(body, secretOld))
			if r.status != 200 || r.body["received"] != true || r.body["quarantined"] != tc.reason {
				t.Fatalf("answer %d %v; want 200 {received:true, quarantined:%s}", r.status, r.body, tc.reason)
			}
			if len(h.delivered) != 0 {
				t.Fatalf("delivered to %v: an event not accepted reaches no workflow", h.delivered)
			}
			got := h.inputs()
			if len(got) != 1 || got[0].Reason != tc.reason || got[0].EventID != envelope.ID || got[0].Account != tc.account ||
				got[0].Livemode != tc.o.Livemode || got[0].Detail == "" {
				t.Fatalf("quarantined %+v", got)
			}
			if raw, _ := got[0].RawPayload(); !bytes.Equal(raw, body) {
				t.Error("quarantined payload differs from the body Stripe sent")
			}
			if n := deliveryCount(t, srv.Metrics, "invoice.payment_failed", "quarantined"); n != 1 {
				t.Errorf("deliveries{outcome=quarantined} = %v, want 1", n)
			}
			wantID := "quarantine/" + envelope.ID
			if tc.account != "" {
				wantID = tc.account + "/" + wantID
			}
			if !strings.Contains(logs.String(), `"level":"ERROR"`) || !strings.Contains(logs.String(), `"reason":"`+tc.reason+`"`) ||
				!strings.Contains(logs.String(), `"workflow_id":"`+wantID+`"`) {
				t.Errorf("want an error-level line with the reason and %s:\n%s", wantID, logs.String())
			}
			// A redelivery: quarantined before, a duplicate.
			h.qduplicate = true
			if r := post(t, srv, http.MethodPost, body, sign(body, secretOld)); r.status != 200 || r.body["duplicate"] != true || r.body["quarantined"] != tc.reason {
				t.Errorf("redelivery: %d %v", r.status, r.body)
			}
		})
	}
}

// A connected account the deployment accepts is routed to its own
// workflows, prefixed with the account; the platform's keep their IDs.
func TestAcceptedAccountRoutesToItsWorkflow(t *testing.T) {
	h := &recorder{}
	srv := newServer(h, secretOld)
	srv.Accept = webhook.Acceptance{Accounts: []string{"acct_1A", "acct_1B"}}
	for _, acct := range []string{"acct_1A", "acct_1B", ""} {
		body := event(t, "invoice.payment_failed", fixtures.Options{SubscriptionID: "sub_same", Account: acct})
		if r := post(t, srv, http.MethodPost, body, sign(body, secretOld)); r.status != 200 || r.body["quarantined"] != nil {
			t.Fatalf("%q: %d %v", acct, r.status, r.body)
		}
	}
	want := "acct_1A/subscription/sub_same,acct_1B/subscription/sub_same,subscription/sub_same"
	if got := strings.Join(h.delivered, ","); got != want {
		t.Fatalf("delivered to %s, want %s", got, want)
	}
	for i, acct := range []string{"acct_1A", "acct_1B", ""} {
		if h.events[i].Account != acct {
			t.Errorf("event %d carries account %q, want %q", i, h.events[i].Account, acct)
		}
	}
	// STRIPE_ACCOUNTS=* takes any account.
	srv.Accept = webhook.Acceptance{AllAccounts: true}
	body := event(t, "customer.subscription.updated", fixtures.Options{SubscriptionID: "sub_any", Account: "acct_1Any"})
	if r := post(t, srv, http.MethodPost, body, sign(body, secretOld)); r.status != 200 || h.delivered[len(h.delivered)-1] != "acct_1Any/subscription/sub_any" {
		t.Fatalf("%d %v, delivered %v", r.status, r.body, h.delivered)
	}
}
