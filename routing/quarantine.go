package routing

import (
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
)

// QuarantineInput starts quarantine/<evt>: a verified, well-formed Stripe
// event payflow cannot interpret (webhook.Uninterpretable: an API version
// family it does not know, a handled type without the fields routing
// needs, …). The receiver hands it over instead of answering a silent 200,
// and the run keeps it in the quarantine table, counts it and alerts the
// operator; `payflow quarantine replay` decodes it again later.
//
// Payload is the raw verified body, byte for byte: after the receiver
// answers 200, Stripe stops retrying and this is the only copy. It travels
// inside the workflow input (base64 in Temporal's JSON encoding, 4/3 of
// its size) and must stay under Temporal's 2 MiB payload limit:
// PackQuarantinePayload keeps it raw up to QuarantineInlineMax and
// gzip-compresses a larger one (PayloadEncoding "gzip").
type QuarantineInput struct {
	EventID    string `json:"event_id"`
	Type       string `json:"type"`
	APIVersion string `json:"api_version,omitempty"`
	Livemode   bool   `json:"livemode,omitempty"`
	Account    string `json:"account,omitempty"` // Connect: the connected account, "" for the platform
	// Reason is short and stable (metrics label, table column); Detail says
	// what exactly was missing or unexpected.
	Reason string `json:"reason"`
	Detail string `json:"detail,omitempty"`
	// ReceivedAt is when the receiver (or reconcile) got the event, on its
	// own clock: the workflow never reads one.
	ReceivedAt      time.Time `json:"received_at"`
	Payload         []byte    `json:"payload"`
	PayloadEncoding string    `json:"payload_encoding,omitempty"` // "" (raw) or "gzip"
}

// QuarantineReuse lets a redelivered event start a new quarantine run only
// when the earlier one failed: a run that completed (or is running) has the
// event, and the redelivery is answered as a duplicate.
const QuarantineReuse = enumspb.WORKFLOW_ID_REUSE_POLICY_ALLOW_DUPLICATE_FAILED_ONLY

// QuarantineInlineMax is the largest payload carried as it is: 1 MiB, the
// receiver's default body limit (WEBHOOK_MAX_BODY), is 1.33 MiB once
// base64-encoded, under Temporal's 2 MiB limit with room for the rest.
const QuarantineInlineMax = 1 << 20

// QuarantineMaxPacked bounds a compressed payload the same way; a body
// above it even compressed cannot be kept in Temporal
// (ErrQuarantineTooLarge). Only a WEBHOOK_MAX_BODY raised far above the
// default and an incompressible body get there; Stripe's events are a few
// kilobytes.
const QuarantineMaxPacked = 1<<20 + 1<<18

// PayloadGzip is QuarantineInput.PayloadEncoding for a compressed payload.
const PayloadGzip = "gzip"

// ErrQuarantineTooLarge: the payload cannot travel in a workflow input.
var ErrQuarantineTooLarge = errors.New("payload too large to quarantine")

// PackQuarantinePayload returns the payload as the input carries it: a
// copy of raw (the receiver's buffer is reused after the request), or,
// above QuarantineInlineMax, its gzip compression.
func PackQuarantinePayload(raw []byte) (data []byte, encoding string, err error) {
	if len(raw) <= QuarantineInlineMax {
		return bytes.Clone(raw), "", nil
	}
	var b bytes.Buffer
	zw := gzip.NewWriter(&b)
	if _, err := zw.Write(raw); err != nil {
		return nil, "", err
	}
	if err := zw.Close(); err != nil {
		return nil, "", err
	}
	if b.Len() > QuarantineMaxPacked {
		return nil, "", fmt.Errorf("%w: %d bytes, %d compressed (at most %d)", ErrQuarantineTooLarge, len(raw), b.Len(), QuarantineMaxPacked)
	}
	return b.Bytes(), PayloadGzip, nil
}

// RawPayload returns the payload exactly as Stripe sent it.
func (in QuarantineInput) RawPayload() ([]byte, error) {
	switch in.PayloadEncoding {
	case "":
		return in.Payload, nil
	case PayloadGzip:
		zr, err := gzip.NewReader(bytes.NewReader(in.Payload))
		if err != nil {
			return nil, fmt.Errorf("quarantined payload of %s: %w", in.EventID, err)
		}
		defer zr.Close()
		raw, err := io.ReadAll(zr)
		if err != nil {
			return nil, fmt.Errorf("quarantined payload of %s: %w", in.EventID, err)
		}
		return raw, nil
	}
	return nil, fmt.Errorf("quarantined payload of %s: unknown encoding %q", in.EventID, in.PayloadEncoding)
}
