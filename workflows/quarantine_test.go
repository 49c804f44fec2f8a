package workflows_test

import (
	"bytes"
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/stretchr/testify/require"

	"github.com/payflow/payflow"
	"github.com/payflow/payflow/activities"
	"github.com/payflow/payflow/routing"
	"github.com/payflow/payflow/workflows"
)

// quarantineInput is what the receiver hands over for an event of an API
// version payflow does not know.
func quarantineInput(t *testing.T, eventID string, payload []byte) routing.QuarantineInput {
	t.Helper()
	data, enc, err := routing.PackQuarantinePayload(payload)
	require.NoError(t, err)
	return routing.QuarantineInput{EventID: eventID, Type: "invoice.paid", APIVersion: "2099-01-01.zeta", Livemode: true,
		Account: "acct_1", Reason: "unknown_api_version", Detail: `api_version "2099-01-01.zeta": newer than payflow knows`,
		ReceivedAt: t0.Add(-time.Second), Payload: data, PayloadEncoding: enc}
}

func rawEvent(id string) []byte {
	return []byte(`{"id":"` + id + `","object":"event","api_version":"2099-01-01.zeta","type":"invoice.paid",` +
		`"created":1700000000,"livemode":true,"account":"acct_1","data":{"object":{"id":"in_1","object":"invoice"}}}`)
}

// alertsFor counts the quarantine alerts SendGrid accepted for one event.
func (w *world) alertsFor(eventID string) (n int, last string) {
	for _, m := range w.mail.Messages() {
		if m.CustomArgs["payflow_dedupe_key"] == routing.QuarantineID(eventID) {
			n++
			last = strings.Join(m.To, ",") + " | " + m.Subject + " | " + m.Text
		}
	}
	return n, last
}

func quarantinedCount(t *testing.T, w *world, reason string) float64 {
	t.Helper()
	var m dto.Metric
	require.NoError(t, w.acts.Metrics.Quarantined.WithLabelValues(reason).Write(&m))
	return m.GetCounter().GetValue()
}

func runQuarantine(t *testing.T, w *world, in routing.QuarantineInput) (*harness, workflows.QuarantineView) {
	t.Helper()
	h := w.run(t, routing.QuarantineID(in.EventID))
	h.env.ExecuteWorkflow(routing.QuarantineWorkflowName, in)
	require.True(t, h.env.IsWorkflowCompleted())
	var view workflows.QuarantineView
	if h.env.GetWorkflowError() == nil {
		require.NoError(t, h.env.GetWorkflowResult(&view))
	}
	return h, view
}

// An event the receiver could not interpret is kept whole, counted once
// and alerted once; a second run for the same event (a redelivery after
// Temporal's retention dropped the first) changes nothing and sends
// nothing.
func TestQuarantineStoresCountsAndAlertsOnce(t *testing.T) {
	w := newWorld(t)
	reg := prometheus.NewRegistry()
	w.acts.Metrics = activities.NewMetrics(reg)
	payload := rawEvent("evt_q_once")
	in := quarantineInput(t, "evt_q_once", payload)

	h, view := runQuarantine(t, w, in)
	h.requireCompleted()
	require.True(t, view.Stored)
	require.True(t, containsLine(notes(view.Steps), "evt_q_once (invoice.paid) kept in quarantine: unknown_api_version"), notes(view.Steps))
	require.True(t, containsLine(notes(view.Steps), "operator alerted (quarantine/evt_q_once)"), notes(view.Steps))

	row, err := w.db.GetQuarantined(context.Background(), "evt_q_once")
	require.NoError(t, err)
	require.Equal(t, payload, row.Payload)
	require.Equal(t, "invoice.paid", row.Type)
	require.Equal(t, "2099-01-01.zeta", row.APIVersion)
	require.True(t, row.Livemode)
	require.Equal(t, "acct_1", row.Account)
	require.Equal(t, "unknown_api_version", row.Reason)
	require.Equal(t, in.Detail, row.Detail)
	require.True(t, row.ReceivedAt.Equal(in.ReceivedAt), row.ReceivedAt)
	require.Nil(t, row.ReplayedAt)

	n, alert := w.alertsFor("evt_q_once")
	require.Equal(t, 1, n)
	for _, want := range []string{alertEmail, "Stripe event evt_q_once quarantined: unknown_api_version", "API version 2099-01-01.zeta",
		"account acct_1", "payflow quarantine replay evt_q_once", `newer than payflow knows`} {
		require.Contains(t, alert, want)
	}
	require.Equal(t, 1.0, quarantinedCount(t, w, "unknown_api_version"))

	// The same event again, with another body: the first row stays.
	again := quarantineInput(t, "evt_q_once", []byte(`{"id":"evt_q_once"}`))
	h, view = runQuarantine(t, w, again)
	h.requireCompleted()
	require.False(t, view.Stored)
	require.True(t, containsLine(notes(view.Steps), "evt_q_once was in quarantine already"), notes(view.Steps))
	row, err = w.db.GetQuarantined(context.Background(), "evt_q_once")
	require.NoError(t, err)
	require.Equal(t, payload, row.Payload)
	n, _ = w.alertsFor("evt_q_once")
	require.Equal(t, 1, n, "the alert goes out once per event")
	require.Equal(t, 1.0, quarantinedCount(t, w, "unknown_api_version"))
}

