// Package webhook is payflow's receiver: it verifies Stripe's signature,
// decodes only what routing needs, and hands each event to Temporal before
// answering 2xx.
package webhook

import (
	"crypto/hmac"
	"crypto/sha256"
	"errors"
	"hash"
	"strings"
	"sync"
	"time"
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
// Use it through a pointer; it may be shared by any number of goroutines.
type Verifier struct {
	Secrets    []string
	Tolerance  time.Duration
	FutureSkew time.Duration
	Now        func() time.Time

	// macs recycles keyed HMAC states (*macSet), so a verification costs
	// no allocation once warm.
	macs sync.Pool
}

// Verify returns nil when payload is signed by any configured secret with a
// timestamp inside the tolerance in both directions.
//
// The header is parsed here, once, as Stripe defines it: comma-separated
// key=value pairs, exactly one t (decimal Unix seconds), one or more v1
// (hex HMAC-SHA256), v0 and unknown schemes ignored. The timestamp checked
// for freshness is the very string the HMAC covers ("<t>.<payload>"), so
// no second parser can be made to read a different t. Anything else is
// ErrBadHeader: a repeated t, a key with spaces or control characters
// around or in it (Stripe sends none), an empty v1, a value holding '='.
// Every v1 is compared, in constant time, with the HMAC of every secret
// (as during a secret roll).
func (v *Verifier) Verify(payload []byte, header string) error {
	if len(v.Secrets) == 0 {
		return ErrNoSecrets
	}
	if header == "" {
		return ErrNoSignature
	}
	t, unix, err := parseHeader(header)
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
	switch signed := time.Unix(unix, 0); {
	case now.Sub(signed) > tol:
		return ErrTooOld
	case signed.Sub(now) > skew:
		return ErrInFuture
	}
	ms, _ := v.macs.Get().(*macSet)
	if ms == nil {
		ms = &macSet{}
	}
	defer v.macs.Put(ms)
	for i, secret := range v.Secrets {
		if matchesAny(header, ms.sign(i, secret, t, payload)) {
			return nil
		}
	}
	return ErrNoMatch
}

// parseHeader checks the header's shape and returns its one timestamp, as
// written (the signed string) and as Unix seconds. It does not allocate.
func parseHeader(header string) (t string, unix int64, err error) {
	v1 := 0
	for rest, more := header, true; more; {
		var part string
		part, rest, more = strings.Cut(rest, ",")
		key, val, ok := strings.Cut(part, "=")
		if !ok || !validKey(key) || strings.IndexByte(val, '=') >= 0 {
			return "", 0, ErrBadHeader
		}
		switch key {
		case "t":
			n, ok := parseUnix(val)
			if !ok || t != "" {
				return "", 0, ErrBadHeader
			}
			t, unix = val, n
		case "v1":
			if val == "" {
				return "", 0, ErrBadHeader
			}
			v1++
		}
	}
	if t == "" || v1 == 0 {
		return "", 0, ErrBadHeader
	}
	return t, unix, nil
}

// validKey: a non-empty key of printable ASCII without spaces. " t" is not
// "t" under another name: a header someone edited is refused outright.
func validKey(k string) bool {
	if k == "" {
		return false
	}
	for i := 0; i < len(k); i++ {
		if k[i] <= ' ' || k[i] >= 0x7f {
			return false
		}
	}
	return true
}

// parseUnix reads a positive decimal Unix time: digits only (no sign, no
// spaces), at most 18 of them so it cannot overflow.
func parseUnix(s string) (int64, bool) {
	if s == "" || len(s) > 18 {
		return 0, false
	}
	var n int64
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int64(c-'0')
	}
	return n, n > 0
}

// matchesAny compares want with every v1 signature of the (already
// parsed) header in constant time. A v1 that is not 64 hex digits matches
// nothing, as in Stripe's libraries.
func matchesAny(header string, want []byte) bool {
	var got [sha256.Size]byte
	for rest, more := header, true; more; {
		var part string
		part, rest, more = strings.Cut(rest, ",")
		key, val, _ := strings.Cut(part, "=")
		if key != "v1" || !decodeHex(got[:], val) {
			continue
		}
		if hmac.Equal(got[:], want) {
			return true
		}
	}
	return false
}

func decodeHex(dst []byte, s string) bool {
	if len(s) != 2*len(dst) {
		return false
	}
	for i := range dst {
		hi, ok1 := fromHex(s[2*i])
		lo, ok2 := fromHex(s[2*i+1])
		if !ok1 || !ok2 {
			return false
		}
		dst[i] = hi<<4 | lo
	}
	return true
}

func fromHex(c byte) (byte, bool) {
	switch {
	case c >= '0' && c <= '9':
		return c - '0', true
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10, true
	case c >= 'A' && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

// macSet holds one keyed HMAC-SHA256 per configured secret, with scratch
// space, so that a warm Verify allocates nothing.
type macSet struct {
	keys []string
	macs []hash.Hash
	buf  [24]byte
	sum  [sha256.Size]byte
}

// sign returns HMAC-SHA256(secret, "<t>.<payload>"), valid until the next
// call. A secret that changed since the state was built rebuilds it.
func (m *macSet) sign(i int, secret, t string, payload []byte) []byte {
	for len(m.macs) <= i {
		m.keys, m.macs = append(m.keys, ""), append(m.macs, nil)
	}
	if m.macs[i] == nil || m.keys[i] != secret {
		m.keys[i], m.macs[i] = secret, hmac.New(sha256.New, []byte(secret))
	}
	mac := m.macs[i]
	mac.Reset()
	n := copy(m.buf[:len(m.buf)-1], t) // t is at most 18 digits
	m.buf[n] = '.'
	mac.Write(m.buf[:n+1])
	mac.Write(payload)
	return mac.Sum(m.sum[:0])
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
