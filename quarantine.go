package payflow

import (
	"context"
	"time"
)

// QuarantinedEvent is a verified Stripe event payflow could not interpret
// (an API version family it does not know, a handled type without the
// fields routing needs, …), kept whole so it can be decoded again once
// payflow can read it (`payflow quarantine replay`). One row per event ID.
type QuarantinedEvent struct {
	EventID    string
	Type       string
	APIVersion string
	Livemode   bool
	Account    string // Connect: the connected account, "" for the platform
	Reason     string // short and stable: the metrics label
	Detail     string // what exactly was missing or unexpected
	// Payload is the raw body as Stripe sent it. List leaves it nil and
	// sets PayloadSize only.
	Payload     []byte
	PayloadSize int
	ReceivedAt  time.Time
	// ReplayedAt is set once a replay decoded the event and handed it on
	// (or found nothing left to do); ReplayResult says what happened.
	ReplayedAt   *time.Time
	ReplayResult string
}

// QuarantineFilter narrows a listing of the quarantine.
type QuarantineFilter struct {
	Reason  string // only this reason ("": every reason)
	Pending bool   // only events not replayed yet
	Limit   int    // at most this many, newest first (0: 100)
}

// QuarantineStore is the quarantine table: what the receiver could not
// interpret, written once per event by the quarantine workflow and read
// and replayed by `payflow quarantine`.
type QuarantineStore interface {
	// InsertQuarantined stores the event unless its ID is stored already;
	// inserted says whether this call wrote it.
	InsertQuarantined(ctx context.Context, q QuarantinedEvent) (inserted bool, err error)
	// ListQuarantined lists events newest first, without their payloads.
	ListQuarantined(ctx context.Context, f QuarantineFilter) ([]QuarantinedEvent, error)
	// GetQuarantined returns one event with its payload, or ErrNotFound.
	GetQuarantined(ctx context.Context, eventID string) (QuarantinedEvent, error)
	// MarkQuarantineReplayed records a replay's result; it reports false
	// (and changes nothing) when the event was marked before.
	MarkQuarantineReplayed(ctx context.Context, eventID, result string, at time.Time) (bool, error)
}
