// Package codec keeps what payflow hands Temporal (event payloads, activity
// inputs and results, queries, the UI's summaries and details, failure
// messages) unreadable to anyone without the key: an AES-256-GCM
// converter.PayloadCodec with named, rotatable keys, the data and failure
// converters every payflow client uses, and the HTTP codec endpoints through
// which the Temporal Web UI and CLI decode payloads.
//
// An encrypted payload follows Temporal's sample convention: metadata
// encoding "binary/encrypted" and "encryption-key-id" naming the key, data
// a 12-byte random nonce followed by the AES-GCM sealed bytes of the
// original payload (its protobuf encoding, metadata and data together).
// A payload without that encoding passes through unchanged, so histories
// written before encryption was turned on stay readable.
package codec

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"errors"
	"fmt"
	"strings"

	commonpb "go.temporal.io/api/common/v1"
	"go.temporal.io/sdk/converter"
	"google.golang.org/protobuf/proto"
)

const (
	// EncodingEncrypted is the metadata encoding of an encrypted payload.
	EncodingEncrypted = "binary/encrypted"
	// MetadataKeyID names the key an encrypted payload was sealed with.
	MetadataKeyID = "encryption-key-id"
)

// UnknownKeyError is a payload sealed with a key the keyring does not hold:
// a key removed from PAYFLOW_PAYLOAD_KEYS too early, or never given to this
// process.
type UnknownKeyError struct {
	KeyID string
	Known []string
}

func (e *UnknownKeyError) Error() string {
	if len(e.Known) == 0 {
		return fmt.Sprintf("payload encrypted with key ID %q, but PAYFLOW_PAYLOAD_KEYS is not set", e.KeyID)
	}
	return fmt.Sprintf("payload encrypted with key ID %q, which PAYFLOW_PAYLOAD_KEYS does not list (it lists %s)", e.KeyID, strings.Join(e.Known, ", "))
}

// ErrTampered is a payload whose authentication tag does not match: it was
// altered, or sealed with another key under the same ID.
var ErrTampered = errors.New("payload failed authentication: altered, or encrypted with another key under the same ID")

// Codec is the AES-256-GCM converter.PayloadCodec. Encode seals each
// payload with the keyring's newest key (or, for a decode-only codec,
// leaves it as it is); Decode opens each encrypted payload with the key its
// metadata names and passes every other payload through.
type Codec struct {
	ring    *Keyring
	aeads   map[string]cipher.AEAD
	encrypt bool
}

var _ converter.PayloadCodec = (*Codec)(nil)

// New encrypts with ring's newest key and decrypts with any of its keys.
// An empty ring is refused: there is nothing to encrypt with.
func New(ring *Keyring) (*Codec, error) {
	if ring.Len() == 0 {
		return nil, errors.New("no payload key: PAYFLOW_PAYLOAD_KEYS is empty")
	}
	return newCodec(ring, true)
}

// DecodeOnly writes payloads as they are and decrypts those sealed with
// any key of ring (which may be empty): PAYFLOW_PAYLOAD_ENCRYPTION=off, with
// the keys kept so that what was encrypted stays readable.
func DecodeOnly(ring *Keyring) (*Codec, error) {
	return newCodec(ring, false)
}

func newCodec(ring *Keyring, encrypt bool) (*Codec, error) {
	if ring == nil {
		ring = &Keyring{}
	}
	c := &Codec{ring: ring, aeads: map[string]cipher.AEAD{}, encrypt: encrypt}
	for _, k := range ring.keys {
		block, err := aes.NewCipher(k.secret)
		if err != nil {
			return nil, fmt.Errorf("key %q: %w", k.ID, err)
		}
		aead, err := cipher.NewGCM(block)
		if err != nil {
			return nil, fmt.Errorf("key %q: %w", k.ID, err)
		}
		c.aeads[k.ID] = aead
	}
	return c, nil
}

// Encrypts reports whether Encode seals payloads (false: decode-only).
func (c *Codec) Encrypts() bool { return c.encrypt }

// KeyIDs lists the codec's key IDs, the one that encrypts first.
func (c *Codec) KeyIDs() []string { return c.ring.IDs() }

// Encode implements converter.PayloadCodec.
func (c *Codec) Encode(payloads []*commonpb.Payload) ([]*commonpb.Payload, error) {
	if !c.encrypt {
		return payloads, nil
	}
	key, _ := c.ring.Newest()
	aead := c.aeads[key.ID]
	out := make([]*commonpb.Payload, len(payloads))
	for i, p := range payloads {
		if p == nil {
			continue
		}
		plain, err := proto.Marshal(p)
		if err != nil {
			return payloads, fmt.Errorf("encrypt payload: %w", err)
		}
		nonce := make([]byte, aead.NonceSize(), aead.NonceSize()+len(plain)+aead.Overhead())
		if _, err := rand.Read(nonce); err != nil {
			return payloads, fmt.Errorf("encrypt payload: %w", err)
		}
		out[i] = &commonpb.Payload{
			Metadata: map[string][]byte{
				converter.MetadataEncoding: []byte(EncodingEncrypted),
				MetadataKeyID:              []byte(key.ID),
			},
			Data: aead.Seal(nonce, nonce, plain, nil),
		}
	}
	return out, nil
}

// Decode implements converter.PayloadCodec. Its errors ask the worker to
// fail the workflow task, not the workflow (converter.WorkflowTaskFailureError):
// a missing key is put back and the task retried; nothing is lost.
func (c *Codec) Decode(payloads []*commonpb.Payload) ([]*commonpb.Payload, error) {
	out := make([]*commonpb.Payload, len(payloads))
	for i, p := range payloads {
		if p == nil || string(p.GetMetadata()[converter.MetadataEncoding]) != EncodingEncrypted {
			out[i] = p
			continue
		}
		dec, err := c.open(p)
		if err != nil {
			return payloads, converter.NewWorkflowTaskFailureError(err)
		}
		out[i] = dec
	}
	return out, nil
}

func (c *Codec) open(p *commonpb.Payload) (*commonpb.Payload, error) {
	id, ok := p.GetMetadata()[MetadataKeyID]
	if !ok || len(id) == 0 {
		return nil, fmt.Errorf("encrypted payload without %s metadata", MetadataKeyID)
	}
	aead, ok := c.aeads[string(id)]
	if !ok {
		return nil, &UnknownKeyError{KeyID: string(id), Known: c.ring.IDs()}
	}
	data := p.GetData()
	if len(data) < aead.NonceSize()+aead.Overhead() {
		return nil, fmt.Errorf("decrypt payload (key ID %q): %w", id, ErrTampered)
	}
	nonce, sealed := data[:aead.NonceSize()], data[aead.NonceSize():]
	plain, err := aead.Open(nil, nonce, sealed, nil)
	if err != nil {
		return nil, fmt.Errorf("decrypt payload (key ID %q): %w", id, ErrTampered)
	}
	var dec commonpb.Payload
	if err := proto.Unmarshal(plain, &dec); err != nil {
		return nil, fmt.Errorf("decrypt payload (key ID %q): not a payload inside: %w", id, err)
	}
	return &dec, nil
}
