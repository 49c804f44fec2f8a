package config

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"

	"github.com/payflow/payflow/codec"
)

// MinCodecTokenLen is the shortest PAYFLOW_CODEC_AUTH_TOKEN accepted.
const MinCodecTokenLen = 16

// loadPayload reads the payload encryption variables. PAYFLOW_PAYLOAD_KEYS
// and PAYFLOW_CODEC_AUTH_TOKEN are keys: no message shows them.
func (c *Config) loadPayload(getenv func(string) string, get func(name, def string) string) []error {
	var errs []error
	bad := func(name, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", name, fmt.Sprintf(format, args...)))
	}
	ring, err := codec.ParseKeys(getenv("PAYFLOW_PAYLOAD_KEYS"))
	if err != nil {
		// One line per problem, each under the variable's name.
		for _, line := range strings.Split(err.Error(), "\n") {
			bad("PAYFLOW_PAYLOAD_KEYS", "%s", line)
		}
		ring, _ = codec.NewKeyring()
	}
	c.PayloadKeys = ring
	switch v := strings.ToLower(get("PAYFLOW_PAYLOAD_ENCRYPTION", "on")); v {
	case "on":
		c.PayloadEncryption = true
	case "off":
		c.PayloadEncryption = false
	default:
		c.PayloadEncryption = true
		bad("PAYFLOW_PAYLOAD_ENCRYPTION", "want on or off, got %q", v)
	}
	c.CodecAddr = get("PAYFLOW_CODEC_ADDR", "127.0.0.1:8234")
	if _, _, err := net.SplitHostPort(c.CodecAddr); err != nil {
		bad("PAYFLOW_CODEC_ADDR", "want host:port such as 127.0.0.1:8234 or :8234, got %q", c.CodecAddr)
	}
	for _, o := range strings.Split(get("PAYFLOW_CODEC_CORS_ORIGIN", ""), ",") {
		o = strings.TrimSpace(o)
		if o == "" {
			continue
		}
		if err := checkOrigin(o); err != nil {
			bad("PAYFLOW_CODEC_CORS_ORIGIN", "%v", err)
			continue
		}
		c.CodecCORSOrigins = append(c.CodecCORSOrigins, o)
	}
	c.CodecAuthToken = strings.TrimSpace(getenv("PAYFLOW_CODEC_AUTH_TOKEN"))
	if c.CodecAuthToken != "" && len(c.CodecAuthToken) < MinCodecTokenLen {
		bad("PAYFLOW_CODEC_AUTH_TOKEN", "too short: want at least %d characters (e.g. openssl rand -hex 32)", MinCodecTokenLen)
	}
	return errs
}

// checkOrigin accepts what a browser sends as Origin: scheme://host[:port],
// nothing after it (a trailing slash never matches).
func checkOrigin(o string) error {
	if o == "*" {
		return errors.New("* is not allowed: name the Web UI's origin (the endpoints decrypt customer data)")
	}
	u, err := url.Parse(o)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil ||
		u.Path != "" || u.RawQuery != "" || u.Fragment != "" || strings.HasSuffix(o, "?") || strings.HasSuffix(o, "#") {
		return fmt.Errorf("want an origin such as https://cloud.temporal.io or http://localhost:8233 (scheme://host[:port], no path, no trailing slash), got %q", o)
	}
	return nil
}

// RequirePayloadKeys is the rule of every process that writes payloads
// to Temporal in production (serve, worker, reconcile, quarantine replay):
// keys, or encryption turned off explicitly.
func (c Config) RequirePayloadKeys() error {
	if !c.PayloadEncryption || c.PayloadKeys.Len() > 0 {
		return nil
	}
	return errors.New("PAYFLOW_PAYLOAD_KEYS is not set: workflow payloads (customer emails, names, invoice URLs) would be stored in Temporal, and shown by its Web UI, in clear text.\n" +
		"  Set PAYFLOW_PAYLOAD_KEYS=<id>:<base64 32-byte key> (for example k1: followed by the output of `openssl rand -base64 32`),\n" +
		"  or set PAYFLOW_PAYLOAD_ENCRYPTION=off to run without payload encryption on purpose")
}

// payloadKeysString is PAYFLOW_PAYLOAD_KEYS as `payflow config` prints it:
// the key IDs, never the keys.
func (c Config) payloadKeysString() string {
	ids := c.PayloadKeys.IDs()
	if len(ids) == 0 {
		return ""
	}
	if c.PayloadEncryption {
		ids[0] += " (encrypts)"
	}
	return strings.Join(ids, ", ")
}

func onOff(b bool) string {
	if b {
		return "on"
	}
	return "off"
}
