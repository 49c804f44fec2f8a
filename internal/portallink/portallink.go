// Package portallink makes and checks the signed links that dunning emails
// carry to Stripe's customer (billing) portal.
//
// Stripe's portal sessions are short-lived and expire if not visited, so an
// email — read hours or days after it was sent — cannot carry one. It
// carries a link to payflow's receiver instead,
// <PAYFLOW_PUBLIC_URL>/billing/portal/<token>, and the receiver opens a
// portal session when the customer clicks. The token names the customer and
// when the link expires, signed with HMAC-SHA256 under PAYFLOW_LINK_SECRET:
// whoever holds the link can open the portal of that one customer until
// then, and nobody can make a link for another customer.
//
// The activities make links (Links); the receiver checks them (Signer.Verify).
// This package does no I/O.
package portallink

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"time"
)

// PathPrefix is the receiver's path for portal links; the token follows it.
const PathPrefix = "/billing/portal/"

// MinSecretLen is the shortest secret accepted, in bytes: as long as the
// HMAC-SHA256 output, so the key is never the weak part.
const MinSecretLen = 32

// Errors of Verify. A token that fails is refused as a whole; which check
// failed is for the receiver's metrics and logs, never for the customer.
var (
	// ErrMalformed: not a token this package makes (bad encoding, length,
	// version or customer ID).
	ErrMalformed = errors.New("portal link: malformed token")
	// ErrSignature: well formed, but not signed with this secret (tampered
	// with, or made under another secret).
	ErrSignature = errors.New("portal link: bad signature")
	// ErrExpired: genuine, but past its expiry.
	ErrExpired = errors.New("portal link: expired")
)

// ErrUnknownCustomer is what a session opener (PortalSessions in the
// receiver) wraps when Stripe does not know the link's customer (deleted
// since the email went out): no retry or later click can succeed.
var ErrUnknownCustomer = errors.New("portal link: no such customer")

// Session is a portal session Stripe opened: its ID (bps_…) for the logs and
// its URL, where the customer is sent at once.
type Session struct {
	ID, URL string
}

// Token layout, before base64 (URL-safe alphabet, no padding):
//
//	version (1 byte) | expiry, Unix seconds (8 bytes, big-endian) | customer ID | HMAC-SHA256 (32 bytes)
//
// The MAC covers a fixed context string, then everything before it, so the
// secret cannot be turned into a signer for anything else payflow signs.
const (
	version     = 1
	headerLen   = 1 + 8
	macLen      = sha256.Size
	maxCustomer = 255 // Stripe's IDs are far shorter
	// maxTokenLen bounds what Verify decodes: the longest token it makes.
	maxTokenLen = (headerLen + maxCustomer + macLen + 2) / 3 * 4
	macContext  = "payflow billing portal link v1\x00"
)

var encoding = base64.RawURLEncoding.Strict()

// Signer signs and verifies tokens with one secret.
type Signer struct {
	key []byte
}

// NewSigner returns a Signer for secret (PAYFLOW_LINK_SECRET), which must
// be at least MinSecretLen bytes. The error never contains the secret.
func NewSigner(secret string) (*Signer, error) {
	if len(secret) < MinSecretLen {
		return nil, fmt.Errorf("portal link secret: want at least %d bytes", MinSecretLen)
	}
	return &Signer{key: []byte(secret)}, nil
}

// Token returns the token for customerID, valid until expires.
func (s *Signer) Token(customerID string, expires time.Time) (string, error) {
	if !validCustomer(customerID) {
		return "", fmt.Errorf("portal link: not a Stripe customer ID: %q", customerID)
	}
	if expires.Unix() <= 0 {
		return "", errors.New("portal link: no expiry")
	}
	b := make([]byte, headerLen, headerLen+len(customerID)+macLen)
	b[0] = version
	binary.BigEndian.PutUint64(b[1:headerLen], uint64(expires.Unix()))
	b = append(b, customerID...)
	b = append(b, s.mac(b)...)
	return encoding.EncodeToString(b), nil
}

// Verify checks token at now and returns the customer it names and when it
// expires. The signature is checked (in constant time) before anything the
// token says is believed; a token expires at its expiry second.
func (s *Signer) Verify(token string, now time.Time) (customerID string, expires time.Time, err error) {
	if len(token) == 0 || len(token) > maxTokenLen || !urlSafe(token) {
		return "", time.Time{}, ErrMalformed
	}
	b, err := encoding.DecodeString(token)
	if err != nil || len(b) < headerLen+1+macLen {
		return "", time.Time{}, ErrMalformed
	}
	payload, sum := b[:len(b)-macLen], b[len(b)-macLen:]
	if payload[0] != version {
		return "", time.Time{}, ErrMalformed
	}
	if !hmac.Equal(sum, s.mac(payload)) {
		return "", time.Time{}, ErrSignature
	}
	exp := int64(binary.BigEndian.Uint64(payload[1:headerLen]))
	customerID = string(payload[headerLen:])
	if exp <= 0 || !validCustomer(customerID) {
		// Signed with our secret, yet not what Token makes: refuse it all
		// the same.
		return "", time.Time{}, ErrMalformed
	}
	expires = time.Unix(exp, 0).UTC()
	if !now.Before(expires) {
		return "", expires, ErrExpired
	}
	return customerID, expires, nil
}

func (s *Signer) mac(payload []byte) []byte {
	m := hmac.New(sha256.New, s.key)
	m.Write([]byte(macContext))
	m.Write(payload)
	return m.Sum(nil)
}

// urlSafe: only the URL-safe base64 alphabet (the decoder alone would skip
// line breaks).
func urlSafe(s string) bool {
	for _, c := range []byte(s) {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// validCustomer accepts what Stripe's customer IDs look like: cus_ and
// letters, digits or underscores.
func validCustomer(id string) bool {
	rest, ok := strings.CutPrefix(id, "cus_")
	if !ok || rest == "" || len(id) > maxCustomer {
		return false
	}
	for _, c := range []byte(rest) {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_') {
			return false
		}
	}
	return true
}

// Links makes the links emails carry.
type Links struct {
	// Base is the receiver's public base URL (PAYFLOW_PUBLIC_URL), e.g.
	// https://pay.example.com; a trailing slash is ignored.
	Base   string
	Signer *Signer
	// TTL is how long a link works after it is made (PAYFLOW_PORTAL_LINK_TTL).
	TTL time.Duration
}

// NewLinks builds Links from the configuration's values.
func NewLinks(base, secret string, ttl time.Duration) (*Links, error) {
	s, err := NewSigner(secret)
	if err != nil {
		return nil, err
	}
	if ttl <= 0 {
		return nil, errors.New("portal link: the lifetime must be positive")
	}
	if !strings.HasPrefix(base, "https://") && !strings.HasPrefix(base, "http://") {
		return nil, fmt.Errorf("portal link: want an http(s) base URL, got %q", base)
	}
	return &Links{Base: base, Signer: s, TTL: ttl}, nil
}

// URL returns a fresh link for customerID, valid for TTL from now.
func (l *Links) URL(customerID string, now time.Time) (string, error) {
	tok, err := l.Signer.Token(customerID, now.Add(l.TTL))
	if err != nil {
		return "", err
	}
	return strings.TrimRight(l.Base, "/") + PathPrefix + tok, nil
}