// A body above the inline limit travels gzip-compressed and is stored
// byte for byte.
func TestQuarantineLargePayload(t *testing.T) {
	w := newWorld(t)
	payload := append(rawEvent("evt_q_large"), bytes.Repeat([]byte(" "), routing.QuarantineInlineMax)...)
	in := quarantineInput(t, "evt_q_large", payload)
	require.Equal(t, routing.PayloadGzip, in.PayloadEncoding)
	require.Less(t, len(in.Payload), len(payload)/10)

	h, view := runQuarantine(t, w, in)
	h.requireCompleted()
	require.True(t, view.Stored)
	row, err := w.db.GetQuarantined(context.Background(), "evt_q_large")
	require.NoError(t, err)
	require.True(t, bytes.Equal(payload, row.Payload), "payload changed on the way")
}

// The alert rides the email ledger: a provider that fails for a while is
// retried without a second message; one that refuses for good is noted,
// and the row is kept all the same.
func TestQuarantineAlertFailures(t *testing.T) {
	t.Run("transient", func(t *testing.T) {
		w := newWorld(t)
		w.mail.FailFor(alertEmail, 2, http.StatusServiceUnavailable)
		h, view := runQuarantine(t, w, quarantineInput(t, "evt_q_retry", rawEvent("evt_q_retry")))
		h.requireCompleted()
		require.True(t, view.Stored)
		n, _ := w.alertsFor("evt_q_retry")
		require.Equal(t, 1, n)
		require.Equal(t, 3, w.mail.AttemptsTo(alertEmail))
	})
	t.Run("refused for good", func(t *testing.T) {
		w := newWorld(t)
		w.mail.FailFor(alertEmail, 1, http.StatusBadRequest)
		h, view := runQuarantine(t, w, quarantineInput(t, "evt_q_refused", rawEvent("evt_q_refused")))
		h.requireCompleted()
		require.True(t, view.Stored)
		require.True(t, containsLine(notes(view.Steps), "refused (EmailRefused)"), notes(view.Steps))
		_, err := w.db.GetQuarantined(context.Background(), "evt_q_refused")
		require.NoError(t, err)
	})
	t.Run("no ALERT_EMAIL", func(t *testing.T) {
		w := newWorld(t)
		w.acts.AlertEmail = ""
		h, view := runQuarantine(t, w, quarantineInput(t, "evt_q_noaddr", rawEvent("evt_q_noaddr")))
		h.requireCompleted()
		require.True(t, view.Stored)
		// The alert stays in the ledger (failed: no recipient) for an
		// operator who looks there.
		require.Empty(t, w.mail.Messages())
	})
}

// A payload no retry can read still alerts the operator, then fails the
// run (visible in the UI; a redelivery may start a new one).
func TestQuarantineUnreadablePayloadFailsAfterAlerting(t *testing.T) {
	w := newWorld(t)
	in := quarantineInput(t, "evt_q_bad", rawEvent("evt_q_bad"))
	in.PayloadEncoding = "zstd"
	h, _ := runQuarantine(t, w, in)
	require.Error(t, h.env.GetWorkflowError())
	require.Contains(t, h.env.GetWorkflowError().Error(), "evt_q_bad not stored in quarantine")
	n, _ := w.alertsFor("evt_q_bad")
	require.Equal(t, 1, n)
	_, err := w.db.GetQuarantined(context.Background(), "evt_q_bad")
	require.ErrorIs(t, err, payflow.ErrNotFound)
}
