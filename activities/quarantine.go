package activities

import (
	"context"
	"fmt"
	"strconv"

	"github.com/payflow/payflow"
	"github.com/payflow/payflow/billing"
	"github.com/payflow/payflow/routing"
)

// StoreQuarantined keeps an event the receiver could not interpret in the
// quarantine table, with its raw payload, once per event ID: a retried
// attempt, or a second run for a redelivered event, finds the row and
// changes nothing. It counts payflow_events_quarantined_total{reason} when
// it writes the row, so each event counts once (a worker killed between
// the write and the count misses one rather than counting it twice). It
// reports whether this call wrote the row.
func (a *Activities) StoreQuarantined(ctx context.Context, in routing.QuarantineInput) (bool, error) {
	if in.EventID == "" {
		return false, invalid("quarantined event without ID")
	}
	raw, err := in.RawPayload()
	if err != nil {
		return false, invalid("%v", err)
	}
	inserted, err := a.Store.InsertQuarantined(ctx, payflow.QuarantinedEvent{
		EventID: in.EventID, Type: in.Type, APIVersion: in.APIVersion, Livemode: in.Livemode, Account: in.Account,
		Reason: in.Reason, Detail: in.Detail, Payload: raw, ReceivedAt: in.ReceivedAt,
	})
	if err != nil {
		return false, fmt.Errorf("quarantine event %s: %w", in.EventID, err)
	}
	log := a.logger(ctx).With("event_id", in.EventID, "type", in.Type, "api_version", in.APIVersion, "reason", in.Reason)
	if !inserted {
		log.Info("event already in quarantine")
		return false, nil
	}
	if a.Metrics != nil {
		a.Metrics.Quarantined.WithLabelValues(in.Reason).Inc()
	}
	log.Warn("event quarantined: replay it with `payflow quarantine replay` once payflow can read it",
		"detail", in.Detail, "payload_bytes", len(raw))
	return true, nil
}

// PurposeOperatorQuarantined tells ALERT_EMAIL that an event was
// quarantined (QuarantineAlert). Its words are the billing core's, with
// every other email's (billing/emails/operator_quarantined_event.tmpl),
// though the core never sends it: it is about the receiver.
const PurposeOperatorQuarantined = billing.PurposeOperatorQuarantined

// QuarantineAlert is the operator alert for a quarantined event: one per
// event, its ledger key the event's quarantine workflow ID
// (quarantine/<evt>), so a second run for a redelivered event, or a
// retried activity, never sends it again. Pure: the workflow builds it.
func QuarantineAlert(in routing.QuarantineInput) billing.SendEmail {
	vars := map[string]string{
		"event_id": in.EventID, "type": in.Type, "api_version": in.APIVersion, "livemode": strconv.FormatBool(in.Livemode),
		"account": in.Account, "reason": in.Reason, "detail": in.Detail,
		"received_at": in.ReceivedAt.UTC().Format("2006-01-02 15:04:05 UTC"),
	}
	return billing.SendEmail{DedupeKey: routing.QuarantineID(in.EventID), Purpose: PurposeOperatorQuarantined, ToOperator: true, Vars: vars}
}
