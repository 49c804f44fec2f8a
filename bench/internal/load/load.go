// Package load is the load generator of make bench: a closed-loop client
// with a fixed number of keep-alive connections, and an open-loop client at
// a fixed request rate, both posting pre-built signed Stripe events to a
// receiver on 127.0.0.1, each loop bounded by a duration.
package load

import (
	"context"
	"fmt"
	"math"
	"net"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/payflow/payflow/bench/internal/payloads"
)

// Client posts events to one receiver over at most Conns connections.
type Client struct {
	hc   *fasthttp.HostClient
	url  string
	host string
}

// CheckLoopback refuses any address that is not 127.0.0.1: the benchmark
// never sends traffic off this machine.
func CheckLoopback(addr string) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return err
	}
	if host != "127.0.0.1" {
		return fmt.Errorf("load: %s is not on 127.0.0.1; the benchmark only sends traffic to this machine", addr)
	}
	return nil
}

// NewClient returns a client of addr (127.0.0.1:port) posting to path, with
// at most conns connections.
func NewClient(addr, path string, conns int, timeout time.Duration) (*Client, error) {
	if err := CheckLoopback(addr); err != nil {
		return nil, err
	}
	return &Client{
		hc: &fasthttp.HostClient{
			Addr:                          addr,
			MaxConns:                      conns,
			MaxConnWaitTimeout:            timeout,
			ReadTimeout:                   timeout,
			WriteTimeout:                  timeout,
			MaxIdleConnDuration:           time.Minute,
			NoDefaultUserAgentHeader:      true,
			DisableHeaderNamesNormalizing: true,
		},
		url:  "http://" + addr + path,
		host: addr,
	}, nil
}

// Close drops the idle connections.
func (c *Client) Close() { c.hc.CloseIdleConnections() }

// Post sends one event and returns the HTTP status.
func (c *Client) Post(ev *payloads.Event) (int, error) {
	req := fasthttp.AcquireRequest()
	resp := fasthttp.AcquireResponse()
	defer fasthttp.ReleaseRequest(req)
	defer fasthttp.ReleaseResponse(resp)
	c.fill(req, ev)
	if err := c.hc.Do(req, resp); err != nil {
		return 0, err
	}
	return resp.StatusCode(), nil
}

func (c *Client) fill(req *fasthttp.Request, ev *payloads.Event) {
	req.SetRequestURI(c.url)
	req.Header.SetMethod(fasthttp.MethodPost)
	req.Header.SetContentType("application/json; charset=utf-8")
	req.Header.Set("User-Agent", "Stripe/1.0 (+https://stripe.com/docs/webhooks)")
	req.Header.Set("Stripe-Signature", ev.Signature)
	req.SetBodyRaw(ev.Payload)
}

// Sample is what one run measured.
type Sample struct {
	OK, Non2xx, Errors int64
	Late               int64 // open loop: requests not sent because every connection was busy for a whole second
	Elapsed            time.Duration
	Latencies          []time.Duration // of the 2xx responses
	FirstError         string
}

// RPS is 2xx responses a second.
func (s Sample) RPS() float64 {
	if s.Elapsed <= 0 {
		return 0
	}
	return float64(s.OK) / s.Elapsed.Seconds()
}

type worker struct {
	lat                []time.Duration
	ok, non2xx, errors int64
	firstErr           string
}

func (w *worker) do(c *Client, req *fasthttp.Request, resp *fasthttp.Response, ev *payloads.Event, start time.Time) {
	c.fill(req, ev)
	err := c.hc.Do(req, resp)
	d := time.Since(start)
	switch {
	case err != nil:
		w.errors++
		if w.firstErr == "" {
			w.firstErr = err.Error()
		}
	case resp.StatusCode() >= 200 && resp.StatusCode() < 300:
		w.ok++
		w.lat = append(w.lat, d)
	default:
		w.non2xx++
		if w.firstErr == "" {
			w.firstErr = fmt.Sprintf("HTTP %d: %.200s", resp.StatusCode(), resp.Body())
		}
	}
}

func merge(ws []*worker, elapsed time.Duration) Sample {
	s := Sample{Elapsed: elapsed}
	n := 0
	for _, w := range ws {
		n += len(w.lat)
	}
	s.Latencies = make([]time.Duration, 0, n)
	for _, w := range ws {
		s.OK += w.ok
		s.Non2xx += w.non2xx
		s.Errors += w.errors
		s.Latencies = append(s.Latencies, w.lat...)
		if s.FirstError == "" {
			s.FirstError = w.firstErr
		}
	}
	slices.Sort(s.Latencies)
	return s
}

// ClosedLoop runs conns workers, each sending the pool's events one after
// the other (next picks the event) until dur has passed.
func (c *Client) ClosedLoop(ctx context.Context, conns int, dur time.Duration, pool *payloads.Pool, next *atomic.Uint64) Sample {
	ws := make([]*worker, conns)
	start := time.Now()
	deadline := start.Add(dur)
	var wg sync.WaitGroup
	for i := range ws {
		w := &worker{lat: make([]time.Duration, 0, 1<<14)}
		ws[i] = w
		wg.Add(1)
		go func() {
			defer wg.Done()
			req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
			defer fasthttp.ReleaseRequest(req)
			defer fasthttp.ReleaseResponse(resp)
			for ctx.Err() == nil {
				t := time.Now()
				if !t.Before(deadline) {
					return
				}
				ev := &pool.Events[next.Add(1)%uint64(len(pool.Events))]
				w.do(c, req, resp, ev, t)
			}
		}()
	}
	wg.Wait()
	return merge(ws, time.Since(start))
}

// FixedRate sends rate requests a second for dur over at most conns
// connections (open loop). Each latency is measured from the moment the
// request was handed to the senders, not from when a connection became free,
// so a server that falls behind is charged for the queue it causes (no
// coordinated omission); the dispatcher's own timer jitter (the Go runtime
// sleeps in whole milliseconds) is left out.
func (c *Client) FixedRate(ctx context.Context, rate, conns int, dur time.Duration, pool *payloads.Pool, next *atomic.Uint64) Sample {
	type job struct{ due time.Time } // when the request was dispatched
	jobs := make(chan job, rate)     // one second of backlog
	ws := make([]*worker, conns)
	var wg sync.WaitGroup
	for i := range ws {
		w := &worker{lat: make([]time.Duration, 0, 1<<12)}
		ws[i] = w
		wg.Add(1)
		go func() {
			defer wg.Done()
			req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
			defer fasthttp.ReleaseRequest(req)
			defer fasthttp.ReleaseResponse(resp)
			for j := range jobs {
				ev := &pool.Events[next.Add(1)%uint64(len(pool.Events))]
				w.do(c, req, resp, ev, j.due)
			}
		}()
	}
	start := time.Now()
	interval := time.Second / time.Duration(rate)
	total := int(dur / interval)
	var late int64
	sent := 0
	for sent < total && ctx.Err() == nil {
		now := time.Now()
		for sent < total {
			due := start.Add(time.Duration(sent) * interval)
			if due.After(now) {
				break
			}
			select {
			case jobs <- job{due: now}:
			default:
				late++
			}
			sent++
		}
		time.Sleep(100 * time.Microsecond)
	}
	close(jobs)
	wg.Wait()
	s := merge(ws, time.Since(start))
	s.Late = late
	// The rate achieved is the rate asked for, unless the server fell behind.
	return s
}

// Percentile returns the p-th percentile (0..100) of sorted durations.
func Percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	// Nearest rank: the smallest value with at least p% of the samples at
	// or below it.
	i := int(math.Ceil(float64(len(sorted))*p/100)) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}
