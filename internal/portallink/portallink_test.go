package portallink

import (
	"encoding/base64"
	"errors"
	"strings"
	"testing"
	"time"
)

const (
	secret      = "0123456789abcdef0123456789abcdef-link-secret"
	otherSecret = "fedcba9876543210fedcba9876543210-other-secret"
)

var now = time.Date(2024, 3, 1, 12, 0, 0, 0, time.UTC)

func signer(t *testing.T, secret string) *Signer {
	t.Helper()
	s, err := NewSigner(secret)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestRoundTrip(t *testing.T) {
	s := signer(t, secret)
	for _, cus := range []string{"cus_NffrFeUfNV2Hib", "cus_1", "cus_" + strings.Repeat("A", 251), "cus_with_underscores_9"} {
		exp := now.Add(720 * time.Hour)
		tok, err := s.Token(cus, exp)
		if err != nil {
			t.Fatalf("%s: %v", cus, err)
		}
		if strings.ContainsAny(tok, "+/=.%") {
			t.Errorf("token %q is not URL-safe base64 without padding", tok)
		}
		got, gotExp, err := s.Verify(tok, now)
		if err != nil || got != cus || !gotExp.Equal(exp) {
			t.Errorf("Verify = %q, %v, %v; want %q, %v", got, gotExp, err, cus, exp)
		}
		// Valid up to the second before expiry.
		if _, _, err := s.Verify(tok, exp.Add(-time.Second)); err != nil {
			t.Errorf("a second before expiry: %v", err)
		}
	}
}

func TestExpired(t *testing.T) {
	s := signer(t, secret)
	exp := now.Add(time.Hour)
	tok, _ := s.Token("cus_A", exp)
	for _, at := range []time.Time{exp, exp.Add(time.Second), exp.Add(365 * 24 * time.Hour)} {
		cus, _, err := s.Verify(tok, at)
		if !errors.Is(err, ErrExpired) || cus != "" {
			t.Errorf("at %v: %q, %v; want ErrExpired and no customer", at, cus, err)
		}
	}
}

func TestWrongSecret(t *testing.T) {
	tok, _ := signer(t, secret).Token("cus_A", now.Add(time.Hour))
	if cus, _, err := signer(t, otherSecret).Verify(tok, now); !errors.Is(err, ErrSignature) || cus != "" {
		t.Errorf("another secret's token: %q, %v; want ErrSignature", cus, err)
	}
}

// Every change to a token is refused: each bit of its bytes flipped, the
// customer swapped, the expiry extended, and characters appended or cut.
func TestTamper(t *testing.T) {
	s := signer(t, secret)
	tok, _ := s.Token("cus_Alice", now.Add(time.Hour))
	raw, err := base64.RawURLEncoding.DecodeString(tok)
	if err != nil {
		t.Fatal(err)
	}
	for i := range raw {
		for bit := 0; bit < 8; bit++ {
			b := append([]byte(nil), raw...)
			b[i] ^= 1 << bit
			forged := base64.RawURLEncoding.EncodeToString(b)
			if cus, _, err := s.Verify(forged, now); err == nil || cus != "" {
				t.Fatalf("byte %d bit %d flipped: accepted for %q", i, bit, cus)
			}
		}
	}
	// Another customer in place of Alice, with Alice's MAC.
	swapped := append([]byte(nil), raw[:headerLen]...)
	swapped = append(swapped, "cus_Mallory"...)
	swapped = append(swapped, raw[len(raw)-macLen:]...)
	if _, _, err := s.Verify(base64.RawURLEncoding.EncodeToString(swapped), now); !errors.Is(err, ErrSignature) {
		t.Errorf("customer swapped: %v, want ErrSignature", err)
	}
	// The expiry pushed out by a year.
	later := append([]byte(nil), raw...)
	later[8]++
	if _, _, err := s.Verify(base64.RawURLEncoding.EncodeToString(later), now); !errors.Is(err, ErrSignature) {
		t.Errorf("expiry changed: %v, want ErrSignature", err)
	}
	for name, bad := range map[string]string{
		"appended": tok + "A",
		"cut":      tok[:len(tok)-1],
		"cut more": tok[:len(tok)-4],
	} {
		if _, _, err := s.Verify(bad, now); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestMalformed(t *testing.T) {
	s := signer(t, secret)
	good, _ := s.Token("cus_A", now.Add(time.Hour))
	signed := func(version byte, exp int64, cus string) string {
		b := []byte{version, 0, 0, 0, 0, 0, 0, 0, 0}
		for i := 0; i < 8; i++ {
			b[8-i] = byte(exp >> (8 * i))
		}
		b = append(b, cus...)
		b = append(b, s.mac(b)...)
		return base64.RawURLEncoding.EncodeToString(b)
	}
	cases := map[string]string{
		"empty":                "",
		"not base64":           "!!!!",
		"standard alphabet":    strings.NewReplacer("-", "+", "_", "/").Replace(good) + "+/",
		"padded":               good + "==",
		"whitespace":           good[:10] + " " + good[10:],
		"line break":           good[:10] + "\n" + good[10:],
		"percent-encoded":      good[:10] + "%41" + good[10:],
		"too short":            base64.RawURLEncoding.EncodeToString([]byte("short")),
		"huge":                 strings.Repeat("A", 10000),
		"other version":        signed(2, now.Add(time.Hour).Unix(), "cus_A"),
		"no customer prefix":   signed(version, now.Add(time.Hour).Unix(), "sub_A"),
		"bad customer char":    signed(version, now.Add(time.Hour).Unix(), "cus_A/../x"),
		"empty customer":       signed(version, now.Add(time.Hour).Unix(), "cus_"),
		"negative expiry":      signed(version, -5, "cus_A"),
		"non-canonical base64": good[:len(good)-1] + flipLowBits(good[len(good)-1]),
	}
	for name, tok := range cases {
		t.Run(name, func(t *testing.T) {
			cus, _, err := s.Verify(tok, now)
			if err == nil || cus != "" {
				t.Fatalf("accepted for %q", cus)
			}
			if errors.Is(err, ErrExpired) {
				t.Errorf("reported as expired: %v", err)
			}
		})
	}
}

// flipLowBits returns a base64 character that decodes to the same bytes as
// c at the end of a token whose last group is partial, if it has unused
// bits: strict decoding must refuse it.
func flipLowBits(c byte) string {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	i := strings.IndexByte(alphabet, c)
	return string(alphabet[i^1])
}

func TestSecretLength(t *testing.T) {
	if _, err := NewSigner(strings.Repeat("x", MinSecretLen-1)); err == nil {
		t.Error("short secret accepted")
	} else if strings.Contains(err.Error(), "xxxx") {
		t.Errorf("error leaks the secret: %v", err)
	}
	if _, err := NewSigner(strings.Repeat("x", MinSecretLen)); err != nil {
		t.Error(err)
	}
}

func TestTokenRefusesWhatItCannotSign(t *testing.T) {
	s := signer(t, secret)
	for _, cus := range []string{"", "cus_", "sub_1", "cus_a b", "cus_" + strings.Repeat("A", 252)} {
		if _, err := s.Token(cus, now.Add(time.Hour)); err == nil {
			t.Errorf("token made for %q", cus)
		}
	}
	if _, err := s.Token("cus_A", time.Time{}); err == nil {
		t.Error("token made without expiry")
	}
}

func TestLinks(t *testing.T) {
	l, err := NewLinks("https://pay.example.com/", secret, 720*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	u, err := l.URL("cus_A", now)
	if err != nil {
		t.Fatal(err)
	}
	tok, ok := strings.CutPrefix(u, "https://pay.example.com/billing/portal/")
	if !ok || strings.Contains(tok, "/") {
		t.Fatalf("link %q", u)
	}
	cus, exp, err := l.Signer.Verify(tok, now.Add(719*time.Hour))
	if err != nil || cus != "cus_A" || !exp.Equal(now.Add(720*time.Hour)) {
		t.Errorf("link token: %q %v %v", cus, exp, err)
	}
	if _, _, err := l.Signer.Verify(tok, now.Add(720*time.Hour)); !errors.Is(err, ErrExpired) {
		t.Errorf("after the TTL: %v", err)
	}
	for _, bad := range []struct {
		base, secret string
		ttl          time.Duration
	}{
		{"pay.example.com", secret, time.Hour},
		{"https://pay.example.com", "short", time.Hour},
		{"https://pay.example.com", secret, 0},
	} {
		if _, err := NewLinks(bad.base, bad.secret, bad.ttl); err == nil {
			t.Errorf("NewLinks(%q, …, %v) accepted", bad.base, bad.ttl)
		}
	}
}
