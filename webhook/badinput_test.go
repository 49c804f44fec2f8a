package webhook_test

// The bad-input suite: what an attacker (or a broken proxy) can send to the
// public port, through a real listener on 127.0.0.1, with the receiver's
// production limits. Each case states the answer and that nothing reached
// the hand-off; the suite logs the highest heap and RSS it saw.

import (
	"bufio"
	"bytes"
	"compress/flate"
	"compress/gzip"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/payflow/payflow/fixtures"
	"github.com/payflow/payflow/webhook"
)

// live is a receiver on a real listener.
type live struct {
	addr    string
	srv     *webhook.Server
	handoff *recorder
	reg     *prometheus.Registry
}

func startLive(t testing.TB, configure func(*webhook.Server)) *live {
	t.Helper()
	h := &recorder{}
	reg := prometheus.NewRegistry()
	srv := &webhook.Server{
		Verifier: &webhook.Verifier{Secrets: []string{secretOld}},
		Handoff:  h,
		Log:      slog.New(slog.NewTextHandler(io.Discard, nil)),
		Metrics:  webhook.NewMetrics(reg),
	}
	if configure != nil {
		configure(srv)
	}
	app := srv.App()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = app.Listener(ln) }()
	t.Cleanup(func() { _ = app.ShutdownWithTimeout(5 * time.Second) })
	return &live{addr: ln.Addr().String(), srv: srv, handoff: h, reg: reg}
}

func (l *live) outcome(typ, outcome string) float64 {
	return deliveries(l.reg, typ, outcome)
}

// deliveries reads payflow_webhook_deliveries_total{type,outcome} from reg.
func deliveries(reg prometheus.Gatherer, typ, outcome string) float64 {
	mfs, err := reg.Gather()
	if err != nil {
		panic(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "payflow_webhook_deliveries_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			labels := map[string]string{}
			for _, lp := range m.GetLabel() {
				labels[lp.GetName()] = lp.GetValue()
			}
			if labels["type"] == typ && labels["outcome"] == outcome {
				return m.GetCounter().GetValue()
			}
		}
	}
	return 0
}

// rawRequest is one request written byte for byte after the request line:
// the header lines of head, a Content-Length unless head has one or a
// Transfer-Encoding, the blank line (unless unterminated: a head that
// never ends), and body. Then it waits for the server's verdict.
type rawRequest struct {
	method       string
	head         []string // header lines
	body         []byte
	unterminated bool
}

type rawResponse struct {
	status int
	header http.Header
	body   []byte
	err    error // the server closed without an answer, or a timeout
}

func (l *live) do(t testing.TB, r rawRequest) rawResponse {
	t.Helper()
	conn, err := net.DialTimeout("tcp", l.addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(20 * time.Second))
	method := r.method
	if method == "" {
		method = http.MethodPost
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, "%s %s HTTP/1.1\r\nHost: payflow\r\n", method, webhook.Path)
	framed := false
	for _, h := range r.head {
		lower := strings.ToLower(h)
		framed = framed || strings.HasPrefix(lower, "content-length:") || strings.HasPrefix(lower, "transfer-encoding:")
		b.WriteString(h + "\r\n")
	}
	if r.unterminated {
		b.WriteString("X-Slow: 1\r\n")
	} else {
		if !framed && (len(r.body) > 0 || method == http.MethodPost) {
			fmt.Fprintf(&b, "Content-Length: %d\r\n", len(r.body))
		}
		b.WriteString("\r\n")
		b.Write(r.body)
	}
	// The server may answer (413, 415, 431) and close before reading all we
	// send; a write error then is expected, the answer is what counts.
	_, _ = conn.Write(b.Bytes())
	resp, err := http.ReadResponse(bufio.NewReader(conn), &http.Request{Method: method})
	if err != nil {
		return rawResponse{err: err}
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return rawResponse{status: resp.StatusCode, header: resp.Header, body: body}
}

// count is the number of deliveries so far. (The test reads it after an
// answer came over TCP, a synchronisation the race detector cannot see.)
func (r *recorder) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.delivered)
}

