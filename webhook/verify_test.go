package webhook_test

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/payflow/payflow/webhook"
)

// v1 is Stripe's signature of payload at timestamp t (the string as it
// stands in the header).
func v1(secret, t string, payload []byte) string {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(t + "."))
	mac.Write(payload)
	return hex.EncodeToString(mac.Sum(nil))
}

// TestVerifyHeaderTable parses Stripe-Signature as Stripe defines it:
// comma-separated key=value pairs, t exactly once, one or more v1, v0 and
// unknown schemes ignored; the t checked for freshness is the t signed.
func TestVerifyHeaderTable(t *testing.T) {
	now := time.Unix(1764000000, 0)
	payload := []byte(`{"id":"evt_1","object":"event","type":"invoice.paid"}`)
	ts := func(d time.Duration) string { return strconv.FormatInt(now.Add(d).Unix(), 10) }
	cur, old := ts(0), ts(-10*time.Minute)
	good := v1(secretOld, cur, payload)
	oldSig := v1(secretOld, old, payload)
	other := v1(secretBad, cur, payload)
	zeros := strings.Repeat("0", 64)
	var bogus strings.Builder
	for i := 0; i < 1000; i++ {
		bogus.WriteString(",v1=" + strings.Repeat(strconv.Itoa(i%10), 64))
	}

	cases := []struct {
		name   string
		header string
		want   error
	}{
		{"valid", "t=" + cur + ",v1=" + good, nil},
		{"valid, second secret", "t=" + cur + ",v1=" + v1(secretNew, cur, payload), nil},
		{"t after the signatures", "v1=" + good + ",t=" + cur, nil},
		{"upper-case hex", "t=" + cur + ",v1=" + strings.ToUpper(good), nil},

		// Replays: a captured old delivery with a fresh t appended.
		{"replay: ', t=now' appended", "t=" + old + ",v1=" + oldSig + ", t=" + cur, webhook.ErrBadHeader},
		{"replay: ',\\tt=now' appended", "t=" + old + ",v1=" + oldSig + ",\tt=" + cur, webhook.ErrBadHeader},
		{"replay: ',t=now' appended", "t=" + old + ",v1=" + oldSig + ",t=" + cur, webhook.ErrBadHeader},
		{"replay: fresh t first, old t after", "t=" + cur + ",t=" + old + ",v1=" + oldSig, webhook.ErrBadHeader},
		{"replay as sent: too old", "t=" + old + ",v1=" + oldSig, webhook.ErrTooOld},

		// Whitespace: Stripe sends none; a key with any is malformed.
		{"space before t", " t=" + cur + ",v1=" + good, webhook.ErrBadHeader},
		{"space before v1", "t=" + cur + ", v1=" + good, webhook.ErrBadHeader},
		{"tab before v1", "t=" + cur + ",\tv1=" + good, webhook.ErrBadHeader},
		{"space after the key", "t =" + cur + ",v1=" + good, webhook.ErrBadHeader},
		{"space in the t value", "t= " + cur + ",v1=" + good, webhook.ErrBadHeader},
		{"space after the t value", "t=" + cur + " ,v1=" + good, webhook.ErrBadHeader},
		{"trailing space after v1", "t=" + cur + ",v1=" + good + " ", webhook.ErrNoMatch},
		{"control character in a key", "t=" + cur + ",v1=" + good + ",v\x009=x", webhook.ErrBadHeader},

		// Several t.
		{"t twice, same value", "t=" + cur + ",t=" + cur + ",v1=" + good, webhook.ErrBadHeader},
		{"t twice, around the signature", "t=" + cur + ",v1=" + good + ",t=" + cur, webhook.ErrBadHeader},
		{"no t", "v1=" + good, webhook.ErrBadHeader},
		{"empty t", "t=,v1=" + good, webhook.ErrBadHeader},

		// v1 signatures.
		{"v1 twice, both valid", "t=" + cur + ",v1=" + good + ",v1=" + good, nil},
		{"v1 twice, invalid then valid", "t=" + cur + ",v1=" + other + ",v1=" + good, nil},
		{"v1 twice, both invalid", "t=" + cur + ",v1=" + other + ",v1=" + zeros, webhook.ErrNoMatch},
		{"empty v1", "t=" + cur + ",v1=", webhook.ErrBadHeader},
		{"empty v1 beside a valid one", "t=" + cur + ",v1=,v1=" + good, webhook.ErrBadHeader},
		{"v1 not hex", "t=" + cur + ",v1=" + strings.Repeat("zz", 32), webhook.ErrNoMatch},
		{"v1 too short", "t=" + cur + ",v1=" + good[:62], webhook.ErrNoMatch},
		{"v1 too long", "t=" + cur + ",v1=" + good + "00", webhook.ErrNoMatch},
		{"v1 holding '='", "t=" + cur + ",v1=" + good + "=", webhook.ErrBadHeader},

		// Schemes.
		{"v0 only", "t=" + cur + ",v0=" + good, webhook.ErrBadHeader},
		{"v0 and unknown schemes beside v1", "t=" + cur + ",v0=" + zeros + ",v1=" + good + ",v9=zz,scheme_x=1", nil},
		{"unknown scheme only", "t=" + cur + ",v2=" + good, webhook.ErrBadHeader},
		{"pair without '='", "t=" + cur + ",v1=" + good + ",garbage", webhook.ErrBadHeader},
		{"empty pair", "t=" + cur + ",,v1=" + good, webhook.ErrBadHeader},
		{"trailing comma", "t=" + cur + ",v1=" + good + ",", webhook.ErrBadHeader},
		{"empty key", "t=" + cur + ",=x,v1=" + good, webhook.ErrBadHeader},

		// Long headers.
		{"1,000 bogus v1 then the valid one", "t=" + cur + bogus.String() + ",v1=" + good, nil},
		{"1,000 bogus v1 only", "t=" + cur + bogus.String(), webhook.ErrNoMatch},
		{"100 KB of one unknown value", "t=" + cur + ",v1=" + good + ",x=" + strings.Repeat("a", 100_000), nil},

		// Timestamps.
		{"non-numeric t", "t=abc,v1=" + good, webhook.ErrBadHeader},
		{"t in exponent form", "t=1.764e9,v1=" + good, webhook.ErrBadHeader},
		{"t with a plus sign", "t=+" + cur + ",v1=" + good, webhook.ErrBadHeader},
		{"negative t", "t=-" + cur + ",v1=" + good, webhook.ErrBadHeader},
		{"zero t", "t=0,v1=" + good, webhook.ErrBadHeader},
		{"t of 19 digits", "t=1000000000000000000,v1=" + good, webhook.ErrBadHeader},
		{"t of 18 digits: far future", "t=999999999999999999,v1=" + v1(secretOld, "999999999999999999", payload), webhook.ErrInFuture},
		{"t an hour ahead", "t=" + ts(time.Hour) + ",v1=" + v1(secretOld, ts(time.Hour), payload), webhook.ErrInFuture},
		{"t 10 s ahead: clock skew", "t=" + ts(10*time.Second) + ",v1=" + v1(secretOld, ts(10*time.Second), payload), nil},
		{"t with a leading zero: signed as written", "t=0" + cur + ",v1=" + v1(secretOld, "0"+cur, payload), nil},
		{"t with a leading zero, signature of the canonical t", "t=0" + cur + ",v1=" + good, webhook.ErrNoMatch},

		{"empty header", "", webhook.ErrNoSignature},
		{"garbage", "garbage", webhook.ErrBadHeader},
	}
	v := &webhook.Verifier{Secrets: []string{secretOld, secretNew}, Now: func() time.Time { return now }}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := v.Verify(payload, tc.header)
			if !errors.Is(err, tc.want) || (tc.want == nil && err != nil) {
				t.Fatalf("Verify = %v, want %v", err, tc.want)
			}
		})
	}
}

