package codec

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
)

// KeySize is the length of every key: AES-256.
const KeySize = 32

// Key is one AES-256 key and the ID payloads name it by. Printing a Key
// (%v, %s, %#v, a log attribute) shows its ID only.
type Key struct {
	ID     string
	secret []byte
}

// NewKey checks id and secret and copies the secret.
func NewKey(id string, secret []byte) (Key, error) {
	if err := checkID(id); err != nil {
		return Key{}, err
	}
	if len(secret) != KeySize {
		return Key{}, fmt.Errorf("key %q: want %d bytes (AES-256), got %d", id, KeySize, len(secret))
	}
	return Key{ID: id, secret: append([]byte(nil), secret...)}, nil
}

// GenerateKey makes a random key named id.
func GenerateKey(id string) (Key, error) {
	secret := make([]byte, KeySize)
	if _, err := rand.Read(secret); err != nil {
		return Key{}, err
	}
	return NewKey(id, secret)
}

// Export is the key in PAYFLOW_PAYLOAD_KEYS form, id:base64key: the one
// way to see the secret, for writing it where it is kept.
func (k Key) Export() string {
	return k.ID + ":" + base64.StdEncoding.EncodeToString(k.secret)
}

// String is the key's ID: the secret never reaches a log line by accident.
func (k Key) String() string { return k.ID }

// GoString is the key's ID too (%#v).
func (k Key) GoString() string { return fmt.Sprintf("codec.Key{ID: %q}", k.ID) }

// checkID allows the characters that read unambiguously in metadata, logs
// and the variable's own syntax (no ':' or ',').
func checkID(id string) error {
	if id == "" {
		return errors.New("empty key ID")
	}
	if len(id) > 64 {
		return fmt.Errorf("key ID %.16q…: longer than 64 characters", id)
	}
	for _, r := range id {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.') {
			return fmt.Errorf("key ID %q: use letters, digits, '-', '_' and '.' only", id)
		}
	}
	return nil
}

// Keyring is the keys a process knows: the first encrypts, every one
// decrypts.
type Keyring struct {
	keys []Key
}

// NewKeyring lists keys newest first; IDs must differ.
func NewKeyring(keys ...Key) (*Keyring, error) {
	seen := map[string]bool{}
	for _, k := range keys {
		if err := checkID(k.ID); err != nil {
			return nil, err
		}
		if len(k.secret) != KeySize {
			return nil, fmt.Errorf("key %q: want %d bytes, got %d", k.ID, KeySize, len(k.secret))
		}
		if seen[k.ID] {
			return nil, fmt.Errorf("key ID %q is listed twice", k.ID)
		}
		seen[k.ID] = true
	}
	return &Keyring{keys: append([]Key(nil), keys...)}, nil
}

// ParseKeys reads PAYFLOW_PAYLOAD_KEYS: id:base64key entries separated by
// commas, newest first (standard or URL base64, padded or not, each
// decoding to 32 bytes). An empty string is an empty keyring. No error
// contains key material.
func ParseKeys(s string) (*Keyring, error) {
	var keys []Key
	var errs []error
	for i, entry := range strings.Split(s, ",") {
		entry = strings.TrimSpace(entry)
		if entry == "" {
			if strings.TrimSpace(s) != "" {
				errs = append(errs, fmt.Errorf("entry %d is empty (want id:base64key,id2:base64key)", i+1))
			}
			continue
		}
		id, enc, ok := strings.Cut(entry, ":")
		id, enc = strings.TrimSpace(id), strings.TrimSpace(enc)
		if !ok || enc == "" {
			errs = append(errs, fmt.Errorf("entry %d: want id:base64key (e.g. k1: followed by the output of openssl rand -base64 32)", i+1))
			continue
		}
		if err := checkID(id); err != nil {
			errs = append(errs, fmt.Errorf("entry %d: %w", i+1, err))
			continue
		}
		secret, err := decodeBase64(enc)
		if err != nil {
			errs = append(errs, fmt.Errorf("key %q: not base64 (make one with openssl rand -base64 32)", id))
			continue
		}
		if len(secret) != KeySize {
			errs = append(errs, fmt.Errorf("key %q: want %d bytes (AES-256) base64-encoded, got %d bytes (make one with openssl rand -base64 32)", id, KeySize, len(secret)))
			continue
		}
		k, err := NewKey(id, secret)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		keys = append(keys, k)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return NewKeyring(keys...)
}

func decodeBase64(s string) ([]byte, error) {
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if b, err := enc.DecodeString(s); err == nil {
			return b, nil
		}
	}
	return nil, errors.New("not base64")
}

// Len is the number of keys.
func (r *Keyring) Len() int {
	if r == nil {
		return 0
	}
	return len(r.keys)
}

// IDs lists the key IDs, newest (the one that encrypts) first.
func (r *Keyring) IDs() []string {
	if r == nil {
		return nil
	}
	ids := make([]string, len(r.keys))
	for i, k := range r.keys {
		ids[i] = k.ID
	}
	return ids
}

// Newest is the key that encrypts; false when the ring is empty.
func (r *Keyring) Newest() (Key, bool) {
	if r.Len() == 0 {
		return Key{}, false
	}
	return r.keys[0], true
}

// String lists the IDs, never the secrets.
func (r *Keyring) String() string { return strings.Join(r.IDs(), ",") }

// GoString lists the IDs too (%#v), never the secrets.
func (r *Keyring) GoString() string { return fmt.Sprintf("codec.Keyring%q", r.IDs()) }

// Export is the keyring in PAYFLOW_PAYLOAD_KEYS form.
func (r *Keyring) Export() string {
	parts := make([]string, r.Len())
	for i, k := range r.keys {
		parts[i] = k.Export()
	}
	return strings.Join(parts, ",")
}