// typeOf reads an event's type (for the metric label it is counted under).
func (r *recorder) typeOf(body []byte) string {
	ev, err := webhook.Decode(body)
	if err != nil {
		return "other"
	}
	return ev.Type
}

// memWatch samples the Go heap while a test runs.
type memWatch struct {
	stop     chan struct{}
	done     chan struct{}
	peakHeap atomic.Uint64
	before   runtime.MemStats
}

func watchMemory() *memWatch {
	w := &memWatch{stop: make(chan struct{}), done: make(chan struct{})}
	runtime.GC()
	runtime.ReadMemStats(&w.before)
	w.peakHeap.Store(w.before.HeapAlloc)
	go func() {
		defer close(w.done)
		tick := time.NewTicker(5 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-w.stop:
				return
			case <-tick.C:
				var m runtime.MemStats
				runtime.ReadMemStats(&m)
				if m.HeapAlloc > w.peakHeap.Load() {
					w.peakHeap.Store(m.HeapAlloc)
				}
			}
		}
	}()
	return w
}

// finish returns the peak heap above the starting heap and the bytes
// allocated meanwhile.
func (w *memWatch) finish() (peakAbove, allocated uint64) {
	close(w.stop)
	<-w.done
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	peak := w.peakHeap.Load()
	if peak < w.before.HeapAlloc {
		peak = w.before.HeapAlloc
	}
	return peak - w.before.HeapAlloc, m.TotalAlloc - w.before.TotalAlloc
}

// procStatus reads VmRSS and VmHWM (peak RSS) of this process, in bytes
// (Linux only; zero elsewhere).
func procStatus() (rss, peak uint64) {
	raw, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0, 0
	}
	for _, line := range strings.Split(string(raw), "\n") {
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		n, _ := strconv.ParseUint(f[1], 10, 64)
		switch f[0] {
		case "VmRSS:":
			rss = n << 10
		case "VmHWM:":
			peak = n << 10
		}
	}
	return rss, peak
}

const mib = 1 << 20

// gzipBomb is size zero bytes compressed as many times as there are
// layers: 10 MB of zeros gzipped twice is a few hundred bytes.
func gzipBomb(t testing.TB, size int, layers int) []byte {
	t.Helper()
	var in bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&in, gzip.BestCompression)
	zeros := make([]byte, 64<<10)
	for n := 0; n < size; n += len(zeros) {
		if _, err := zw.Write(zeros[:min(len(zeros), size-n)]); err != nil {
			t.Fatal(err)
		}
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	out := in.Bytes()
	for i := 1; i < layers; i++ {
		var b bytes.Buffer
		zw, _ := gzip.NewWriterLevel(&b, gzip.BestCompression)
		_, _ = zw.Write(out)
		_ = zw.Close()
		out = b.Bytes()
	}
	return out
}

func compress(t testing.TB, b []byte, deflate bool) []byte {
	t.Helper()
	var out bytes.Buffer
	var w io.WriteCloser
	if deflate {
		w, _ = flate.NewWriter(&out, flate.BestCompression)
	} else {
		w = gzip.NewWriter(&out)
	}
	_, _ = w.Write(b)
	_ = w.Close()
	return out.Bytes()
}

// padTo grows a JSON event to exactly n bytes with whitespace before its
// closing brace (still the same event).
func padTo(t testing.TB, b []byte, n int) []byte {
	t.Helper()
	b = bytes.TrimRight(b, " \n")
	if len(b) > n || b[len(b)-1] != '}' {
		t.Fatalf("cannot pad %d bytes to %d", len(b), n)
	}
	out := make([]byte, 0, n)
	out = append(out, b[:len(b)-1]...)
	out = append(out, bytes.Repeat([]byte(" "), n-len(b))...)
	return append(out, '}')
}

