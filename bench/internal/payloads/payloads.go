// Package payloads builds the signed Stripe events the load generators send:
// realistic payment_intent.succeeded events from package fixtures, each for
// its own payment intent, signed the way Stripe signs them.
package payloads

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"time"

	"github.com/payflow/payflow/fixtures"
)

// EventType is the event every benchmark sends: the one that starts (and
// completes) an order workflow.
const EventType = "payment_intent.succeeded"

// Event is one signed delivery.
type Event struct {
	PaymentIntent string
	Payload       []byte
	Signature     string // Stripe-Signature header
}

// Pool is a set of distinct events.
type Pool struct {
	Secret string
	Events []Event
}

// NewSecret returns a fresh whsec_… secret.
func NewSecret() string {
	b := make([]byte, 24)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return "whsec_" + hex.EncodeToString(b)
}

// Tag returns a short random tag that keeps the IDs of one run apart from
// every other run's.
func Tag() string {
	b := make([]byte, 4)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return hex.EncodeToString(b)
}

// PaymentIntentID is the i-th payment intent of a run: pi_<prefix><i>,
// padded to the 24 characters of Stripe's IDs.
func PaymentIntentID(prefix string, i int) string {
	return fmt.Sprintf("pi_%s%0*d", prefix, max(24-len(prefix), 6), i)
}

// Build returns n distinct events, for payment intents PaymentIntentID(prefix, 0..n-1),
// signed with secret at time now.
func Build(n int, prefix, secret string, now time.Time) (*Pool, error) {
	p := &Pool{Secret: secret, Events: make([]Event, n)}
	for i := range p.Events {
		pi := PaymentIntentID(prefix, i)
		payload, err := fixtures.Build(EventType, fixtures.Options{PaymentIntentID: pi, Created: now})
		if err != nil {
			return nil, err
		}
		p.Events[i] = Event{PaymentIntent: pi, Payload: payload}
	}
	p.Resign(now)
	return p, nil
}

// Resign refreshes every signature's timestamp. Stripe's tolerance (and the
// receiver's) is 5 minutes, so a pool is re-signed before each run.
func (p *Pool) Resign(now time.Time) {
	secrets := []string{p.Secret}
	for i := range p.Events {
		p.Events[i].Signature = fixtures.Sign(p.Events[i].Payload, secrets, now)
	}
}
