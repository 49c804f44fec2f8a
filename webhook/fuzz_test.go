package webhook_test

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/payflow/payflow/fixtures"
	"github.com/payflow/payflow/webhook"
)

// fuzzNow pins the verifier's clock so the committed seeds stay inside the
// tolerance forever.
var fuzzNow = time.Unix(1764000000, 0)

// signedFresh is a deliberately naive reading of Stripe's scheme, written
// apart from the receiver's parser: the timestamp is the value of the one
// pair whose key is exactly "t" (none or several: not signed), it lies
// within 5 minutes before and 30 s after now, and some pair whose key is
// exactly "v1" holds the hex HMAC of "<t>.<payload>" under one of the
// secrets. Whatever the receiver accepts must pass it; it is what makes a
// replay seed (an old delivery with a fresh t appended) fail.
func signedFresh(payload []byte, header string, secrets []string, now time.Time) bool {
	var ts []string
	var sigs []string
	for _, pair := range strings.Split(header, ",") {
		k, v, _ := strings.Cut(pair, "=")
		switch k {
		case "t":
			ts = append(ts, v)
		case "v1":
			sigs = append(sigs, v)
		}
	}
	if len(ts) != 1 {
		return false
	}
	n, err := strconv.ParseInt(ts[0], 10, 64)
	if err != nil {
		return false
	}
	if age := now.Sub(time.Unix(n, 0)); age > 5*time.Minute || age < -30*time.Second {
		return false
	}
	for _, secret := range secrets {
		mac := hmac.New(sha256.New, []byte(secret))
		mac.Write([]byte(ts[0] + "."))
		mac.Write(payload)
		want := hex.EncodeToString(mac.Sum(nil))
		for _, sig := range sigs {
			if strings.EqualFold(sig, want) {
				return true
			}
		}
	}
	return false
}

// FuzzReceiver throws arbitrary headers and bodies at the receiver: it must
// never panic, always answer one of the documented statuses with a JSON
// body, and never deliver an event that is not signed, with a fresh
// timestamp, by a configured secret (signedFresh). The seed corpus in
// testdata/fuzz/FuzzReceiver holds the header attacks (a
// captured delivery with ", t=<now>" appended, with a tab, several t,
// whitespace around keys, duplicated and empty v1, v0 only, unknown
// schemes, a very long header, bad timestamps).
func FuzzReceiver(f *testing.F) {
	for _, typ := range []string{"payment_intent.succeeded", "invoice.payment_failed", "charge.dispute.created", "checkout.session.completed"} {
		body, err := fixtures.Build(typ, fixtures.Options{Created: fuzzNow})
		if err != nil {
			f.Fatal(err)
		}
		f.Add(fixtures.Sign(body, []string{secretOld}, fuzzNow), body)
	}
	// Events of the basil family (basil and dahlia shapes), a subscription
	// invoice without its link and an unknown API version (version_test.go).
	for _, body := range versionSeeds(f) {
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
		secrets := s.Verifier.Secrets
		if s.Verifier.Verify(body, header) == nil && !signedFresh(body, header, secrets, fuzzNow) {
			t.Fatalf("Verify accepts a header that is not a fresh signature: %q", header)
		}
		switch resp.StatusCode {
		case 200:
			if err := s.Verifier.Verify(body, header); err != nil {
				t.Fatalf("200 for a payload that does not verify: %v", err)
			}
			if !signedFresh(body, header, secrets, fuzzNow) {
				t.Fatalf("200 for a header that is not a fresh signature: %q", header)
			}
		case 400, 413, 415:
			if len(h.delivered) != 0 {
				t.Fatal("rejected request was delivered")
			}
		default:
			t.Fatalf("unexpected status %d", resp.StatusCode)
		}
	})
}
