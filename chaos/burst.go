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
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/payflow/payflow/fixtures"
	"github.com/payflow/payflow/routing"
	"github.com/payflow/payflow/webhook"
)

// event is one distinct event of a burst: a payment_intent.succeeded with
// its own customer and address, so its receipt is told apart from every
// other; or (a storm, Topology.Subscriptions) an invoice.paid of one of a
// few subscriptions, each of whose invoices has a receipt of its own.
type event struct {
	PI, Customer, Email string
	Sub, Invoice        string // an invoice.paid: PI is empty
	Payload             []byte
}

// isInvoice says whether e is a subscription's invoice.paid.
func (e *event) isInvoice() bool { return e.Invoice != "" }

// receiptKey is the dedupe key of the one email the event must cause.
func (e *event) receiptKey() string {
	if e.isInvoice() {
		return routing.SubscriptionID(e.Sub) + "/invoice/" + e.Invoice + "/receipt"
	}
	return routing.OrderID(e.PI) + "/receipt"
}

// name is the event's object, for reports.
func (e *event) name() string {
	if e.isInvoice() {
		return e.Invoice
	}
	return e.PI
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

// invoicePrefix is the invoice ID prefix of a burst.
func invoicePrefix(tag string) string { return "in_ch" + tag }

// buildEvents makes n distinct events: subs×invoices invoice.paid (each
// subscription's first invoice creates it, the others renew it) and the
// rest payment_intent.succeeded.
func buildEvents(n int, tag string, now time.Time, subs, invoices int) ([]event, error) {
	if subs*invoices > n {
		return nil, fmt.Errorf("%d subscriptions × %d invoices is more than the %d events of the burst", subs, invoices, n)
	}
	evs := make([]event, n)
	k := 0
	for s := range subs {
		for j := range invoices {
			e := event{
				Sub:      fmt.Sprintf("sub_ch%s%04d", tag, s),
				Invoice:  fmt.Sprintf("%s%04d_%02d", invoicePrefix(tag), s, j),
				Customer: fmt.Sprintf("cus_chs%s%04d", tag, s),
				Email:    fmt.Sprintf("chaos-sub-%s-%d@example.com", tag, s),
			}
			reason := "subscription_cycle"
			if j == 0 {
				reason = "subscription_create"
			}
			var err error
			e.Payload, err = fixtures.Build("invoice.paid", fixtures.Options{
				SubscriptionID: e.Sub, InvoiceID: e.Invoice, CustomerID: e.Customer, Email: e.Email,
				ProductID: "prod_chaos", BillingReason: reason,
				// Later invoices of a subscription were created later.
				Created: now.Add(-time.Duration(invoices-j) * time.Hour)})
			if err != nil {
				return nil, err
			}
			evs[k] = e
			k++
		}
	}
	for i := k; i < n; i++ {
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

// delivery is one delivery of an event as Stripe makes it: retried until
// acknowledged. A storm delivers each event several times over, each copy
// a delivery of its own.
type delivery struct {
	event, copy int
}

// schedule is the order of first deliveries: every event copies times, in
// event order, or shuffled with seed (the copies of one event then arrive
// anywhere in the burst, and a subscription's invoices in any order).
func schedule(n, copies int, shuffle bool, seed uint64) []delivery {
	out := make([]delivery, 0, n*copies)
	for c := range copies {
		for i := range n {
			out = append(out, delivery{i, c})
		}
	}
	if shuffle {
		r := mrand.New(mrand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
		r.Shuffle(len(out), func(i, j int) { out[i], out[j] = out[j], out[i] })
	}
	return out
}

// deliveries is what sending a burst saw.
type deliveries struct {
	Acked      []bool        // per event: some delivery of it was acknowledged
	Posts      int64         // HTTP requests, first deliveries and retries
	Statuses   map[int]int64 // non-2xx answers by status
	Errors     int64         // transport errors and timeouts
	FirstError string
	Elapsed    time.Duration // first send to last acknowledgement
	// PerReceiver counts the acknowledgements each receiver gave.
	PerReceiver []int64
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

// sender delivers events to the receivers as Stripe does: each signed at
// the moment it is sent, a delivery that is not answered 2xx within the
// timeout is retried with growing back-off (Stripe's schedule, compressed
// from days into seconds) until it is acknowledged or the deadline passes.
// With several receivers (behind a load balancer, in production), a
// delivery's copy c goes first to receiver c, each retry to the next.
type sender struct {
	urls    []string
	secret  string
	hc      *http.Client
	timeout time.Duration

	posts, errors atomic.Int64
	mu            sync.Mutex
	statuses      map[int]int64
	firstErr      string
}

func newSender(receiverURLs []string, secret string) (*sender, error) {
	s := &sender{
		secret: secret, timeout: 20 * time.Second, statuses: map[int]int64{},
		hc: &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64, IdleConnTimeout: 30 * time.Second}},
	}
	for _, u := range receiverURLs {
		if err := checkLoopback(strings.TrimPrefix(u, "http://")); err != nil {
			return nil, err
		}
		s.urls = append(s.urls, u+webhook.Path)
	}
	if len(s.urls) == 0 {
		return nil, fmt.Errorf("no receiver")
	}
	return s, nil
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

// post makes one delivery attempt to receiver r; it reports whether it was
// acknowledged.
func (s *sender) post(ctx context.Context, e *event, r int) bool {
	s.posts.Add(1)
	rctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(rctx, http.MethodPost, s.urls[r], bytes.NewReader(e.Payload))
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

// send makes the deliveries of plan at rate a second (open loop: delivery
// i is first sent at i/rate, whatever happened to the earlier ones),
// retrying each until it is acknowledged or retryFor has passed since the
// last first delivery.
func (s *sender) send(ctx context.Context, evs []event, plan []delivery, rate float64, retryFor time.Duration) *deliveries {
	d := &deliveries{Acked: make([]bool, len(evs)), PerReceiver: make([]int64, len(s.urls))}
	var mu sync.Mutex // Acked and PerReceiver: copies of one event run at once
	start := time.Now()
	interval := time.Duration(float64(time.Second) / rate)
	deadline := start.Add(time.Duration(len(plan))*interval + retryFor)
	var lastAck atomic.Int64
	var wg sync.WaitGroup
	for i, dl := range plan {
		sleep(ctx, time.Until(start.Add(time.Duration(i)*interval)))
		if ctx.Err() != nil {
			break
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			for attempt := 1; ctx.Err() == nil; attempt++ {
				r := (dl.copy + attempt - 1) % len(s.urls)
				if s.post(ctx, &evs[dl.event], r) {
					mu.Lock()
					d.Acked[dl.event] = true
					d.PerReceiver[r]++
					mu.Unlock()
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
