// Package webhook is payflow's receiver: it verifies Stripe's signature,
// decodes only what routing needs, and hands each event to Temporal before
// answering 2xx.
package webhook

import (
	"errors"
	"strconv"
	"strings"
	"time"

	stripewebhook "github.com/stripe/stripe-go/v76/webhook"
)

// Verification errors. Each is a 400 at the HTTP layer.
var (
	ErrNoSignature = errors.New("missing Stripe-Signature header")
	ErrBadHeader   = errors.New("malformed Stripe-Signature header")
	ErrNoMatch     = errors.New("signature matches no configured webhook secret")
	ErrTooOld      = errors.New("timestamp outside the tolerance (too old)")
	ErrInFuture    = errors.New("timestamp outside the tolerance (in the future)")
	ErrNoSecrets   = errors.New("no webhook secret configured")
)

// DefaultTolerance is Stripe's own: 5 minutes.
const DefaultTolerance = 5 * time.Minute

// DefaultFutureSkew is how far ahead of our clock a timestamp may be. Stripe
// signs at send time, so a timestamp from the future can only come from clock
// skew; 30 s allows ordinary NTP drift and refuses a replay window opened by
// a forged future timestamp (stripe-go checks only the past).
const DefaultFutureSkew = 30 * time.Second

// Verifier checks Stripe-Signature headers against one or more secrets.
type Verifier struct {
	Secrets    []string
	Tolerance  time.Duration
	FutureSkew time.Duration
	Now        func() time.Time
}

// Verify returns nil when payload is signed by any configured secret with a
// timestamp inside the tolerance in both directions. The HMAC comparison is
// stripe-go's (constant time, every v1 signature in the header considered,
// v0 and unknown schemes ignored).
func (v *Verifier) Verify(payload []byte, header string) error {
	if len(v.Secrets) == 0 {
		return ErrNoSecrets
	}
	if header == "" {
		return ErrNoSignature
	}
	ts, err := headerTimestamp(header)
	if err != nil {
		return err
	}
	now := time.Now()
	if v.Now != nil {
		now = v.Now()
	}
	tol, skew := v.Tolerance, v.FutureSkew
	if tol <= 0 {
		tol = DefaultTolerance
	}
	if skew <= 0 {
		skew = DefaultFutureSkew
	}
	switch signed := time.Unix(ts, 0); {
	case now.Sub(signed) > tol:
		return ErrTooOld
	case signed.Sub(now) > skew:
		return ErrInFuture
	}
	for _, secret := range v.Secrets {
		// The time window is ours (above); stripe-go checks the HMACs.
		err := stripewebhook.ValidatePayloadIgnoringTolerance(payload, header, secret)
		switch {
		case err == nil:
			return nil
		case errors.Is(err, stripewebhook.ErrNoValidSignature):
			continue
		case errors.Is(err, stripewebhook.ErrNotSigned), errors.Is(err, stripewebhook.ErrInvalidHeader):
			return ErrBadHeader
		default:
			return ErrNoMatch
		}
	}
	return ErrNoMatch
}

// headerTimestamp reads t= and checks there is at least one v1 signature.
func headerTimestamp(header string) (int64, error) {
	var ts int64 = -1
	hasV1 := false
	for _, part := range strings.Split(header, ",") {
		k, val, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok {
			return 0, ErrBadHeader
		}
		switch k {
		case "t":
			n, err := strconv.ParseInt(val, 10, 64)
			if err != nil || n <= 0 {
				return 0, ErrBadHeader
			}
			ts = n
		case "v1":
			if val == "" {
				return 0, ErrBadHeader
			}
			hasV1 = true
		}
	}
	if ts < 0 || !hasV1 {
		return 0, ErrBadHeader
	}
	return ts, nil
}

// ParseSecrets splits STRIPE_WEBHOOK_SECRET (comma-separated, for rotation).
func ParseSecrets(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}