func sigHeader(body []byte) string {
	return "Stripe-Signature: " + sign(body, secretOld)
}

// forged is a well-formed, current header whose signature is wrong.
func forged() string {
	return "Stripe-Signature: t=" + strconv.FormatInt(time.Now().Unix(), 10) + ",v1=" + strings.Repeat("0", 64)
}

// TestBadInputSuite: every hostile request the public port can see.
func TestBadInputSuite(t *testing.T) {
	const bombSize = 10 * 1000 * 1000
	bomb := gzipBomb(t, bombSize, 2)
	t.Logf("gzip bomb: %d bytes inflating to %d", len(bomb), bombSize)

	good := event(t, "payment_intent.succeeded", fixtures.Options{PaymentIntentID: "pi_suite", CustomerID: "cus_suite"})
	gz := compress(t, good, false)
	atLimit := padTo(t, good, webhook.DefaultBodyLimit)
	overLimit := padTo(t, good, webhook.DefaultBodyLimit+1)

	// JSON bombs inside the limit, signed (verified, then read) and not.
	deep := []byte(`{"id":"evt_deep","object":"event","type":"payment_intent.succeeded","data":{"object":{"id":"pi_deep","object":"payment_intent","metadata":` +
		strings.Repeat("[", 500_000) + strings.Repeat("]", 500_000) + `}}}`)
	var items strings.Builder
	items.WriteString(`{"id":"evt_items","object":"event","type":"customer.subscription.updated","created":1,"data":{"object":{"id":"sub_items","object":"subscription","customer":"cus_items","status":"active","items":{"data":[{"price":{"id":"price_1","product":"prod_1"}}`)
	for items.Len() < webhook.DefaultBodyLimit-200 {
		items.WriteString(`,{"price":{"id":"price_x","product":"prod_x"}}`)
	}
	items.WriteString(`]}}}}`)
	hugeArray := []byte(items.String())
	var meta strings.Builder
	meta.WriteString(`{"id":"evt_meta","object":"event","type":"payment_intent.succeeded","created":1,"data":{"object":{"id":"pi_meta","object":"payment_intent","customer":"cus_meta","amount":100,"metadata":{"product":"prod_meta"`)
	for i := 0; meta.Len() < webhook.DefaultBodyLimit-200; i++ {
		fmt.Fprintf(&meta, `,"k%d":"v"`, i)
	}
	meta.WriteString(`}}}}`)
	hugeMap := []byte(meta.String())
	// Invalid UTF-8: raw bytes in an ID, and in a free-text field.
	badIDUTF8 := bytes.Replace(good, []byte(`"pi_suite"`), []byte("\"pi_\xff\xfe\""), -1)
	badTextUTF8 := bytes.Replace(good, []byte(`"description": null`), []byte("\"description\": \"caf\xe9 \xff\""), 1)
	if bytes.Equal(badTextUTF8, good) || bytes.Equal(badIDUTF8, good) {
		t.Fatal("fixture layout changed: cannot inject invalid UTF-8")
	}
	// A signature header of a hundred v1 values, the last one valid.
	var manySigs strings.Builder
	manySigs.WriteString(sign(good, secretOld))
	for i := 0; i < 100; i++ {
		manySigs.WriteString(",v1=" + strings.Repeat(fmt.Sprintf("%02x", i), 32))
	}

	type tc struct {
		name      string
		req       rawRequest
		status    int
		delivered int
		outcome   string // the outcome counted, under type "other" unless delivered
	}
	cases := []tc{
		{name: "gzip bomb, gzip twice", req: rawRequest{head: []string{"Content-Encoding: gzip, gzip", "Stripe-Signature: t=1,v1=00"}, body: bomb}, status: 415, outcome: "rejected_encoding"},
		{name: "gzip bomb, once", req: rawRequest{head: []string{"Content-Encoding: gzip"}, body: gzipBomb(t, bombSize, 1)}, status: 415, outcome: "rejected_encoding"},
		{name: "gzip, signed over the inflated event", req: rawRequest{head: []string{"Content-Encoding: gzip", sigHeader(good)}, body: gz}, status: 415, outcome: "rejected_encoding"},
		{name: "gzip, signed over the compressed bytes", req: rawRequest{head: []string{"Content-Encoding: gzip", sigHeader(gz)}, body: gz}, status: 415, outcome: "rejected_encoding"},
		{name: "deflate", req: rawRequest{head: []string{"Content-Encoding: deflate", sigHeader(good)}, body: compress(t, good, true)}, status: 415, outcome: "rejected_encoding"},
		{name: "br", req: rawRequest{head: []string{"Content-Encoding: br", sigHeader(good)}, body: good}, status: 415, outcome: "rejected_encoding"},
		{name: "upper-case GZIP", req: rawRequest{head: []string{"Content-Encoding: GZIP", sigHeader(gz)}, body: gz}, status: 415, outcome: "rejected_encoding"},
		{name: "identity then gzip in one header", req: rawRequest{head: []string{"Content-Encoding: identity, gzip", sigHeader(gz)}, body: gz}, status: 415, outcome: "rejected_encoding"},
		{name: "identity and gzip in two headers", req: rawRequest{head: []string{"Content-Encoding: identity", "Content-Encoding: gzip", sigHeader(gz)}, body: gz}, status: 415, outcome: "rejected_encoding"},
		{name: "identity is plain", req: rawRequest{head: []string{"Content-Encoding: identity", sigHeader(good)}, body: good}, status: 200, delivered: 1, outcome: "accepted"},
		{name: "body exactly at the limit", req: rawRequest{head: []string{sigHeader(atLimit)}, body: atLimit}, status: 200, delivered: 1, outcome: "accepted"},
		{name: "body one byte over the limit", req: rawRequest{head: []string{sigHeader(overLimit)}, body: overLimit}, status: 413, outcome: "rejected_too_large"},
		{name: "announced 1 GB, sent 10 bytes", req: rawRequest{head: []string{"Content-Length: 1000000000", sigHeader(good)}, body: good[:10]}, status: 413, outcome: "rejected_too_large"},
		{name: "chunked over the limit", req: rawRequest{head: []string{"Transfer-Encoding: chunked", sigHeader(overLimit)},
			body: []byte(fmt.Sprintf("%x\r\n%s\r\n0\r\n\r\n", len(overLimit), overLimit))}, status: 413, outcome: "rejected_too_large"},
		{name: "slowloris: half a body, then silence", req: rawRequest{head: []string{"Content-Length: 1000", sigHeader(good)}, body: good[:500]}, status: 408, outcome: "rejected_timeout"},
		{name: "slowloris: headers never end", req: rawRequest{head: []string{sigHeader(good)}, unterminated: true}, status: 408, outcome: "rejected_timeout"},
		{name: "JSON nested 500,000 deep, signed", req: rawRequest{head: []string{sigHeader(deep)}, body: deep}, status: 400, outcome: "rejected_malformed"},
		{name: "JSON nested 500,000 deep, unsigned", req: rawRequest{head: []string{forged()}, body: deep}, status: 400, outcome: "rejected_signature"},
		{name: "array of 20,000 items, signed", req: rawRequest{head: []string{sigHeader(hugeArray)}, body: hugeArray}, status: 200, delivered: 1, outcome: "accepted"},
		{name: "metadata of 80,000 keys, signed", req: rawRequest{head: []string{sigHeader(hugeMap)}, body: hugeMap}, status: 200, delivered: 1, outcome: "accepted"},
		{name: "head over 16 KiB", req: rawRequest{head: []string{"X-Pad: " + strings.Repeat("a", 20<<10), sigHeader(good)}, body: good}, status: 431, outcome: "rejected_header_too_large"},
		{name: "Stripe-Signature with 100 v1, one valid", req: rawRequest{head: []string{"Stripe-Signature: " + manySigs.String()}, body: good}, status: 200, delivered: 1, outcome: "accepted"},
		{name: "invalid UTF-8 in the signature header", req: rawRequest{head: []string{"Stripe-Signature: t=\xff\xfe,v1=\xc3"}, body: good}, status: 400, outcome: "rejected_header"},
		{name: "invalid UTF-8 in an ID, signed", req: rawRequest{head: []string{sigHeader(badIDUTF8)}, body: badIDUTF8}, status: 400, outcome: "rejected_malformed"},
		{name: "invalid UTF-8 in free text, signed (read as U+FFFD)", req: rawRequest{head: []string{sigHeader(badTextUTF8)}, body: badTextUTF8}, status: 200, delivered: 1, outcome: "accepted"},
	}
	for _, m := range []string{http.MethodGet, http.MethodHead, http.MethodPut, http.MethodPatch, http.MethodDelete, http.MethodOptions, http.MethodTrace} {
		cases = append(cases, tc{name: m, req: rawRequest{method: m, head: []string{sigHeader(good)}}, status: 405, outcome: "rejected_method"})
	}

	l := startLive(t, func(s *webhook.Server) { s.ReadTimeout = time.Second })
	mem := watchMemory()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			before := l.handoff.count()
			typ := "other"
			if c.delivered > 0 {
				typ = l.handoff.typeOf(c.req.body)
			}
			counted := 0.0
			if c.outcome != "" {
				counted = l.outcome(typ, c.outcome)
			}
			start := time.Now()
			r := l.do(t, c.req)
			// A stalled request is cut off by the read timeout (1 s here).
			if d := time.Since(start); c.status == http.StatusRequestTimeout && d > 5*time.Second {
				t.Fatalf("stalled request held the connection %s", d)
			}
			switch {
			case r.err != nil:
				t.Fatalf("no answer: %v", r.err)
			case r.status != c.status:
				t.Fatalf("status %d, want %d (%s)", r.status, c.status, r.body)
			}
			if c.status == 405 && r.header.Get("Allow") != http.MethodPost {
				t.Errorf("405 with Allow %q, want POST", r.header.Get("Allow"))
			}
			if got := l.handoff.count() - before; got != c.delivered {
				t.Errorf("delivered %d, want %d", got, c.delivered)
			}
			if c.outcome != "" {
				if got := l.outcome(typ, c.outcome); got != counted+1 {
					t.Errorf("outcome %s counted %v times, want once", c.outcome, got-counted)
				}
			}
		})
	}
	peak, allocated := mem.finish()
	rss, hwm := procStatus()
	t.Logf("bad-input suite: heap peak %.1f MiB above its start, %.1f MiB allocated in all; RSS now %.1f MiB, peak RSS of the test process %.1f MiB",
		float64(peak)/mib, float64(allocated)/mib, float64(rss)/mib, float64(hwm)/mib)
	if peak > 64*mib {
		t.Errorf("heap grew %.1f MiB during the suite: some input is amplified", float64(peak)/mib)
	}
}

