package chaos

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"math"
	mrand "math/rand/v2"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/payflow/payflow/fixtures"
	"github.com/payflow/payflow/webhook"
)

// event is one distinct payment_intent.succeeded of a burst, with its own
// customer and address, so its receipt is told apart from every other.
type event struct {
	PI, Customer, Email string
	Payload             []byte
}

func newSecret() string {
	b := make([]byte, 24)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return "whsec_" + hex.EncodeToString(b)
}

// newTag keeps one run's IDs apart from every other's.
func newTag() string {
	b := make([]byte, 4)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return hex.EncodeToString(b)
}

// piPrefix is the payment intent ID prefix of a burst (Stripe-shaped: short
// ASCII).
func piPrefix(tag string) string { return "pi_ch" + tag }

func buildEvents(n int, tag string, now time.Time) ([]event, error) {
	evs := make([]event, n)
	for i := range evs {
		e := event{
			PI:       fmt.Sprintf("%s%06d", piPrefix(tag), i),
			Customer: fmt.Sprintf("cus_ch%s%06d", tag, i),
			Email:    fmt.Sprintf("chaos-%s-%d@example.com", tag, i),
		}
		var err error
		e.Payload, err = fixtures.Build("payment_intent.succeeded", fixtures.Options{
			PaymentIntentID: e.PI, CustomerID: e.Customer, Email: e.Email, Created: now})
		if err != nil {
			return nil, err
		}
		evs[i] = e
	}
	return evs, nil
}

// deliveries is what sending a burst saw.
type deliveries struct {
	Acked      []bool
	Posts      int64         // HTTP requests, first deliveries and retries
	Statuses   map[int]int64 // non-2xx answers by status
	Errors     int64         // transport errors and timeouts
	FirstError string
	Elapsed    time.Duration // first send to last acknowledgement
}

func (d *deliveries) acked() int {
	n := 0
	for _, a := range d.Acked {
		if a {
			n++
		}
	}
	return n
}

// sender delivers events to one receiver as Stripe does: each signed at
// the moment it is sent, a delivery that is not answered 2xx within the
// timeout is retried with growing back-off (Stripe's schedule, compressed
// from days into seconds) until it is acknowledged or the deadline passes.
type sender struct {
	url     string
	secret  string
	hc      *http.Client
	timeout time.Duration

	posts, errors atomic.Int64
	mu            sync.Mutex
	statuses      map[int]int64
	firstErr      string
}

func newSender(receiverURL, secret string) (*sender, error) {
	if err := checkLoopback(receiverURL[len("http://"):]); err != nil {
		return nil, err
	}
	return &sender{
		url: receiverURL + webhook.Path, secret: secret, timeout: 20 * time.Second, statuses: map[int]int64{},
		hc: &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64, IdleConnTimeout: 30 * time.Second}},
	}, nil
}

func (s *sender) note(status int, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err != nil {
		if s.firstErr == "" {
			s.firstErr = err.Error()
		}
		return
	}
	s.statuses[status]++
	if s.firstErr == "" {
		s.firstErr = fmt.Sprintf("HTTP %d", status)
	}
}

// post makes one delivery attempt; it reports whether it was acknowledged.
func (s *sender) post(ctx context.Context, e *event) bool {
	s.posts.Add(1)
	rctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(rctx, http.MethodPost, s.url, bytes.NewReader(e.Payload))
	if err != nil {
		return false
	}
	req.Header.Set("Content-Type", "application/json; charset=utf-8")
	req.Header.Set("User-Agent", "Stripe/1.0 (+https://stripe.com/docs/webhooks)")
	req.Header.Set("Stripe-Signature", fixtures.Sign(e.Payload, []string{s.secret}, time.Now()))
	resp, err := s.hc.Do(req)
	if err != nil {
		s.errors.Add(1)
		s.note(0, err)
		return false
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<16))
	resp.Body.Close()
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		return true
	}
	s.note(resp.StatusCode, nil)
	return false
}

// backoff is the wait before retry attempt (1-based): 0.5 s doubling to 8 s,
// with ±20 % jitter so retries do not arrive in lock-step.
func backoff(attempt int) time.Duration {
	d := time.Duration(float64(500*time.Millisecond) * math.Pow(2, float64(min(attempt-1, 4))))
	return time.Duration(float64(d) * (0.8 + 0.4*mrand.Float64()))
}

// send delivers evs at rate a second (open loop: event i is first sent at
// i/rate, whatever happened to the earlier ones), retrying each until it is
// acknowledged or retryFor has passed since the last first delivery.
func (s *sender) send(ctx context.Context, evs []event, rate float64, retryFor time.Duration) *deliveries {
	d := &deliveries{Acked: make([]bool, len(evs))}
	start := time.Now()
	interval := time.Duration(float64(time.Second) / rate)
	deadline := start.Add(time.Duration(len(evs))*interval + retryFor)
	var lastAck atomic.Int64
	var wg sync.WaitGroup
	for i := range evs {
		sleep(ctx, time.Until(start.Add(time.Duration(i)*interval)))
		if ctx.Err() != nil {
			break
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			for attempt := 1; ctx.Err() == nil; attempt++ {
				if s.post(ctx, &evs[i]) {
					d.Acked[i] = true // each goroutine writes its own element
					now := int64(time.Since(start))
					for {
						old := lastAck.Load()
						if now <= old || lastAck.CompareAndSwap(old, now) {
							break
						}
					}
					return
				}
				wait := backoff(attempt)
				if time.Now().Add(wait).After(deadline) {
					return
				}
				sleep(ctx, wait)
			}
		}()
	}
	wg.Wait()
	d.Posts, d.Errors = s.posts.Load(), s.errors.Load()
	s.mu.Lock()
	d.Statuses, d.FirstError = s.statuses, s.firstErr
	s.mu.Unlock()
	d.Elapsed = time.Duration(lastAck.Load())
	return d
}
