package webhook_test

import (
	"bytes"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/payflow/payflow/fixtures"
	"github.com/payflow/payflow/webhook"
)

// fuzzNow pins the verifier's clock so the committed seeds stay inside the
// tolerance forever.
var fuzzNow = time.Unix(1764000000, 0)

// FuzzReceiver throws arbitrary headers and bodies at the receiver: it must
// never panic, always answer one of the documented statuses with a JSON
// body, and never deliver an event whose signature does not verify.
func FuzzReceiver(f *testing.F) {
	for _, typ := range []string{"payment_intent.succeeded", "invoice.payment_failed", "charge.dispute.created", "checkout.session.completed"} {
		body, err := fixtures.Build(typ, fixtures.Options{Created: fuzzNow})
		if err != nil {
			f.Fatal(err)
		}
		f.Add(fixtures.Sign(body, []string{secretOld}, fuzzNow), body)
	}
	f.Add("t=1764000000,v1=00", []byte(`{"id":"evt_1","type":"invoice.paid","data":{"object":{}}}`))
	f.Add("", []byte(`{}`))
	f.Add("t=,v1=,v0=", []byte(`[`))
	f.Fuzz(func(t *testing.T, header string, body []byte) {
		h := &recorder{}
		s := &webhook.Server{
			Verifier: &webhook.Verifier{Secrets: []string{secretOld, secretNew}, Now: func() time.Time { return fuzzNow }},
			Handoff:  h, BodyLimit: 1 << 20, Log: slog.New(slog.NewTextHandler(io.Discard, nil)),
		}
		req := httptest.NewRequest(http.MethodPost, webhook.Path, bytes.NewReader(body))
		if header != "" {
			req.Header.Set("Stripe-Signature", header)
		}
		resp, err := s.App().Test(req, -1)
		if err != nil {
			return // the in-memory transport refuses some header bytes
		}
		defer resp.Body.Close()
		raw, _ := io.ReadAll(resp.Body)
		if !json.Valid(raw) {
			t.Fatalf("status %d with non-JSON body %q", resp.StatusCode, raw)
		}
		switch resp.StatusCode {
		case 200:
			if err := s.Verifier.Verify(body, header); err != nil {
				t.Fatalf("200 for a payload that does not verify: %v", err)
			}
		case 400, 413:
			if len(h.delivered) != 0 {
				t.Fatal("rejected request was delivered")
			}
		default:
			t.Fatalf("unexpected status %d", resp.StatusCode)
		}
	})
}