// TestCompressedBodyNeverInflated: a stream of "Content-Encoding: gzip,
// gzip" bombs (10 MB of zeros each) costs the receiver almost nothing: the
// body is never inflated (Fiber's c.Body() would inflate it before
// verification, and RSS would grow by gigabytes).
func TestCompressedBodyNeverInflated(t *testing.T) {
	const bombSize = 10 * 1000 * 1000
	const requests, parallel = 64, 8
	bomb := gzipBomb(t, bombSize, 2)
	l := startLive(t, nil)
	mem := watchMemory()
	var wg sync.WaitGroup
	var failed atomic.Int32
	statuses := make(chan int, requests)
	for p := 0; p < parallel; p++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < requests/parallel; i++ {
				r := l.do(t, rawRequest{head: []string{"Content-Encoding: gzip, gzip", "Stripe-Signature: t=1,v1=00"}, body: bomb})
				if r.err != nil {
					failed.Add(1)
					continue
				}
				statuses <- r.status
			}
		}()
	}
	wg.Wait()
	close(statuses)
	peak, allocated := mem.finish()
	_, hwm := procStatus()
	t.Logf("%d bombs of %d bytes (inflating to %d each): heap peak +%.2f MiB, %.2f MiB allocated, peak RSS %.1f MiB",
		requests, len(bomb), bombSize, float64(peak)/mib, float64(allocated)/mib, float64(hwm)/mib)
	if failed.Load() > 0 {
		t.Fatalf("%d requests got no answer", failed.Load())
	}
	for s := range statuses {
		if s != http.StatusUnsupportedMediaType {
			t.Fatalf("answered %d, want 415", s)
		}
	}
	if got := l.outcome("other", "rejected_encoding"); got != requests {
		t.Errorf("rejected_encoding counted %v, want %d", got, requests)
	}
	// All the bombs together allocate less than one of them inflated.
	if allocated > bombSize {
		t.Errorf("%.1f MiB allocated for %d compressed requests of %d bytes: bodies are being inflated", float64(allocated)/mib, requests, len(bomb))
	}
	if peak > 8*mib {
		t.Errorf("heap peaked %.1f MiB above its start", float64(peak)/mib)
	}
}

