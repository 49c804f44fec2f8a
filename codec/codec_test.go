package codec_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"testing"

	commonpb "go.temporal.io/api/common/v1"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"
	"google.golang.org/protobuf/proto"

	"github.com/payflow/payflow/codec"
)

// customer is the kind of value payflow hands Temporal.
type customer struct {
	ID, Email, Name, HostedInvoiceURL string
}

var jenny = customer{ID: "cus_1", Email: "jenny.rosen@example.com", Name: "Jenny Rosen", HostedInvoiceURL: "https://invoice.stripe.com/i/acct_1/test_abc"}

func fixedKey(t *testing.T, id string, fill byte) codec.Key {
	t.Helper()
	k, err := codec.NewKey(id, bytes.Repeat([]byte{fill}, codec.KeySize))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func ring(t *testing.T, keys ...codec.Key) *codec.Keyring {
	t.Helper()
	r, err := codec.NewKeyring(keys...)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func newCodec(t *testing.T, keys ...codec.Key) *codec.Codec {
	t.Helper()
	c, err := codec.New(ring(t, keys...))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// seal converts v with the default converter, then encodes it with c.
func seal(t *testing.T, c converter.PayloadCodec, v any) (*commonpb.Payload, *commonpb.Payload) {
	t.Helper()
	plain, err := converter.GetDefaultDataConverter().ToPayload(v)
	if err != nil {
		t.Fatal(err)
	}
	enc, err := c.Encode([]*commonpb.Payload{plain})
	if err != nil {
		t.Fatal(err)
	}
	return plain, enc[0]
}

func containsPII(b []byte) bool {
	for _, s := range []string{jenny.Email, jenny.Name, jenny.HostedInvoiceURL} {
		if bytes.Contains(b, []byte(s)) {
			return true
		}
	}
	return false
}

func TestRoundTrip(t *testing.T) {
	c := newCodec(t, fixedKey(t, "k1", 1))
	plain, enc := seal(t, c, jenny)
	if got := string(enc.Metadata[converter.MetadataEncoding]); got != codec.EncodingEncrypted {
		t.Errorf("encoding %q, want %q", got, codec.EncodingEncrypted)
	}
	if got := string(enc.Metadata[codec.MetadataKeyID]); got != "k1" {
		t.Errorf("key ID %q, want k1", got)
	}
	raw, _ := proto.Marshal(enc)
	if containsPII(raw) {
		t.Fatalf("encrypted payload still shows the customer: %q", raw)
	}
	dec, err := c.Decode([]*commonpb.Payload{enc})
	if err != nil {
		t.Fatal(err)
	}
	if !proto.Equal(dec[0], plain) {
		t.Fatalf("decoded %v, want %v", dec[0], plain)
	}
	// Through the data converter every payflow client uses.
	dc, _ := codec.Converters(c)
	p, err := dc.ToPayload(jenny)
	if err != nil {
		t.Fatal(err)
	}
	if string(p.Metadata[converter.MetadataEncoding]) != codec.EncodingEncrypted || containsPII(p.Data) {
		t.Fatalf("data converter wrote %v", p)
	}
	var back customer
	if err := dc.FromPayload(p, &back); err != nil || back != jenny {
		t.Fatalf("data converter read %+v, %v", back, err)
	}
	// A fresh nonce every time: equal inputs do not give equal outputs.
	_, again := seal(t, c, jenny)
	if bytes.Equal(again.Data, enc.Data) {
		t.Error("two encryptions of the same payload are identical (nonce reused)")
	}
}

func TestTamperDetected(t *testing.T) {
	c := newCodec(t, fixedKey(t, "k1", 1), fixedKey(t, "k0", 2))
	_, enc := seal(t, c, jenny)
	for name, alter := range map[string]func(p *commonpb.Payload){
		"flipped ciphertext byte": func(p *commonpb.Payload) { p.Data[len(p.Data)/2] ^= 0x01 },
		"flipped nonce byte":      func(p *commonpb.Payload) { p.Data[0] ^= 0x80 },
		"flipped tag byte":        func(p *commonpb.Payload) { p.Data[len(p.Data)-1] ^= 0x01 },
		"truncated":               func(p *commonpb.Payload) { p.Data = p.Data[:20] },
		"empty":                   func(p *commonpb.Payload) { p.Data = nil },
		"other key's ID":          func(p *commonpb.Payload) { p.Metadata[codec.MetadataKeyID] = []byte("k0") },
	} {
		t.Run(name, func(t *testing.T) {
			p := proto.Clone(enc).(*commonpb.Payload)
			alter(p)
			_, err := c.Decode([]*commonpb.Payload{p})
			if !errors.Is(err, codec.ErrTampered) {
				t.Fatalf("decode of a tampered payload: %v, want ErrTampered", err)
			}
			var taskFailure *converter.WorkflowTaskFailureError
			if !errors.As(err, &taskFailure) {
				t.Errorf("%v does not ask for a workflow task failure (the workflow itself would fail)", err)
			}
		})
	}
	t.Run("no key ID", func(t *testing.T) {
		p := proto.Clone(enc).(*commonpb.Payload)
		delete(p.Metadata, codec.MetadataKeyID)
		if _, err := c.Decode([]*commonpb.Payload{p}); err == nil || !strings.Contains(err.Error(), codec.MetadataKeyID) {
			t.Fatalf("decode without key ID: %v", err)
		}
	})
}

// A history written with k1 is read after PAYFLOW_PAYLOAD_KEYS=k2,k1; new
// payloads use k2; dropping k1 too early fails naming k1.
func TestRotation(t *testing.T) {
	k1, k2 := fixedKey(t, "k1", 1), fixedKey(t, "k2", 2)
	before, err := codec.ParseKeys(k1.Export())
	if err != nil {
		t.Fatal(err)
	}
	old, err := codec.New(before)
	if err != nil {
		t.Fatal(err)
	}
	plain, written := seal(t, old, jenny)

	after, err := codec.ParseKeys(k2.Export() + "," + k1.Export())
	if err != nil {
		t.Fatal(err)
	}
	if ids := fmt.Sprint(after.IDs()); ids != "[k2 k1]" {
		t.Fatalf("IDs %s, want [k2 k1]", ids)
	}
	rotated, err := codec.New(after)
	if err != nil {
		t.Fatal(err)
	}
	dec, err := rotated.Decode([]*commonpb.Payload{written})
	if err != nil || !proto.Equal(dec[0], plain) {
		t.Fatalf("k1 payload after rotation: %v, %v", dec, err)
	}
	_, fresh := seal(t, rotated, jenny)
	if id := string(fresh.Metadata[codec.MetadataKeyID]); id != "k2" {
		t.Errorf("after rotation new payloads use %q, want k2", id)
	}
	// The old process (k1 only) cannot read k2: every process gets the
	// new key before it becomes the newest (README: rotation).
	if _, err := old.Decode([]*commonpb.Payload{fresh}); err == nil || !strings.Contains(err.Error(), `"k2"`) {
		t.Errorf("k1-only codec reading a k2 payload: %v", err)
	}

	onlyNew := newCodec(t, k2)
	_, err = onlyNew.Decode([]*commonpb.Payload{written})
	var unknown *codec.UnknownKeyError
	if !errors.As(err, &unknown) || unknown.KeyID != "k1" {
		t.Fatalf("k1 payload with k1 dropped: %v, want UnknownKeyError for k1", err)
	}
}

func TestUnknownKeyID(t *testing.T) {
	_, enc := seal(t, newCodec(t, fixedKey(t, "retired-2024", 9)), jenny)
	for name, c := range map[string]*codec.Codec{
		"other keys":  newCodec(t, fixedKey(t, "k3", 3), fixedKey(t, "k2", 2)),
		"no keys set": mustDecodeOnly(t, nil),
	} {
		t.Run(name, func(t *testing.T) {
			_, err := c.Decode([]*commonpb.Payload{enc})
			if err == nil {
				t.Fatal("decoded with an unknown key")
			}
			if !strings.Contains(err.Error(), `key ID "retired-2024"`) || !strings.Contains(err.Error(), "PAYFLOW_PAYLOAD_KEYS") {
				t.Errorf("error %q does not name the key ID and the variable", err)
			}
			var unknown *codec.UnknownKeyError
			var taskFailure *converter.WorkflowTaskFailureError
			if !errors.As(err, &unknown) || !errors.As(err, &taskFailure) {
				t.Errorf("error %v: want an UnknownKeyError inside a WorkflowTaskFailureError", err)
			}
			// Through the data converter too: the error reaches the caller.
			dc, _ := codec.Converters(c)
			var v customer
			if err := dc.FromPayload(enc, &v); err == nil || !strings.Contains(err.Error(), "retired-2024") {
				t.Errorf("data converter: %v", err)
			}
		})
	}
}

func mustDecodeOnly(t *testing.T, r *codec.Keyring) *codec.Codec {
	t.Helper()
	c, err := codec.DecodeOnly(r)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// Histories written before encryption was turned on decode as they are.
func TestPlaintextPassesThrough(t *testing.T) {
	c := newCodec(t, fixedKey(t, "k1", 1))
	plainDC := converter.GetDefaultDataConverter()
	var payloads []*commonpb.Payload
	for _, v := range []any{jenny, "a string", 42, nil, []byte("raw bytes")} {
		p, err := plainDC.ToPayload(v)
		if err != nil {
			t.Fatal(err)
		}
		payloads = append(payloads, p)
	}
	payloads = append(payloads, &commonpb.Payload{Metadata: map[string][]byte{converter.MetadataEncoding: []byte("binary/zlib")}, Data: []byte{1, 2}}, nil)
	dec, err := c.Decode(payloads)
	if err != nil {
		t.Fatal(err)
	}
	for i := range payloads {
		if !proto.Equal(dec[i], payloads[i]) {
			t.Errorf("payload %d changed: %v → %v", i, payloads[i], dec[i])
		}
	}
	dc, _ := codec.Converters(c)
	var back customer
	if err := dc.FromPayload(payloads[0], &back); err != nil || back != jenny {
		t.Fatalf("plaintext through the codec data converter: %+v, %v", back, err)
	}
}

// PAYFLOW_PAYLOAD_ENCRYPTION=off with keys: nothing new is encrypted,
// what was encrypted is still read.
func TestDecodeOnly(t *testing.T) {
	k1 := fixedKey(t, "k1", 1)
	_, enc := seal(t, newCodec(t, k1), jenny)
	off := mustDecodeOnly(t, ring(t, k1))
	plain, out := seal(t, off, jenny)
	if !proto.Equal(plain, out) {
		t.Errorf("decode-only codec changed a payload it writes: %v", out)
	}
	if dec, err := off.Decode([]*commonpb.Payload{enc}); err != nil || !proto.Equal(dec[0], plain) {
		t.Errorf("decode-only codec reading k1: %v, %v", dec, err)
	}
	if _, err := codec.New(ring(t)); err == nil {
		t.Error("New with no key: want an error")
	}
}

// Error messages may quote an address: with encryption on they travel in
// the failure's encoded attributes, encrypted.
func TestFailureMessagesEncrypted(t *testing.T) {
	c := newCodec(t, fixedKey(t, "k1", 1))
	dc, fc := codec.Converters(c)
	f := fc.ErrorToFailure(temporal.NewApplicationError("SendGrid refused "+jenny.Email, "EmailRefused"))
	raw, _ := proto.Marshal(f)
	if containsPII(raw) {
		t.Fatalf("failure shows the address: %v", f)
	}
	if f.GetEncodedAttributes() == nil || string(f.GetEncodedAttributes().Metadata[converter.MetadataEncoding]) != codec.EncodingEncrypted {
		t.Fatalf("failure attributes not encrypted: %v", f)
	}
	if got := f.GetApplicationFailureInfo().GetType(); got != "EmailRefused" {
		t.Errorf("error type %q lost", got)
	}
	err := fc.FailureToError(f)
	if !strings.Contains(err.Error(), "SendGrid refused "+jenny.Email) {
		t.Errorf("decoded failure %q lost its message", err)
	}
	_ = dc

	// Encryption off: failures as Temporal writes them by default.
	_, plainFC := codec.Converters(mustDecodeOnly(t, nil))
	if f := plainFC.ErrorToFailure(errors.New("boom")); f.GetMessage() != "boom" || f.GetEncodedAttributes() != nil {
		t.Errorf("decode-only failure converter encoded %v", f)
	}
}

func TestParseKeys(t *testing.T) {
	b64 := func(n int, fill byte) string { return base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{fill}, n)) }
	good, short := b64(32, 7), b64(16, 7)
	for _, tc := range []struct {
		in, wantErr string
		ids         string
	}{
		{in: "", ids: "[]"},
		{in: "k1:" + good, ids: "[k1]"},
		{in: " k2:" + good + " , k1:" + b64(32, 8) + " ", ids: "[k2 k1]"},
		{in: "url:" + base64.RawURLEncoding.EncodeToString(bytes.Repeat([]byte{0xfb}, 32)), ids: "[url]"},
		{in: good, wantErr: "entry 1: want id:base64key"},
		{in: "k1:", wantErr: "entry 1: want id:base64key"},
		{in: ":" + good, wantErr: "empty key ID"},
		{in: "k 1:" + good, wantErr: `key ID "k 1"`},
		{in: "k1:not*base64", wantErr: `key "k1": not base64`},
		{in: "k1:" + short, wantErr: `key "k1": want 32 bytes (AES-256) base64-encoded, got 16 bytes`},
		{in: "k1:" + good + ",k1:" + b64(32, 9), wantErr: `key ID "k1" is listed twice`},
		{in: "k1:" + good + ",,k2:" + good, wantErr: "entry 2 is empty"},
	} {
		t.Run(tc.in, func(t *testing.T) {
			r, err := codec.ParseKeys(tc.in)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want %q", err, tc.wantErr)
				}
				for _, secret := range []string{good, short} {
					if strings.Contains(err.Error(), secret) {
						t.Errorf("error %q shows key material", err)
					}
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := fmt.Sprint(r.IDs()); got != tc.ids {
				t.Errorf("IDs %s, want %s", got, tc.ids)
			}
		})
	}
}

// A key or keyring printed any way shows IDs only; Export round-trips.
func TestKeysNeverPrinted(t *testing.T) {
	k, err := codec.GenerateKey("dev-1")
	if err != nil {
		t.Fatal(err)
	}
	r := ring(t, k, fixedKey(t, "k0", 0x41))
	secret := strings.TrimPrefix(k.Export(), "dev-1:")
	for _, s := range []string{fmt.Sprint(k), fmt.Sprintf("%+v", k), fmt.Sprintf("%#v", k), fmt.Sprint(r), fmt.Sprintf("%+v", r), fmt.Sprintf("%#v", r),
		fmt.Sprintf("%v", struct{ Keys *codec.Keyring }{r}), fmt.Sprintf("%+v", struct{ Key codec.Key }{k})} {
		if strings.Contains(s, secret) || strings.Contains(s, "AAAA") || strings.Contains(s, "65 65 65") || strings.Contains(s, "QUFB") {
			t.Errorf("printed %q shows key material", s)
		}
		if !strings.Contains(s, "dev-1") {
			t.Errorf("printed %q hides the key ID", s)
		}
	}
	back, err := codec.ParseKeys(r.Export())
	if err != nil || fmt.Sprint(back.IDs()) != "[dev-1 k0]" {
		t.Fatalf("Export round trip: %v, %v", back, err)
	}
	c1, c2 := newCodec(t, k), mustDecodeOnly(t, back)
	_, enc := seal(t, c1, jenny)
	if _, err := c2.Decode([]*commonpb.Payload{enc}); err != nil {
		t.Fatalf("exported key does not decrypt: %v", err)
	}
}

// In workflow code a payload that does not decode panics (the task fails
// and is retried) rather than erroring: the SDK drops a signal it cannot
// decode. Everywhere else it is an error.
func TestStrictInWorkflowCode(t *testing.T) {
	c := newCodec(t, fixedKey(t, "k1", 1))
	_, foreign := seal(t, newCodec(t, fixedKey(t, "k9", 9)), jenny)
	_, own := seal(t, c, jenny)
	dc, _ := codec.Converters(c)
	aware, ok := dc.(converter.ContextAware)
	if !ok {
		t.Fatal("the data converter is not context aware: workflow code would get errors")
	}
	var v customer
	if err := aware.WithContext(context.Background()).FromPayload(foreign, &v); err == nil {
		t.Error("activity context decoded a k9 payload")
	}
	inWorkflow := aware.WithWorkflowContext(nil)
	if err := inWorkflow.FromPayload(own, &v); err != nil || v != jenny {
		t.Fatalf("workflow code reading its own key: %v %+v", err, v)
	}
	func() {
		defer func() {
			r := recover()
			err, _ := r.(error)
			var unknown *codec.UnknownKeyError
			if !errors.As(err, &unknown) || unknown.KeyID != "k9" {
				t.Errorf("workflow code with an unknown key: recovered %v, want a panic with UnknownKeyError", r)
			}
		}()
		_ = inWorkflow.FromPayloads(&commonpb.Payloads{Payloads: []*commonpb.Payload{foreign}}, &v)
	}()
	if p, ok := dc.(converter.PayloadCodecProvider); !ok || p.Codec() == nil {
		t.Error("the data converter hides its codec stage")
	}
}
