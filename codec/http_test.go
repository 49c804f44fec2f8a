package codec_test

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	commonpb "go.temporal.io/api/common/v1"
	"go.temporal.io/sdk/converter"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/payflow/payflow/codec"
)

const uiOrigin = "http://localhost:8233"

func codecServer(t *testing.T, c *codec.Codec, token string) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(codec.NewHandler(c, codec.HandlerOptions{
		Namespace: "default", AllowedOrigins: []string{uiOrigin, "http://127.0.0.1:8233"}, AuthToken: token,
	}))
	t.Cleanup(srv.Close)
	return srv
}

type call struct {
	method, path string
	payloads     []*commonpb.Payload
	header       map[string]string
}

func (c call) do(t *testing.T, base string) (*http.Response, []byte) {
	t.Helper()
	var body io.Reader
	if c.payloads != nil {
		b, err := protojson.Marshal(&commonpb.Payloads{Payloads: c.payloads})
		if err != nil {
			t.Fatal(err)
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequest(c.method, base+c.path, body)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	for k, v := range c.header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	return resp, out
}

func decodePayloads(t *testing.T, b []byte) []*commonpb.Payload {
	t.Helper()
	var ps commonpb.Payloads
	if err := protojson.Unmarshal(b, &ps); err != nil {
		t.Fatalf("response %q: %v", b, err)
	}
	return ps.Payloads
}

// /decode and /encode over real HTTP, as the Web UI calls them (X-Namespace,
// Origin), and as the SDK's own remote codec does.
func TestHTTPDecodeEncode(t *testing.T) {
	c := newCodec(t, fixedKey(t, "k1", 1))
	srv := codecServer(t, c, "")
	plain, enc := seal(t, c, jenny)
	plainOther, _ := converter.GetDefaultDataConverter().ToPayload("already plaintext")

	resp, body := call{method: "POST", path: "/decode", payloads: []*commonpb.Payload{enc, plainOther},
		header: map[string]string{"X-Namespace": "default", "Origin": uiOrigin}}.do(t, srv.URL)
	if resp.StatusCode != 200 {
		t.Fatalf("decode: %d %s", resp.StatusCode, body)
	}
	if got := resp.Header.Get("Access-Control-Allow-Origin"); got != uiOrigin {
		t.Errorf("decode answer's Access-Control-Allow-Origin %q, want %q", got, uiOrigin)
	}
	dec := decodePayloads(t, body)
	if len(dec) != 2 || !proto.Equal(dec[0], plain) || !proto.Equal(dec[1], plainOther) {
		t.Fatalf("decoded %v", dec)
	}
	if !bytes.Contains(dec[0].Data, []byte(jenny.Email)) {
		t.Errorf("decoded answer lacks the email")
	}

	resp, body = call{method: "POST", path: "/encode", payloads: []*commonpb.Payload{plain}}.do(t, srv.URL)
	if resp.StatusCode != 200 {
		t.Fatalf("encode: %d %s", resp.StatusCode, body)
	}
	encoded := decodePayloads(t, body)
	if len(encoded) != 1 || string(encoded[0].Metadata[codec.MetadataKeyID]) != "k1" || containsPII(encoded[0].Data) {
		t.Fatalf("encoded %v", encoded)
	}
	if back, err := c.Decode(encoded); err != nil || !proto.Equal(back[0], plain) {
		t.Fatalf("what /encode returned does not decode: %v", err)
	}

	// Mounted under a prefix, read by the SDK's remote codec client.
	remote := converter.NewRemotePayloadCodec(converter.RemotePayloadCodecOptions{Endpoint: srv.URL + "/default"})
	if back, err := remote.Decode([]*commonpb.Payload{enc}); err != nil || !proto.Equal(back[0], plain) {
		t.Fatalf("remote codec decode: %v, %v", back, err)
	}

	// A payload of a key the server does not hold: 400 naming the key.
	_, foreign := seal(t, newCodec(t, fixedKey(t, "k9", 9)), jenny)
	resp, body = call{method: "POST", path: "/decode", payloads: []*commonpb.Payload{foreign}}.do(t, srv.URL)
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(body), `"k9"`) {
		t.Errorf("decode with an unknown key: %d %s", resp.StatusCode, body)
	}
}

func TestHTTPCORS(t *testing.T) {
	srv := codecServer(t, newCodec(t, fixedKey(t, "k1", 1)), "")
	preflight := map[string]string{"Origin": uiOrigin, "Access-Control-Request-Method": "POST",
		"Access-Control-Request-Headers": "content-type,x-namespace"}
	resp, body := call{method: "OPTIONS", path: "/decode", header: preflight}.do(t, srv.URL)
	if resp.StatusCode != http.StatusNoContent {
		t.Fatalf("preflight: %d %s", resp.StatusCode, body)
	}
	h := resp.Header
	if h.Get("Access-Control-Allow-Origin") != uiOrigin || h.Get("Access-Control-Allow-Credentials") != "true" ||
		!strings.Contains(h.Get("Access-Control-Allow-Methods"), "POST") {
		t.Errorf("preflight headers %v", h)
	}
	for _, want := range []string{"Content-Type", "X-Namespace", "Authorization"} {
		if !strings.Contains(h.Get("Access-Control-Allow-Headers"), want) {
			t.Errorf("Access-Control-Allow-Headers %q lacks %s", h.Get("Access-Control-Allow-Headers"), want)
		}
	}
	// Another origin: no CORS grant, preflight refused.
	preflight["Origin"] = "https://evil.example"
	resp, _ = call{method: "OPTIONS", path: "/decode", header: preflight}.do(t, srv.URL)
	if resp.StatusCode != http.StatusForbidden || resp.Header.Get("Access-Control-Allow-Origin") != "" {
		t.Errorf("preflight from another origin: %d %v", resp.StatusCode, resp.Header)
	}
	resp, _ = call{method: "POST", path: "/decode", payloads: []*commonpb.Payload{},
		header: map[string]string{"Origin": "https://evil.example"}}.do(t, srv.URL)
	if resp.Header.Get("Access-Control-Allow-Origin") != "" {
		t.Errorf("POST from another origin granted %q", resp.Header.Get("Access-Control-Allow-Origin"))
	}
}

func TestHTTPBearerToken(t *testing.T) {
	const token = "codec-token-0123456789abcdef"
	c := newCodec(t, fixedKey(t, "k1", 1))
	srv := codecServer(t, c, token)
	plain, enc := seal(t, c, jenny)
	for _, tc := range []struct {
		name, auth string
		want       int
	}{
		{"no header", "", http.StatusUnauthorized},
		{"wrong token", "Bearer nope", http.StatusUnauthorized},
		{"token without scheme", token, http.StatusUnauthorized},
		{"basic scheme", "Basic " + token, http.StatusUnauthorized},
		{"right token", "Bearer " + token, http.StatusOK},
		{"scheme in lower case", "bearer " + token, http.StatusOK},
	} {
		t.Run(tc.name, func(t *testing.T) {
			hd := map[string]string{"Origin": uiOrigin}
			if tc.auth != "" {
				hd["Authorization"] = tc.auth
			}
			resp, body := call{method: "POST", path: "/decode", payloads: []*commonpb.Payload{enc}, header: hd}.do(t, srv.URL)
			if resp.StatusCode != tc.want {
				t.Fatalf("%d %s, want %d", resp.StatusCode, body, tc.want)
			}
			if tc.want == http.StatusUnauthorized {
				if containsPII(body) || resp.Header.Get("WWW-Authenticate") == "" {
					t.Errorf("401 answer %q, headers %v", body, resp.Header)
				}
				// The browser still learns why (CORS headers on the 401).
				if resp.Header.Get("Access-Control-Allow-Origin") != uiOrigin {
					t.Errorf("401 without CORS headers: the UI cannot read it")
				}
				return
			}
			if dec := decodePayloads(t, body); !proto.Equal(dec[0], plain) {
				t.Errorf("decoded %v", dec)
			}
		})
	}
	// A preflight carries no credentials and is answered all the same.
	resp, _ := call{method: "OPTIONS", path: "/decode", header: map[string]string{"Origin": uiOrigin, "Access-Control-Request-Method": "POST"}}.do(t, srv.URL)
	if resp.StatusCode != http.StatusNoContent {
		t.Errorf("preflight with a token configured: %d", resp.StatusCode)
	}
	// The SDK's remote codec with the token (what temporal --codec-auth sends).
	remote := converter.NewRemotePayloadCodec(converter.RemotePayloadCodecOptions{Endpoint: srv.URL,
		ModifyRequest: func(r *http.Request) error { r.Header.Set("Authorization", "Bearer "+token); return nil }})
	if _, err := remote.Decode([]*commonpb.Payload{enc}); err != nil {
		t.Errorf("remote codec with the token: %v", err)
	}
	// Health without a token.
	if resp, err := http.Get(srv.URL + "/healthz"); err != nil || resp.StatusCode != 200 {
		t.Errorf("healthz: %v %v", resp, err)
	}
}

func TestHTTPRequestShape(t *testing.T) {
	srv := codecServer(t, newCodec(t, fixedKey(t, "k1", 1)), "")
	for _, tc := range []struct {
		c    call
		want int
	}{
		{call{method: "GET", path: "/decode"}, http.StatusMethodNotAllowed},
		{call{method: "POST", path: "/other", payloads: []*commonpb.Payload{}}, http.StatusNotFound},
		{call{method: "POST", path: "/decode", payloads: []*commonpb.Payload{}, header: map[string]string{"X-Namespace": "someone-else"}}, http.StatusNotFound},
		{call{method: "POST", path: "/decode", payloads: []*commonpb.Payload{}, header: map[string]string{"X-Namespace": "default"}}, http.StatusOK},
		{call{method: "POST", path: "/someone-else/decode", payloads: []*commonpb.Payload{}, header: map[string]string{"X-Namespace": "default"}}, http.StatusOK},
	} {
		resp, body := tc.c.do(t, srv.URL)
		if resp.StatusCode != tc.want {
			t.Errorf("%s %s %v: %d %s, want %d", tc.c.method, tc.c.path, tc.c.header, resp.StatusCode, body, tc.want)
		}
	}
	req, _ := http.NewRequest("POST", srv.URL+"/decode", strings.NewReader("{not json"))
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != http.StatusBadRequest {
		t.Errorf("malformed body: %v %v", resp, err)
	}
}