// A warm verification allocates nothing (the benchmarks show it too).
func TestVerifyDoesNotAllocate(t *testing.T) {
	payload := []byte(`{"id":"evt_1"}`)
	now := time.Now()
	ts := strconv.FormatInt(now.Unix(), 10)
	header := "t=" + ts + ",v1=" + v1(secretNew, ts, payload)
	v := &webhook.Verifier{Secrets: []string{secretOld, secretNew}}
	if err := v.Verify(payload, header); err != nil {
		t.Fatal(err)
	}
	if raceEnabled {
		t.Skip("sync.Pool drops items at random under -race")
	}
	if n := testing.AllocsPerRun(100, func() { _ = v.Verify(payload, header) }); n > 1 {
		t.Errorf("%.0f allocations per verification", n)
	}
}

// Changing the secrets of a Verifier in use takes effect (the keyed HMAC
// states it recycles follow the secrets).
func TestVerifierFollowsSecretChanges(t *testing.T) {
	payload := []byte(`{"id":"evt_1"}`)
	ts := strconv.FormatInt(time.Now().Unix(), 10)
	v := &webhook.Verifier{Secrets: []string{secretOld}}
	if err := v.Verify(payload, "t="+ts+",v1="+v1(secretOld, ts, payload)); err != nil {
		t.Fatal(err)
	}
	v.Secrets = []string{secretNew}
	if err := v.Verify(payload, "t="+ts+",v1="+v1(secretOld, ts, payload)); !errors.Is(err, webhook.ErrNoMatch) {
		t.Fatalf("removed secret still verifies: %v", err)
	}
	if err := v.Verify(payload, "t="+ts+",v1="+v1(secretNew, ts, payload)); err != nil {
		t.Fatal(err)
	}
}
