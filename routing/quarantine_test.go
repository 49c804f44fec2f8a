package routing_test

import (
	"bytes"
	"crypto/rand"
	"encoding/json"
	"errors"
	"testing"

	"github.com/payflow/payflow/routing"
)

func TestQuarantineID(t *testing.T) {
	if got := routing.QuarantineID("evt_1"); got != "quarantine/evt_1" {
		t.Errorf("QuarantineID = %q", got)
	}
}

// The payload travels in the workflow input under Temporal's 2 MiB payload
// limit, and comes back byte for byte.
func TestQuarantinePayloadRoundTrip(t *testing.T) {
	const temporalLimit = 2 << 20
	noise := make([]byte, routing.QuarantineInlineMax/2)
	rand.Read(noise)
	for _, tc := range []struct {
		name     string
		raw      []byte
		encoding string
	}{
		{"small", []byte("{\"id\":\"evt_1\",\n \"x\":\"\xff\"}"), ""},
		{"the default body limit", bytes.Repeat([]byte("a"), routing.QuarantineInlineMax), ""},
		{"above it", bytes.Repeat([]byte(`{"k":"v"},`), routing.QuarantineInlineMax), routing.PayloadGzip},
		{"above it, half incompressible", append(bytes.Repeat([]byte("a"), routing.QuarantineInlineMax), noise...), routing.PayloadGzip},
	} {
		t.Run(tc.name, func(t *testing.T) {
			data, enc, err := routing.PackQuarantinePayload(tc.raw)
			if err != nil || enc != tc.encoding {
				t.Fatalf("pack: %q, %v; want encoding %q", enc, err, tc.encoding)
			}
			if enc == "" && len(data) > 0 && &data[0] == &tc.raw[0] {
				t.Error("the receiver's buffer is reused after the request: want a copy")
			}
			in := routing.QuarantineInput{EventID: "evt_1", Type: "invoice.paid", Reason: "unknown_api_version", Payload: data, PayloadEncoding: enc}
			encoded, err := json.Marshal(in)
			if err != nil {
				t.Fatal(err)
			}
			if len(encoded) >= temporalLimit {
				t.Errorf("input is %d bytes as JSON, over Temporal's %d", len(encoded), temporalLimit)
			}
			var back routing.QuarantineInput
			if err := json.Unmarshal(encoded, &back); err != nil {
				t.Fatal(err)
			}
			raw, err := back.RawPayload()
			if err != nil || !bytes.Equal(raw, tc.raw) {
				t.Errorf("round trip changed the payload (err %v)", err)
			}
		})
	}
}

func TestQuarantinePayloadLimits(t *testing.T) {
	noise := make([]byte, routing.QuarantineMaxPacked+1)
	rand.Read(noise)
	if _, _, err := routing.PackQuarantinePayload(noise); !errors.Is(err, routing.ErrQuarantineTooLarge) {
		t.Errorf("incompressible body over the limit: %v, want ErrQuarantineTooLarge", err)
	}
	for _, in := range []routing.QuarantineInput{
		{EventID: "evt_1", Payload: []byte("not gzip"), PayloadEncoding: routing.PayloadGzip},
		{EventID: "evt_1", Payload: []byte("{}"), PayloadEncoding: "zstd"},
	} {
		if _, err := in.RawPayload(); err == nil {
			t.Errorf("%q payload %q: no error", in.PayloadEncoding, in.Payload)
		}
	}
}