// TestMemoryBoundPerConnection measures what the README states: each
// connection holding a body costs about the body's size (fasthttp reserves
// the announced Content-Length, up to the limit), so the receiver's memory
// is bounded by WEBHOOK_MAX_BODY × the connection limit plus a fixed
// overhead; connections over the limit are refused with 503.
func TestMemoryBoundPerConnection(t *testing.T) {
	const conns = 24
	const limit = webhook.DefaultBodyLimit
	l := startLive(t, func(s *webhook.Server) { s.MaxConns = conns; s.ReadTimeout = 10 * time.Second })
	mem := watchMemory()
	open := make([]net.Conn, 0, conns)
	defer func() {
		for _, c := range open {
			c.Close()
		}
	}()
	// Each connection announces a body at the limit and sends all of it but
	// the last byte, so the server holds it (the worst case the limit
	// allows), until the read timeout.
	chunk := bytes.Repeat([]byte("a"), limit-1)
	for i := 0; i < conns; i++ {
		c, err := net.DialTimeout("tcp", l.addr, 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		open = append(open, c)
		fmt.Fprintf(c, "POST %s HTTP/1.1\r\nHost: payflow\r\nStripe-Signature: t=1,v1=00\r\nContent-Length: %d\r\n\r\n", webhook.Path, limit)
		if _, err := c.Write(chunk); err != nil {
			t.Fatal(err)
		}
	}
	// One more connection is over the limit: fasthttp answers 503 at once.
	extra, err := net.DialTimeout("tcp", l.addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer extra.Close()
	_ = extra.SetDeadline(time.Now().Add(5 * time.Second))
	fmt.Fprintf(extra, "POST %s HTTP/1.1\r\nHost: payflow\r\nContent-Length: 2\r\n\r\n{}", webhook.Path)
	resp, err := http.ReadResponse(bufio.NewReader(extra), nil)
	if err != nil {
		t.Fatalf("connection over the limit: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("connection over the limit answered %d, want 503", resp.StatusCode)
	}
	time.Sleep(300 * time.Millisecond) // let the server read what was sent
	peak, _ := mem.finish()
	_, hwm := procStatus()
	per := float64(peak) / conns
	t.Logf("%d connections each holding a %d-byte body: heap +%.1f MiB (%.2f MiB a connection); peak RSS of the test process %.1f MiB",
		conns, limit, float64(peak)/mib, per/mib, float64(hwm)/mib)
	if max := uint64(conns)*(limit+limit/2) + 16*mib; peak > max {
		t.Errorf("heap grew %.1f MiB, above the stated bound of %.1f MiB", float64(peak)/mib, float64(max)/mib)
	}
}
