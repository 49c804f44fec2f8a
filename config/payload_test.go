package config

import (
	"bytes"
	"encoding/base64"
	"regexp"
	"strings"
	"testing"
)

var (
	payloadKey1 = base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{0x11}, 32))
	payloadKey2 = base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{0x22}, 32))
)

func TestPayloadEncryptionDefaults(t *testing.T) {
	c, err := Load(env(nil))
	if err != nil {
		t.Fatal(err)
	}
	if !c.PayloadEncryption || c.PayloadKeys.Len() != 0 || c.CodecAddr != "127.0.0.1:8234" || len(c.CodecCORSOrigins) != 0 || c.CodecAuthToken != "" {
		t.Fatalf("defaults: encryption %v keys %v codec %q %v %q", c.PayloadEncryption, c.PayloadKeys, c.CodecAddr, c.CodecCORSOrigins, c.CodecAuthToken)
	}
	// serve and worker refuse this, naming both ways out.
	err = c.RequirePayloadKeys()
	if err == nil || !strings.Contains(err.Error(), "PAYFLOW_PAYLOAD_KEYS is not set") || !strings.Contains(err.Error(), "PAYFLOW_PAYLOAD_ENCRYPTION=off") {
		t.Fatalf("RequirePayloadKeys without keys: %v", err)
	}
	off, err := Load(env(map[string]string{"PAYFLOW_PAYLOAD_ENCRYPTION": "off"}))
	if err != nil || off.PayloadEncryption || off.RequirePayloadKeys() != nil {
		t.Fatalf("PAYFLOW_PAYLOAD_ENCRYPTION=off: %v, %v", off.PayloadEncryption, err)
	}
}

func TestPayloadKeysShownByIDOnly(t *testing.T) {
	c, err := Load(env(map[string]string{
		"PAYFLOW_PAYLOAD_KEYS":      "k2:" + payloadKey2 + ", k1:" + payloadKey1,
		"PAYFLOW_CODEC_CORS_ORIGIN": "https://cloud.temporal.io, http://localhost:8233",
		"PAYFLOW_CODEC_AUTH_TOKEN":  "codec-token-0123456789",
		"PAYFLOW_CODEC_ADDR":        ":8234",
	}))
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(c.PayloadKeys.IDs(), ","); got != "k2,k1" || c.RequirePayloadKeys() != nil {
		t.Fatalf("keys %q", got)
	}
	if strings.Join(c.CodecCORSOrigins, " ") != "https://cloud.temporal.io http://localhost:8233" || c.CodecAddr != ":8234" {
		t.Fatalf("codec: %v %q", c.CodecCORSOrigins, c.CodecAddr)
	}
	var b bytes.Buffer
	c.Print(&b)
	out := b.String()
	for _, want := range []string{`(?m)^PAYFLOW_PAYLOAD_KEYS\s+k2 \(encrypts\), k1$`, `(?m)^PAYFLOW_PAYLOAD_ENCRYPTION\s+on$`,
		`(?m)^PAYFLOW_CODEC_AUTH_TOKEN\s+\(set\)$`, `(?m)^PAYFLOW_CODEC_CORS_ORIGIN\s+https://cloud.temporal.io,http://localhost:8233$`} {
		if !regexp.MustCompile(want).MatchString(out) {
			t.Errorf("payflow config lacks %s:\n%s", want, out)
		}
	}
	for _, secret := range []string{payloadKey1, payloadKey2, payloadKey1[:12], "codec-token-0123456789"} {
		if strings.Contains(out, secret) {
			t.Errorf("payflow config shows a secret (%s…):\n%s", secret[:6], out)
		}
	}
	c.PayloadEncryption = false
	b.Reset()
	c.Print(&b)
	if !regexp.MustCompile(`(?m)^PAYFLOW_PAYLOAD_KEYS\s+k2, k1$`).MatchString(b.String()) {
		t.Errorf("decode-only keys printed as:\n%s", b.String())
	}
}

func TestPayloadConfigErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		kv   map[string]string
		want string
	}{
		{"short key", map[string]string{"PAYFLOW_PAYLOAD_KEYS": "k1:" + base64.StdEncoding.EncodeToString(make([]byte, 16))}, `PAYFLOW_PAYLOAD_KEYS: key "k1": want 32 bytes`},
		{"no id", map[string]string{"PAYFLOW_PAYLOAD_KEYS": payloadKey1}, "PAYFLOW_PAYLOAD_KEYS: entry 1: want id:base64key"},
		{"twice", map[string]string{"PAYFLOW_PAYLOAD_KEYS": "k1:" + payloadKey1 + ",k1:" + payloadKey2}, `PAYFLOW_PAYLOAD_KEYS: key ID "k1" is listed twice`},
		{"not base64", map[string]string{"PAYFLOW_PAYLOAD_KEYS": "k1:" + payloadKey1 + "!!"}, `PAYFLOW_PAYLOAD_KEYS: key "k1": not base64`},
		{"encryption value", map[string]string{"PAYFLOW_PAYLOAD_ENCRYPTION": "false"}, `PAYFLOW_PAYLOAD_ENCRYPTION: want on or off, got "false"`},
		{"origin with path", map[string]string{"PAYFLOW_CODEC_CORS_ORIGIN": "http://localhost:8233/"}, "PAYFLOW_CODEC_CORS_ORIGIN: want an origin"},
		{"origin star", map[string]string{"PAYFLOW_CODEC_CORS_ORIGIN": "*"}, "PAYFLOW_CODEC_CORS_ORIGIN: * is not allowed"},
		{"origin without scheme", map[string]string{"PAYFLOW_CODEC_CORS_ORIGIN": "cloud.temporal.io"}, "PAYFLOW_CODEC_CORS_ORIGIN: want an origin"},
		{"short token", map[string]string{"PAYFLOW_CODEC_AUTH_TOKEN": "abc"}, "PAYFLOW_CODEC_AUTH_TOKEN: too short"},
		{"codec address", map[string]string{"PAYFLOW_CODEC_ADDR": "8234"}, "PAYFLOW_CODEC_ADDR: want host:port"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Load(env(tc.kv))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want %q", err, tc.want)
			}
			for _, secret := range []string{payloadKey1, payloadKey2, "abc"} {
				if strings.Contains(err.Error(), secret) && tc.name != "origin without scheme" {
					t.Errorf("error shows a secret: %v", err)
				}
			}
		})
	}
}
