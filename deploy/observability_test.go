package deploy_test

// These tests hold the Prometheus rules (deploy/prometheus) and the Grafana
// dashboard (deploy/grafana) to the metrics payflow really exports:
//
//   - the receiver's metrics are scraped from a real `payflow serve` (the
//     binary, with the registry cmd/payflow builds), after deliveries that
//     make it count; the outcomes it can count are enumerated by driving an
//     in-process webhook.Server through every path;
//   - the worker's metrics come from the same registries `payflow worker`
//     builds (Go and process collectors, activities.NewMetrics, the Temporal
//     SDK bridged through tally with Prometheus naming), fed with every
//     metric the workflows emit (read from workflows/*.go) and every metric
//     the Temporal SDK defines (read from the SDK's source, the version in
//     go.mod);
//
// and every metric, label and enumerable label value an alert, a recording
// rule or a dashboard panel uses must be among them. A metric renamed in
// the code fails here.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/uber-go/tally/v4"
	tallyprom "github.com/uber-go/tally/v4/prometheus"
	"go.temporal.io/api/serviceerror"
	sdktally "go.temporal.io/sdk/contrib/tally"
	"go.yaml.in/yaml/v3"

	"github.com/payflow/payflow"
	"github.com/payflow/payflow/activities"
	"github.com/payflow/payflow/fixtures"
	"github.com/payflow/payflow/routing"
	"github.com/payflow/payflow/webhook"
)

const (
	alertsPath     = "prometheus/payflow-alerts.yaml"
	alertTestsPath = "prometheus/payflow-alerts.test.yaml"
	dashboardPath  = "grafana/payflow-dashboard.json"
	readmePath     = "../README.md"
	runbookPrefix  = "https://github.com/payflow/payflow/blob/main/README.md#"

	serveJob  = "payflow-receiver"
	workerJob = "payflow-worker"
)

// targetLabels are attached by Prometheus to every scraped series.
var targetLabels = map[string]bool{"job": true, "instance": true}

// --- the rules and the dashboard -----------------------------------------

type ruleFile struct {
	Groups []struct {
		Name  string `yaml:"name"`
		Rules []rule `yaml:"rules"`
	} `yaml:"groups"`
}

type rule struct {
	Record      string            `yaml:"record"`
	Alert       string            `yaml:"alert"`
	Expr        string            `yaml:"expr"`
	For         *string           `yaml:"for"`
	Labels      map[string]string `yaml:"labels"`
	Annotations map[string]string `yaml:"annotations"`
}

func loadRules(t *testing.T) []rule {
	t.Helper()
	raw, err := os.ReadFile(alertsPath)
	if err != nil {
		t.Fatal(err)
	}
	var f ruleFile
	if err := yaml.Unmarshal(raw, &f); err != nil {
		t.Fatalf("%s: %v", alertsPath, err)
	}
	var rules []rule
	for _, g := range f.Groups {
		rules = append(rules, g.Rules...)
	}
	if len(rules) == 0 {
		t.Fatalf("%s: no rules", alertsPath)
	}
	return rules
}

type dashboard struct {
	Title         string  `json:"title"`
	UID           string  `json:"uid"`
	SchemaVersion int     `json:"schemaVersion"`
	Panels        []panel `json:"panels"`
	Templating    struct {
		List []struct {
			Name  string `json:"name"`
			Type  string `json:"type"`
			Query any    `json:"query"`
		} `json:"list"`
	} `json:"templating"`
}

type panel struct {
	ID         *int        `json:"id"`
	Type       string      `json:"type"`
	Title      string      `json:"title"`
	GridPos    *gridPos    `json:"gridPos"`
	Datasource *datasource `json:"datasource"`
	Targets    []struct {
		RefID      string      `json:"refId"`
		Expr       string      `json:"expr"`
		Datasource *datasource `json:"datasource"`
	} `json:"targets"`
	Panels []panel `json:"panels"` // a collapsed row's
}

type gridPos struct{ H, W, X, Y *int }

type datasource struct {
	Type string `json:"type"`
	UID  string `json:"uid"`
}

func loadDashboard(t *testing.T) dashboard {
	t.Helper()
	raw, err := os.ReadFile(dashboardPath)
	if err != nil {
		t.Fatal(err)
	}
	var d dashboard
	dec := json.NewDecoder(bytes.NewReader(raw))
	if err := dec.Decode(&d); err != nil {
		t.Fatalf("%s: %v", dashboardPath, err)
	}
	return d
}

// allPanels flattens rows: a collapsed row holds its panels.
func allPanels(ps []panel) []panel {
	var out []panel
	for _, p := range ps {
		out = append(out, p)
		out = append(out, allPanels(p.Panels)...)
	}
	return out
}

// grafanaVars are the variables Grafana substitutes in a query, with the
// value they take for checking. A dashboard expression may use no other.
var grafanaVars = strings.NewReplacer(
	"${__rate_interval}", "5m", "$__rate_interval", "5m",
	"${__interval}", "1m", "$__interval", "1m",
	"${__range}", "1h", "$__range", "1h",
)

type dashExpr struct {
	where  string // panel and refId
	record string // a recording rule name for it: dashboard:panel<id>_<refId>:check
	expr   string // variables substituted
}

func dashboardExprs(t *testing.T) []dashExpr {
	t.Helper()
	var out []dashExpr
	for _, p := range allPanels(loadDashboard(t).Panels) {
		for _, tg := range p.Targets {
			e := grafanaVars.Replace(tg.Expr)
			if strings.Contains(e, "$") {
				t.Errorf("panel %q %s: a template variable other than $__rate_interval, $__interval, $__range: %s", p.Title, tg.RefID, tg.Expr)
			}
			id := -1
			if p.ID != nil {
				id = *p.ID
			}
			out = append(out, dashExpr{where: fmt.Sprintf("dashboard panel %q %s", p.Title, tg.RefID),
				record: fmt.Sprintf("dashboard:panel%d_%s:check", id, tg.RefID), expr: e})
		}
	}
	return out
}

// --- PromQL: the metric names, matchers and grouping labels of an expression

type matcher struct{ label, op, value string }

type selector struct {
	name     string
	matchers []matcher
}

type exprRefs struct {
	selectors []selector
	grouping  []string // by, without, on, ignoring, group_left, group_right
}

type ptoken struct {
	kind byte // 'i' identifier, 's' string, 'n' number or duration, 'p' punctuation or operator, 'r' a [range]
	text string
}

// lexPromQL splits a PromQL expression into tokens. Syntax errors are
// promtool's to find (make obs-check); this reads valid expressions.
func lexPromQL(s string) ([]ptoken, error) {
	var toks []ptoken
	isIdent := func(c byte, first bool) bool {
		return c == '_' || c == ':' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (!first && c >= '0' && c <= '9')
	}
	isDigit := func(c byte) bool { return c >= '0' && c <= '9' }
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			i++
		case c == '#':
			for i < len(s) && s[i] != '\n' {
				i++
			}
		case c == '"' || c == '\'' || c == '`':
			j := i + 1
			var b strings.Builder
			for ; j < len(s) && s[j] != c; j++ {
				if s[j] == '\\' && c != '`' && j+1 < len(s) {
					j++
				}
				b.WriteByte(s[j])
			}
			if j >= len(s) {
				return nil, fmt.Errorf("unterminated string at %d", i)
			}
			toks = append(toks, ptoken{'s', b.String()})
			i = j + 1
		case isDigit(c) || (c == '.' && i+1 < len(s) && isDigit(s[i+1])):
			j := i
			for j < len(s) && (isIdent(s[j], false) || s[j] == '.') {
				j++
			}
			toks = append(toks, ptoken{'n', s[i:j]})
			i = j
		case isIdent(c, true):
			j := i
			for j < len(s) && isIdent(s[j], false) {
				j++
			}
			toks = append(toks, ptoken{'i', s[i:j]})
			i = j
		case c == '[':
			j := strings.IndexByte(s[i:], ']')
			if j < 0 {
				return nil, fmt.Errorf("unterminated [ at %d", i)
			}
			toks = append(toks, ptoken{'r', s[i : i+j+1]})
			i += j + 1
		default:
			if i+1 < len(s) {
				if two := s[i : i+2]; two == "=~" || two == "!~" || two == "!=" || two == "==" || two == ">=" || two == "<=" {
					toks = append(toks, ptoken{'p', two})
					i += 2
					continue
				}
			}
			if strings.IndexByte("(){},=<>+-*/%^@", c) < 0 {
				return nil, fmt.Errorf("unexpected %q at %d", c, i)
			}
			toks = append(toks, ptoken{'p', string(c)})
			i++
		}
	}
	return toks, nil
}

var (
	promAggregations = set("sum", "min", "max", "avg", "group", "stddev", "stdvar", "count", "count_values",
		"bottomk", "topk", "quantile", "limitk", "limit_ratio")
	promLabelLists = set("by", "without", "on", "ignoring", "group_left", "group_right")
	promKeywords   = set("and", "or", "unless", "bool", "offset", "atan2", "start", "end")
)

func set(xs ...string) map[string]bool {
	m := map[string]bool{}
	for _, x := range xs {
		m[x] = true
	}
	return m
}

func parseRefs(expr string) (exprRefs, error) {
	toks, err := lexPromQL(expr)
	if err != nil {
		return exprRefs{}, err
	}
	var r exprRefs
	is := func(i int, kind byte, text string) bool {
		return i < len(toks) && toks[i].kind == kind && (text == "" || toks[i].text == text)
	}
	matchers := func(i int) ([]matcher, int, error) { // toks[i] is "{"
		var ms []matcher
		i++
		for !is(i, 'p', "}") {
			if !is(i, 'i', "") || i+2 >= len(toks) || toks[i+1].kind != 'p' || toks[i+2].kind != 's' {
				return nil, i, fmt.Errorf("unreadable matcher near token %d of %q", i, expr)
			}
			ms = append(ms, matcher{toks[i].text, toks[i+1].text, toks[i+2].text})
			i += 3
			if is(i, 'p', ",") {
				i++
			}
		}
		return ms, i, nil
	}
	for i := 0; i < len(toks); i++ {
		tk := toks[i]
		switch {
		case tk.kind == 'i' && promLabelLists[tk.text]:
			if is(i+1, 'p', "(") {
				i += 2
				for ; i < len(toks) && !is(i, 'p', ")"); i++ {
					if toks[i].kind == 'i' {
						r.grouping = append(r.grouping, toks[i].text)
					}
				}
			}
		case tk.kind == 'i' && promKeywords[tk.text]:
		case tk.kind == 'i' && is(i+1, 'p', "("): // a function
		case tk.kind == 'i' && promAggregations[tk.text] && (is(i+1, 'i', "by") || is(i+1, 'i', "without")):
		case tk.kind == 'i':
			sel := selector{name: tk.text}
			if is(i+1, 'p', "{") {
				ms, j, err := matchers(i + 1)
				if err != nil {
					return r, err
				}
				sel.matchers, i = ms, j
			}
			r.selectors = append(r.selectors, sel)
		case tk.kind == 'p' && tk.text == "{":
			ms, j, err := matchers(i)
			if err != nil {
				return r, err
			}
			i = j
			sel := selector{matchers: ms}
			for _, m := range ms {
				if m.label == "__name__" && m.op == "=" {
					sel.name = m.value
				}
			}
			r.selectors = append(r.selectors, sel)
		}
	}
	return r, nil
}

func TestPromQLReader(t *testing.T) {
	r, err := parseRefs(`sum by (job, outcome) (rate(a_total{x="1",y=~"p|q"}[5m] offset 1h)) / ignoring (outcome) group_left () b unless on (job) histogram_quantile(0.9, sum by (le) (rate(c_bucket[1h:5m]))) > 0 and vector(1)`)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, s := range r.selectors {
		names = append(names, s.name)
	}
	if want := []string{"a_total", "b", "c_bucket"}; !slices.Equal(names, want) {
		t.Fatalf("selectors %v, want %v", names, want)
	}
	if want := []string{"job", "outcome", "outcome", "job", "le"}; !slices.Equal(r.grouping, want) {
		t.Fatalf("grouping %v, want %v", r.grouping, want)
	}
	if want := []matcher{{"x", "=", "1"}, {"y", "=~", "p|q"}}; !slices.Equal(r.selectors[0].matchers, want) {
		t.Fatalf("matchers %v, want %v", r.selectors[0].matchers, want)
	}
}

// --- what payflow exports ---------------------------------------------------

type family struct {
	typ    dto.MetricType
	labels map[string]bool // without le
}

type catalog map[string]*family

func (c catalog) add(mfs []*dto.MetricFamily) {
	for _, mf := range mfs {
		f := c[mf.GetName()]
		if f == nil {
			f = &family{typ: mf.GetType(), labels: map[string]bool{}}
			c[mf.GetName()] = f
		}
		for _, m := range mf.GetMetric() {
			for _, lp := range m.GetLabel() {
				if lp.GetName() != "le" && lp.GetName() != "quantile" {
					f.labels[lp.GetName()] = true
				}
			}
		}
	}
}

// lookup finds a series name: a family, or a histogram's or summary's
// _bucket, _sum or _count series. labels are the series' own labels.
func (c catalog) lookup(name string) (labels map[string]bool, ok bool) {
	if f, ok := c[name]; ok {
		return f.labels, true
	}
	for _, suffix := range []string{"_bucket", "_sum", "_count"} {
		base, found := strings.CutSuffix(name, suffix)
		if !found {
			continue
		}
		f, ok := c[base]
		if !ok {
			continue
		}
		switch {
		case f.typ == dto.MetricType_HISTOGRAM && suffix == "_bucket":
			ls := map[string]bool{"le": true}
			for l := range f.labels {
				ls[l] = true
			}
			return ls, true
		case f.typ == dto.MetricType_HISTOGRAM, f.typ == dto.MetricType_SUMMARY && suffix != "_bucket":
			return f.labels, true
		}
	}
	return nil, false
}

// enums are the values a label can take, where they can be listed:
// metric -> label -> values. "*" as the metric applies to every metric
// that has the label.
type enums map[string]map[string]map[string]bool

func (e enums) add(metric, label string, values ...string) {
	if e[metric] == nil {
		e[metric] = map[string]map[string]bool{}
	}
	if e[metric][label] == nil {
		e[metric][label] = map[string]bool{}
	}
	for _, v := range values {
		e[metric][label][v] = true
	}
}

func (e enums) values(metric, label string) map[string]bool {
	if v := e[metric][label]; v != nil {
		return v
	}
	return e["*"][label]
}

// exported is everything the checks compare against.
type exported struct {
	jobs  map[string]catalog // by scrape job
	enums enums
}

// payflowExports gathers what the receiver and the worker export, and the
// label values that can be listed.
func payflowExports(t *testing.T) exported {
	t.Helper()
	e := enums{}
	serve, err := serveExports(t, e)
	if err != nil {
		t.Fatal(err)
	}
	worker, err := workerExports(e)
	if err != nil {
		t.Fatal(err)
	}
	if err := receiverOutcomes(e); err != nil {
		t.Fatal(err)
	}
	if err := emailOutcomes(e); err != nil {
		t.Fatal(err)
	}
	if err := portalOutcomes(e); err != nil {
		t.Fatal(err)
	}
	e.add("*", "job", serveJob, workerJob)
	e.add("payflow_webhook_deliveries_total", "type", "other")
	for typ := range routing.Routes {
		e.add("payflow_webhook_deliveries_total", "type", typ)
	}
	return exported{jobs: map[string]catalog{serveJob: serve, workerJob: worker}, enums: e}
}

// serveExports runs `payflow serve` (Temporal unreachable: it starts all
// the same), sends it deliveries, and reads its /metrics.
func serveExports(t *testing.T, e enums) (catalog, error) {
	bin := payflowBinary(t)
	public, ops, temporal := freeAddr(t), freeAddr(t), freeAddr(t)
	const secret = "whsec_observability_test"
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "serve")
	cmd.Env = []string{
		"STRIPE_WEBHOOK_SECRET=" + secret,
		"PAYFLOW_PAYLOAD_KEYS=" + hostValues["PAYFLOW_PAYLOAD_KEYS"],
		"PAYFLOW_ADDR=" + public,
		"PAYFLOW_METRICS_ADDR=" + ops,
		"TEMPORAL_ADDRESS=" + temporal, // nothing listens: hand-offs are answered 503
		"TEMPORAL_NAMESPACE=default",
		// Billing portal links on, so payflow_portal_links_total counts.
		"STRIPE_API_KEY=" + hostValues["STRIPE_API_KEY"],
		"PAYFLOW_PUBLIC_URL=" + hostValues["PAYFLOW_PUBLIC_URL"],
		"PAYFLOW_LINK_SECRET=" + hostValues["PAYFLOW_LINK_SECRET"],
		"STRIPE_BILLING_PORTAL_RETURN_URL=" + hostValues["STRIPE_BILLING_PORTAL_RETURN_URL"],
		"HOME=" + t.TempDir(),
	}
	cmd.Dir = t.TempDir()
	var logs bytes.Buffer
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	defer func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	}()
	client := &http.Client{Timeout: 20 * time.Second}
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := client.Get("http://" + ops + "/healthz")
		if err == nil {
			resp.Body.Close()
			break
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("payflow serve never answered /healthz on %s:\n%s", ops, logs.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
	body, err := fixtures.Build("payment_intent.succeeded", fixtures.Options{PaymentIntentID: "pi_observability"})
	if err != nil {
		return nil, err
	}
	post := func(sig string) {
		req, _ := http.NewRequest(http.MethodPost, "http://"+public+webhook.Path, bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Stripe-Signature", sig)
		if resp, err := client.Do(req); err == nil {
			resp.Body.Close()
		}
	}
	post(fixtures.Sign(body, []string{"whsec_not_the_secret"}, time.Now())) // rejected_signature
	post(fixtures.Sign(body, []string{secret}, time.Now()))                 // unavailable: Temporal does not answer
	if resp, err := client.Get("http://" + public + webhook.PortalPath[:strings.Index(webhook.PortalPath, ":")] + "not-a-token"); err == nil {
		resp.Body.Close() // payflow_portal_links_total{outcome="malformed"}
	}
	var cat catalog
	for deadline := time.Now().Add(30 * time.Second); ; {
		resp, err := client.Get("http://" + ops + "/metrics")
		if err != nil {
			return nil, err
		}
		p := expfmt.NewTextParser(model.UTF8Validation)
		mfs, err := p.TextToMetricFamilies(resp.Body)
		resp.Body.Close()
		if err != nil {
			return nil, fmt.Errorf("payflow serve /metrics: %v", err)
		}
		cat = catalog{}
		var list []*dto.MetricFamily
		for _, mf := range mfs {
			list = append(list, mf)
		}
		cat.add(list)
		// The Temporal SDK's metrics reach the registry through tally,
		// flushed every second.
		_, sdk := cat["temporal_request_failure_total"]
		_, portal := cat["payflow_portal_links_total"]
		if sdk && portal {
			for _, m := range mfs["payflow_webhook_deliveries_total"].GetMetric() {
				for _, lp := range m.GetLabel() {
					if lp.GetName() == "outcome" {
						e.add("payflow_webhook_deliveries_total", "outcome", lp.GetValue())
					}
				}
			}
			return cat, nil
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("payflow serve's /metrics never showed its Temporal client's failed request (temporal_request_failure_total) and a portal link (payflow_portal_links_total); has %v\n%s", sortedKeys(cat), logs.String())
		}
		time.Sleep(250 * time.Millisecond)
	}
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// workerExports builds the registries of `payflow worker` (newTelemetry
// and newWorker in cmd/payflow/runtime.go) and makes every metric the
// workflows and the Temporal SDK emit through them.
func workerExports(e enums) (catalog, error) {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	filled := &vecFiller{Registerer: reg}
	activities.NewMetrics(filled)
	if err := filled.fill(); err != nil {
		return nil, err
	}
	var regErrs []error
	reporter := tallyprom.NewReporter(tallyprom.Options{Registerer: reg, Gatherer: reg,
		DefaultTimerType: tallyprom.HistogramTimerType, DefaultHistogramBuckets: []float64{1, 10},
		OnRegisterError: func(err error) { regErrs = append(regErrs, err) }})
	scope, closer := tally.NewRootScope(tally.ScopeOptions{
		CachedReporter:  reporter,
		Separator:       tallyprom.DefaultSeparator,
		SanitizeOptions: &sdktally.PrometheusSanitizeOptions,
	}, time.Hour)
	handler := sdktally.NewMetricsHandler(sdktally.NewPrometheusNamingScope(scope))

	sdk, err := readSDK()
	if err != nil {
		return nil, err
	}
	root := map[string]string{}
	for _, k := range sdk.rootTags {
		root[k] = "x"
	}
	base := handler.WithTags(root)
	wf, err := workflowMetrics()
	if err != nil {
		return nil, err
	}
	emit := func(m emitted) {
		h := base
		if len(m.tags) > 0 {
			tags := map[string]string{}
			for _, k := range m.tags {
				tags[k] = "x"
			}
			h = h.WithTags(tags)
		}
		switch m.kind {
		case "Counter":
			h.Counter(m.name).Inc(1)
		case "Gauge":
			h.Gauge(m.name).Update(1)
		case "Timer":
			h.Timer(m.name).Record(time.Second)
		default:
			panic("unknown kind " + m.kind)
		}
	}
	for _, m := range wf {
		emit(m)
	}
	for _, m := range sdk.metrics {
		emit(m)
	}
	if err := closer.Close(); err != nil { // flushes
		return nil, err
	}
	if len(regErrs) > 0 {
		return nil, fmt.Errorf("tally registration: %v", regErrs)
	}
	mfs, err := reg.Gather()
	if err != nil {
		return nil, err
	}
	cat := catalog{}
	cat.add(mfs)
	for _, m := range wf {
		if !slices.ContainsFunc(mfs, func(mf *dto.MetricFamily) bool { return strings.HasPrefix(mf.GetName(), m.name) }) {
			return nil, fmt.Errorf("workflow metric %s did not reach the registry", m.name)
		}
	}
	// Every SDK metric carries the root tags and some of these.
	for name, f := range cat {
		if strings.HasPrefix(name, "temporal_") {
			for _, k := range sdk.tagKeys {
				f.labels[k] = true
			}
		}
	}
	e.add("*", "poller_type", sdk.pollerTypes...)
	e.add("*", "failure_reason", sdk.failureReasons...)
	e.add("*", "worker_type", sdk.workerTypes...)
	e.add("*", "status_code", sdk.statusCodes...)
	return cat, nil
}

// vecFiller registers collectors and then gives each vector a child, so
// that it is gathered with its label names (a vector without children is
// not gathered at all).
type vecFiller struct {
	prometheus.Registerer
	collectors []prometheus.Collector
}

func (v *vecFiller) Register(c prometheus.Collector) error {
	v.collectors = append(v.collectors, c)
	return v.Registerer.Register(c)
}

func (v *vecFiller) MustRegister(cs ...prometheus.Collector) {
	v.collectors = append(v.collectors, cs...)
	v.Registerer.MustRegister(cs...)
}

func (v *vecFiller) fill() error {
	for _, c := range v.collectors {
		var with func(...string) error
		switch vec := c.(type) {
		case *prometheus.CounterVec:
			with = func(vs ...string) error { _, err := vec.GetMetricWithLabelValues(vs...); return err }
		case *prometheus.GaugeVec:
			with = func(vs ...string) error { _, err := vec.GetMetricWithLabelValues(vs...); return err }
		case *prometheus.HistogramVec:
			with = func(vs ...string) error { _, err := vec.GetMetricWithLabelValues(vs...); return err }
		case *prometheus.SummaryVec:
			with = func(vs ...string) error { _, err := vec.GetMetricWithLabelValues(vs...); return err }
		default:
			continue
		}
		ok := false
		for n := 1; n <= 10 && !ok; n++ { // as many values as the vector has labels
			ok = with(slices.Repeat([]string{"x"}, n)...) == nil
		}
		if !ok {
			return fmt.Errorf("could not give %T a child", c)
		}
	}
	return nil
}

type emitted struct {
	kind, name string   // Counter, Gauge, Timer; the name as the code gives it
	tags       []string // tag keys
}

// workflowMetrics reads workflows/*.go for the metrics the workflows emit
// through workflow.GetMetricsHandler: h.Counter("name"), Timer, Gauge,
// with the keys of the tags given to WithTags (a map literal, or a variable
// assigned one in the same function).
func workflowMetrics() ([]emitted, error) {
	files, err := parseDir("../workflows")
	if err != nil {
		return nil, err
	}
	var out []emitted
	for _, f := range files {
		for _, decl := range f.Decls {
			fn, ok := decl.(*ast.FuncDecl)
			if !ok || fn.Body == nil {
				continue
			}
			maps := map[string][]string{} // variable -> keys of the map literals assigned to it
			ast.Inspect(fn.Body, func(n ast.Node) bool {
				if as, ok := n.(*ast.AssignStmt); ok {
					for i, l := range as.Lhs {
						if id, ok := l.(*ast.Ident); ok && i < len(as.Rhs) {
							maps[id.Name] = append(maps[id.Name], mapKeys(as.Rhs[i], nil)...)
						}
					}
				}
				return true
			})
			ast.Inspect(fn.Body, func(n ast.Node) bool {
				call, ok := n.(*ast.CallExpr)
				if !ok || len(call.Args) == 0 {
					return true
				}
				sel, ok := call.Fun.(*ast.SelectorExpr)
				if !ok || (sel.Sel.Name != "Counter" && sel.Sel.Name != "Timer" && sel.Sel.Name != "Gauge") {
					return true
				}
				name, ok := stringLit(call.Args[0])
				if !ok {
					return true
				}
				m := emitted{kind: sel.Sel.Name, name: name}
				if inner, ok := sel.X.(*ast.CallExpr); ok {
					if is, ok := inner.Fun.(*ast.SelectorExpr); ok && is.Sel.Name == "WithTags" && len(inner.Args) == 1 {
						switch a := inner.Args[0].(type) {
						case *ast.Ident:
							m.tags = maps[a.Name]
						default:
							m.tags = mapKeys(a, nil)
						}
					}
				}
				m.tags = uniq(m.tags)
				out = append(out, m)
				return true
			})
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no metric found in workflows/*.go")
	}
	return out, nil
}

// sdkInfo is what the Temporal SDK's source says about its metrics.
type sdkInfo struct {
	metrics                                               []emitted
	rootTags, tagKeys                                     []string
	pollerTypes, failureReasons, workerTypes, statusCodes []string
}

// readSDK reads the Temporal Go SDK of go.mod: its metric name and tag
// constants (internal/common/metrics), how each metric is emitted (Counter,
// Timer, Gauge calls in internal/), and the values of the enumerable tags.
func readSDK() (sdkInfo, error) {
	var info sdkInfo
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", "go.temporal.io/sdk").Output()
	if err != nil {
		return info, fmt.Errorf("go list -m go.temporal.io/sdk: %v", err)
	}
	dir := strings.TrimSpace(string(out))
	metricsFiles, err := parseDir(filepath.Join(dir, "internal", "common", "metrics"))
	if err != nil {
		return info, err
	}
	consts := map[string]string{}
	var names []string // the metric constants, in order
	for _, f := range metricsFiles {
		for _, decl := range f.Decls {
			gd, ok := decl.(*ast.GenDecl)
			if !ok || gd.Tok != token.CONST {
				continue
			}
			for _, spec := range gd.Specs {
				vs := spec.(*ast.ValueSpec)
				for i, id := range vs.Names {
					if i < len(vs.Values) {
						if v, ok := evalString(vs.Values[i], consts); ok {
							consts[id.Name] = v
							if strings.HasPrefix(v, "temporal_") && id.Name != "TemporalMetricsPrefix" {
								names = append(names, id.Name)
							}
						}
					}
				}
			}
		}
		for _, decl := range f.Decls {
			fn, ok := decl.(*ast.FuncDecl)
			if !ok || fn.Body == nil {
				continue
			}
			keys := map[string]bool{}
			ast.Inspect(fn.Body, func(n ast.Node) bool {
				if e, ok := n.(ast.Expr); ok {
					for _, k := range mapKeys(e, consts) {
						keys[k] = true
					}
				}
				return true
			})
			for k := range keys {
				info.tagKeys = append(info.tagKeys, k)
			}
			if fn.Name.Name == "RootTags" {
				info.rootTags = sortedSet(keys)
			}
			if fn.Name.Name == "canonicalString" {
				ast.Inspect(fn.Body, func(n ast.Node) bool {
					if r, ok := n.(*ast.ReturnStmt); ok && len(r.Results) == 1 {
						if s, ok := stringLit(r.Results[0]); ok {
							info.statusCodes = append(info.statusCodes, s)
						}
					}
					return true
				})
			}
		}
	}
	for id, v := range consts {
		switch {
		case strings.HasSuffix(id, "TagName"):
		case strings.HasPrefix(id, "PollerType"):
			info.pollerTypes = append(info.pollerTypes, v)
		case strings.HasPrefix(id, "FailureReason"):
			info.failureReasons = append(info.failureReasons, v)
		}
	}
	// How each metric is emitted, from the calls in internal/.
	kinds := map[string]string{}
	internal, err := parseDir(filepath.Join(dir, "internal"))
	if err != nil {
		return info, err
	}
	for _, f := range internal {
		ast.Inspect(f, func(n ast.Node) bool {
			switch n := n.(type) {
			case *ast.CallExpr:
				sel, ok := n.Fun.(*ast.SelectorExpr)
				if !ok || len(n.Args) == 0 {
					return true
				}
				switch sel.Sel.Name {
				case "Counter", "Timer", "Gauge":
					if arg, ok := n.Args[0].(*ast.SelectorExpr); ok {
						if pkg, ok := arg.X.(*ast.Ident); ok && pkg.Name == "metrics" {
							kinds[arg.Sel.Name] = sel.Sel.Name
						}
					}
				}
			case *ast.KeyValueExpr:
				if k, ok := n.Key.(*ast.Ident); ok && k.Name == "workerType" {
					if s, ok := stringLit(n.Value); ok {
						info.workerTypes = append(info.workerTypes, s)
					}
				}
			}
			return true
		})
	}
	for _, id := range names {
		kind := kinds[id]
		if kind == "" { // emitted through a variable (temporal_request + suffix …)
			kind = "Counter"
			if strings.HasSuffix(id, "Latency") {
				kind = "Timer"
			}
		}
		info.metrics = append(info.metrics, emitted{kind: kind, name: consts[id]})
	}
	info.tagKeys = uniq(info.tagKeys)
	info.workerTypes = uniq(info.workerTypes)
	switch {
	case len(info.metrics) < 20, len(info.rootTags) < 4, len(info.pollerTypes) == 0, len(info.failureReasons) == 0,
		len(info.workerTypes) == 0, len(info.statusCodes) < 10:
		return info, fmt.Errorf("the Temporal SDK's source in %s no longer reads as expected: %d metrics, root tags %v, poller types %v, failure reasons %v, worker types %v, %d status codes",
			dir, len(info.metrics), info.rootTags, info.pollerTypes, info.failureReasons, info.workerTypes, len(info.statusCodes))
	}
	return info, nil
}

func parseDir(dir string) ([]*ast.File, error) {
	var files []*ast.File
	fset := token.NewFileSet()
	err := filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && path != dir && (d.Name() == "testdata" || strings.HasPrefix(d.Name(), ".")) {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(fset, path, nil, parser.SkipObjectResolution)
		if err != nil {
			return err
		}
		files = append(files, f)
		return nil
	})
	return files, err
}

func stringLit(e ast.Expr) (string, bool) {
	lit, ok := e.(*ast.BasicLit)
	if !ok || lit.Kind != token.STRING {
		return "", false
	}
	s, err := strconv.Unquote(lit.Value)
	return s, err == nil
}

// evalString evaluates a string constant expression: literals, other
// constants and +.
func evalString(e ast.Expr, consts map[string]string) (string, bool) {
	switch e := e.(type) {
	case *ast.BasicLit:
		return stringLit(e)
	case *ast.Ident:
		v, ok := consts[e.Name]
		return v, ok
	case *ast.BinaryExpr:
		if e.Op != token.ADD {
			return "", false
		}
		a, ok1 := evalString(e.X, consts)
		b, ok2 := evalString(e.Y, consts)
		return a + b, ok1 && ok2
	case *ast.ParenExpr:
		return evalString(e.X, consts)
	}
	return "", false
}

// mapKeys are the keys of a map[string]string composite literal (string
// literals, or constants in consts).
func mapKeys(e ast.Expr, consts map[string]string) []string {
	cl, ok := e.(*ast.CompositeLit)
	if !ok {
		return nil
	}
	mt, ok := cl.Type.(*ast.MapType)
	if !ok {
		return nil
	}
	if k, ok := mt.Key.(*ast.Ident); !ok || k.Name != "string" {
		return nil
	}
	var keys []string
	for _, el := range cl.Elts {
		kv, ok := el.(*ast.KeyValueExpr)
		if !ok {
			continue
		}
		if s, ok := evalString(kv.Key, consts); ok {
			keys = append(keys, s)
		}
	}
	return keys
}

func uniq(xs []string) []string {
	m := map[string]bool{}
	for _, x := range xs {
		m[x] = true
	}
	return sortedSet(m)
}

func sortedSet(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// fakeHandoff answers a hand-off or a quarantine as told.
type fakeHandoff struct {
	duplicate bool
	err       error
}

func (f *fakeHandoff) Deliver(context.Context, routing.Route, string, payflow.Event) (bool, error) {
	return f.duplicate, f.err
}

func (f *fakeHandoff) Quarantine(context.Context, routing.QuarantineInput) (bool, error) {
	return f.duplicate, f.err
}

// receiverOutcomes drives a webhook.Server through every answer it has and
// records the outcome labels it counts.
func receiverOutcomes(e enums) error {
	const secret = "whsec_outcomes_test"
	reg := prometheus.NewRegistry()
	metrics := webhook.NewMetrics(reg)
	good, err := fixtures.Build("payment_intent.succeeded", fixtures.Options{PaymentIntentID: "pi_outcomes"})
	if err != nil {
		return err
	}
	connected, err := fixtures.Build("payment_intent.succeeded", fixtures.Options{PaymentIntentID: "pi_connected", Account: "acct_1Outcomes"})
	if err != nil {
		return err
	}
	unhandled := bytes.Replace(good, []byte(`"payment_intent.succeeded"`), []byte(`"payment_intent.created"`), 1)
	sign := func(b []byte) string { return fixtures.Sign(b, []string{secret}, time.Now()) }
	type delivery struct {
		method, sig, encoding string
		body                  []byte
		handoff               *fakeHandoff
	}
	deliveries := []delivery{
		{body: good, sig: sign(good), handoff: &fakeHandoff{}},                                         // accepted
		{body: good, sig: sign(good), handoff: &fakeHandoff{duplicate: true}},                          // duplicate
		{body: good, sig: sign(good), handoff: &fakeHandoff{err: serviceerror.NewUnavailable("down")}}, // unavailable
		{body: good, sig: sign(good), handoff: &fakeHandoff{err: serviceerror.NewInvalidArgument("no")}},
		{body: connected, sig: sign(connected), handoff: &fakeHandoff{}}, // quarantined
		{body: unhandled, sig: sign(unhandled), handoff: &fakeHandoff{}}, // unhandled
		{body: good, sig: fixtures.Sign(good, []string{"whsec_other"}, time.Now())},
		{body: good, sig: fixtures.Sign(good, []string{secret}, time.Now().Add(-time.Hour))},
		{body: good},
		{body: []byte(`{"id":`), sig: sign([]byte(`{"id":`))},
		{body: good, sig: sign(good), encoding: "gzip"},
		{body: good, sig: sign(good), method: http.MethodPut},
	}
	for _, d := range deliveries {
		h := d.handoff
		if h == nil {
			h = &fakeHandoff{}
		}
		s := &webhook.Server{Verifier: &webhook.Verifier{Secrets: []string{secret}}, Handoff: h, Metrics: metrics,
			HandoffTimeout: time.Second, BodyLimit: 4 << 10, Log: slog.New(slog.NewTextHandler(io.Discard, nil))}
		method := d.method
		if method == "" {
			method = http.MethodPost
		}
		req := httptest.NewRequest(method, webhook.Path, bytes.NewReader(d.body))
		req.Header.Set("Content-Type", "application/json")
		if d.sig != "" {
			req.Header.Set("Stripe-Signature", d.sig)
		}
		if d.encoding != "" {
			req.Header.Set("Content-Encoding", d.encoding)
		}
		resp, err := s.App().Test(req, 5000)
		if err != nil {
			return err
		}
		resp.Body.Close()
	}
	mfs, err := reg.Gather()
	if err != nil {
		return err
	}
	n := 0
	for _, mf := range mfs {
		if mf.GetName() != "payflow_webhook_deliveries_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			n++
			for _, lp := range m.GetLabel() {
				if lp.GetName() != "type" { // type: the routing table's, below
					e.add("payflow_webhook_deliveries_total", lp.GetName(), lp.GetValue())
				}
			}
		}
	}
	if n < 10 {
		return fmt.Errorf("the receiver counted only %d kinds of delivery", n)
	}
	return nil
}

// emailOutcomes reads the outcome labels activities/*.go counts on
// payflow_emails_total: countEmail(purpose, "<outcome>") and
// Emails.WithLabelValues(purpose, "<outcome>").
func emailOutcomes(e enums) error {
	files, err := parseDir("../activities")
	if err != nil {
		return err
	}
	n := 0
	for _, f := range files {
		ast.Inspect(f, func(node ast.Node) bool {
			call, ok := node.(*ast.CallExpr)
			if !ok || len(call.Args) != 2 {
				return true
			}
			sel, ok := call.Fun.(*ast.SelectorExpr)
			if !ok {
				return true
			}
			isEmails := sel.Sel.Name == "countEmail"
			if inner, ok := sel.X.(*ast.SelectorExpr); ok && inner.Sel.Name == "Emails" && sel.Sel.Name == "WithLabelValues" {
				isEmails = true
			}
			if s, ok := stringLit(call.Args[1]); ok && isEmails {
				e.add("payflow_emails_total", "outcome", s)
				n++
			}
			return true
		})
	}
	if n < 3 {
		return fmt.Errorf("found only %d email outcomes in activities/*.go", n)
	}
	return nil
}

// portalOutcomes reads the outcome constants of webhook/portal.go
// (Portal<Outcome> = "<outcome>"), the outcome label of
// payflow_portal_links_total.
func portalOutcomes(e enums) error {
	files, err := parseDir("../webhook")
	if err != nil {
		return err
	}
	n := 0
	for _, f := range files {
		for _, decl := range f.Decls {
			gd, ok := decl.(*ast.GenDecl)
			if !ok || gd.Tok != token.CONST {
				continue
			}
			for _, spec := range gd.Specs {
				vs := spec.(*ast.ValueSpec)
				for i, id := range vs.Names {
					if i >= len(vs.Values) || !strings.HasPrefix(id.Name, "Portal") {
						continue
					}
					if v, ok := stringLit(vs.Values[i]); ok && !strings.Contains(v, "/") {
						e.add("payflow_portal_links_total", "outcome", v)
						n++
					}
				}
			}
		}
	}
	if n < 3 {
		return fmt.Errorf("found only %d portal link outcomes in webhook/*.go", n)
	}
	return nil
}

// --- the checks -------------------------------------------------------------

// recorded is what a recording rule gives: its labels and the metrics it
// is made of (for their label values).
type recorded struct {
	labels  map[string]bool
	sources []string
}

// checker holds the names the rules record, in file order.
type checker struct {
	t        *testing.T
	exp      exported
	recorded map[string]recorded
}

func newChecker(t *testing.T, rules []rule) *checker {
	c := &checker{t: t, exp: payflowExports(t), recorded: map[string]recorded{}}
	for _, r := range rules {
		if r.Record == "" {
			continue
		}
		refs := c.check("recording rule "+r.Record, r.Expr)
		rec := recorded{labels: map[string]bool{}}
		for _, g := range refs.grouping {
			rec.labels[g] = true
		}
		for _, s := range refs.selectors {
			if prev, ok := c.recorded[s.name]; ok {
				rec.sources = append(rec.sources, prev.sources...)
				if len(refs.grouping) == 0 {
					for l := range prev.labels {
						rec.labels[l] = true
					}
				}
				continue
			}
			rec.sources = append(rec.sources, s.name)
			if len(refs.grouping) == 0 {
				if ls, ok := c.labelsOf(s.name, ""); ok {
					for l := range ls {
						rec.labels[l] = true
					}
				}
			}
		}
		c.recorded[r.Record] = rec
	}
	return c
}

// labelsOf are the labels of a series name in job's catalog (every job's
// when job is "").
func (c *checker) labelsOf(name, job string) (map[string]bool, bool) {
	labels := map[string]bool{}
	found := false
	for j, cat := range c.exp.jobs {
		if job != "" && j != job {
			continue
		}
		if ls, ok := cat.lookup(name); ok {
			found = true
			for l := range ls {
				labels[l] = true
			}
		}
	}
	for l := range targetLabels {
		labels[l] = true
	}
	return labels, found
}

// literalAlternatives: "a|b|c" as a list, or nil for a regular expression.
var literalAlternatives = regexp.MustCompile(`^[A-Za-z0-9_:.\-]+(\|[A-Za-z0-9_:.\-]+)*$`)

// check reads expr and reports every name, label or value payflow does
// not export.
func (c *checker) check(where, expr string) exprRefs {
	t := c.t
	refs, err := parseRefs(expr)
	if err != nil {
		t.Errorf("%s: %v", where, err)
		return refs
	}
	if len(refs.selectors) == 0 {
		t.Errorf("%s: no metric in %q", where, expr)
	}
	available := map[string]bool{}
	for l := range targetLabels {
		available[l] = true
	}
	for _, s := range refs.selectors {
		var jobs []string
		for _, m := range s.matchers {
			if m.label == "job" && (m.op == "=" || m.op == "=~") && literalAlternatives.MatchString(m.value) {
				jobs = strings.Split(m.value, "|")
			}
		}
		var labels map[string]bool
		var sources []string
		switch rec, isRecorded := c.recorded[s.name]; {
		case s.name == "":
			t.Errorf("%s: a selector without a metric name: %v", where, s.matchers)
			continue
		case s.name == "up":
			labels = map[string]bool{"job": true, "instance": true}
			if len(jobs) == 0 {
				t.Errorf("%s: up without a job matcher", where)
			}
		case isRecorded:
			labels, sources = rec.labels, rec.sources
		default:
			sources = []string{s.name}
			if len(jobs) == 0 {
				ls, ok := c.labelsOf(s.name, "")
				if !ok {
					t.Errorf("%s: %s is not a metric payflow exports", where, s.name)
					continue
				}
				labels = ls
			}
			for _, j := range jobs {
				if _, known := c.exp.jobs[j]; !known {
					continue // reported below, as a job value
				}
				ls, ok := c.labelsOf(s.name, j)
				if !ok {
					t.Errorf("%s: %s is not a metric the %s job exports", where, s.name, j)
					continue
				}
				if labels == nil {
					labels = map[string]bool{}
				}
				for l := range ls {
					labels[l] = true
				}
			}
		}
		for l := range labels {
			available[l] = true
		}
		for _, m := range s.matchers {
			if m.label == "__name__" {
				continue
			}
			if labels != nil && !labels[m.label] {
				t.Errorf("%s: %s has no label %q (it has %v)", where, s.name, m.label, sortedSet(labels))
				continue
			}
			c.checkValue(where, s.name, sources, m)
		}
	}
	for _, g := range refs.grouping {
		if !available[g] {
			t.Errorf("%s: grouping label %q is on none of the expression's metrics (%v)", where, g, sortedSet(available))
		}
	}
	return refs
}

func (c *checker) checkValue(where, name string, sources []string, m matcher) {
	var values map[string]bool
	if m.label == "job" {
		values = c.exp.enums.values("*", "job")
	} else {
		for _, src := range sources {
			v := c.exp.enums.values(src, m.label)
			if v == nil {
				return // a label whose values cannot be listed
			}
			if values == nil {
				values = map[string]bool{}
			}
			for x := range v {
				values[x] = true
			}
		}
	}
	if values == nil {
		return
	}
	switch {
	case m.op == "=" || m.op == "!=":
		if !values[m.value] {
			c.t.Errorf("%s: %s{%s%s%q}: %q is not a value payflow gives %s (%v)", where, name, m.label, m.op, m.value, m.value, m.label, sortedSet(values))
		}
	case literalAlternatives.MatchString(m.value):
		for _, v := range strings.Split(m.value, "|") {
			if !values[v] {
				c.t.Errorf("%s: %s{%s%s%q}: %q is not a value payflow gives %s (%v)", where, name, m.label, m.op, m.value, v, m.label, sortedSet(values))
			}
		}
	default:
		re, err := regexp.Compile("^(?:" + m.value + ")$")
		if err != nil {
			c.t.Errorf("%s: %s{%s%s%q}: %v", where, name, m.label, m.op, m.value, err)
			return
		}
		if !slices.ContainsFunc(sortedSet(values), re.MatchString) {
			c.t.Errorf("%s: %s{%s%s%q} matches no value payflow gives %s (%v)", where, name, m.label, m.op, m.value, m.label, sortedSet(values))
		}
	}
}

// TestObservabilityUsesExportedMetrics: every metric, label and listed
// label value of the alert rules and the dashboard is one payflow exports.
func TestObservabilityUsesExportedMetrics(t *testing.T) {
	rules := loadRules(t)
	c := newChecker(t, rules)
	for _, job := range sortedKeys(c.exp.jobs) {
		t.Logf("%s exports %d metric families", job, len(c.exp.jobs[job]))
	}
	for _, m := range []string{"payflow_webhook_deliveries_total", "payflow_emails_total", "payflow_portal_links_total"} {
		t.Logf("%s outcomes: %v", m, sortedSet(c.exp.enums.values(m, "outcome")))
	}
	for _, l := range []string{"failure_reason", "poller_type", "worker_type"} {
		t.Logf("Temporal SDK %s: %v", l, sortedSet(c.exp.enums.values("*", l)))
	}
	for _, r := range rules {
		if r.Alert != "" {
			c.check("alert "+r.Alert, r.Expr)
		}
	}
	exprs := dashboardExprs(t)
	if len(exprs) == 0 {
		t.Fatal("the dashboard has no query")
	}
	for _, d := range exprs {
		c.check(d.where, d.expr)
	}
	// The two jobs' catalogs are what they should be: each process's own.
	for job, must := range map[string][]string{
		serveJob:  {"payflow_webhook_deliveries_total", "payflow_webhook_ack_seconds", "process_cpu_seconds_total", "go_goroutines"},
		workerJob: {"payflow_emails_total", "payflow_events_quarantined_total", "payflow_dunning_campaigns_recovered_total", "temporal_workflow_task_execution_failed_total", "process_cpu_seconds_total"},
	} {
		for _, name := range must {
			if _, ok := c.exp.jobs[job].lookup(name); !ok {
				t.Errorf("%s does not export %s", job, name)
			}
		}
	}
}

// TestAlertRulesAreOperable: every alert says how bad it is, what happened
// and what to do, and points at a README section that exists; every alert
// has a promtool test where it fires and one where it stays silent.
func TestAlertRulesAreOperable(t *testing.T) {
	rules := loadRules(t)
	anchors := readmeAnchors(t)
	alerts := map[string]bool{}
	records := map[string]bool{}
	for _, r := range rules {
		switch {
		case r.Record != "" && r.Alert != "":
			t.Errorf("rule %s/%s: both record and alert", r.Record, r.Alert)
		case r.Record != "":
			if records[r.Record] {
				t.Errorf("recording rule %s twice", r.Record)
			}
			records[r.Record] = true
			if strings.Count(r.Record, ":") != 2 {
				t.Errorf("recording rule %s: not named level:metric:operations", r.Record)
			}
		case r.Alert != "":
			if alerts[r.Alert] {
				t.Errorf("alert %s twice", r.Alert)
			}
			alerts[r.Alert] = true
			if !strings.HasPrefix(r.Alert, "Payflow") {
				t.Errorf("alert %s: not named Payflow…", r.Alert)
			}
			if r.For == nil {
				t.Errorf("alert %s: no for (say 0m for at once)", r.Alert)
			}
			switch r.Labels["severity"] {
			case "critical", "warning", "info":
			default:
				t.Errorf("alert %s: severity %q, want critical, warning or info", r.Alert, r.Labels["severity"])
			}
			for _, a := range []string{"summary", "description", "runbook_url"} {
				if strings.TrimSpace(r.Annotations[a]) == "" {
					t.Errorf("alert %s: no %s annotation", r.Alert, a)
				}
			}
			if len(r.Annotations["description"]) < 80 {
				t.Errorf("alert %s: the description does not say what to do: %q", r.Alert, r.Annotations["description"])
			}
			anchor, ok := strings.CutPrefix(r.Annotations["runbook_url"], runbookPrefix)
			if !ok || !anchors[anchor] {
				t.Errorf("alert %s: runbook_url %q is not a section of README.md (%s<anchor>)", r.Alert, r.Annotations["runbook_url"], runbookPrefix)
			}
		default:
			t.Errorf("a rule with neither record nor alert: %q", r.Expr)
		}
	}

	var tests struct {
		RuleFiles []string `yaml:"rule_files"`
		Tests     []struct {
			Name          string `yaml:"name"`
			AlertRuleTest []struct {
				Alertname string `yaml:"alertname"`
				ExpAlerts []any  `yaml:"exp_alerts"`
			} `yaml:"alert_rule_test"`
		} `yaml:"tests"`
	}
	raw, err := os.ReadFile(alertTestsPath)
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(raw, &tests); err != nil {
		t.Fatalf("%s: %v", alertTestsPath, err)
	}
	if !slices.Contains(tests.RuleFiles, filepath.Base(alertsPath)) {
		t.Errorf("%s does not test %s (rule_files %v)", alertTestsPath, filepath.Base(alertsPath), tests.RuleFiles)
	}
	fires, silent := map[string]bool{}, map[string]bool{}
	for _, tc := range tests.Tests {
		for _, a := range tc.AlertRuleTest {
			if !alerts[a.Alertname] {
				t.Errorf("%s, test %q: no alert %s", alertTestsPath, tc.Name, a.Alertname)
			}
			if len(a.ExpAlerts) > 0 {
				fires[a.Alertname] = true
			} else {
				silent[a.Alertname] = true
			}
		}
	}
	for _, a := range sortedSet(alerts) {
		if !fires[a] {
			t.Errorf("alert %s: no promtool test where it fires", a)
		}
		if !silent[a] {
			t.Errorf("alert %s: no promtool test where it stays silent", a)
		}
	}
}

// readmeAnchors are the GitHub anchors of README.md's headings.
func readmeAnchors(t *testing.T) map[string]bool {
	t.Helper()
	raw, err := os.ReadFile(readmePath)
	if err != nil {
		t.Fatal(err)
	}
	anchors := map[string]bool{}
	inFence := false
	for _, line := range strings.Split(string(raw), "\n") {
		if strings.HasPrefix(line, "```") {
			inFence = !inFence
		}
		if inFence || !strings.HasPrefix(line, "#") {
			continue
		}
		heading := strings.TrimSpace(strings.TrimLeft(line, "#"))
		var b strings.Builder
		for _, r := range strings.ToLower(heading) {
			switch {
			case r == ' ':
				b.WriteRune('-')
			case r == '-' || r == '_' || (r >= 'a' && r <= 'z') || (r >= '0' && r <= '9') || r > 127:
				b.WriteRune(r)
			}
		}
		anchors[b.String()] = true
	}
	return anchors
}

// TestDashboardIsWellFormed: the dashboard imports into Grafana and every
// panel queries the chosen Prometheus.
func TestDashboardIsWellFormed(t *testing.T) {
	d := loadDashboard(t)
	if d.Title == "" || d.UID == "" {
		t.Errorf("title %q, uid %q: both are needed", d.Title, d.UID)
	}
	if d.SchemaVersion < 36 {
		t.Errorf("schemaVersion %d: older than Grafana 9's datasource references", d.SchemaVersion)
	}
	hasDS := false
	for _, v := range d.Templating.List {
		if v.Name == "datasource" {
			hasDS = v.Type == "datasource" && v.Query == "prometheus"
		}
	}
	if !hasDS {
		t.Error("no template variable datasource of type datasource, query prometheus")
	}
	ids := map[int]string{}
	type rect struct {
		title      string
		x, y, w, h int
	}
	var rects []rect
	panels := allPanels(d.Panels)
	if len(panels) == 0 {
		t.Fatal("no panels")
	}
	for _, p := range panels {
		name := fmt.Sprintf("panel %q", p.Title)
		if p.Title == "" {
			t.Errorf("a %s panel without a title", p.Type)
		}
		if p.ID == nil {
			t.Errorf("%s: no id", name)
		} else if prev, dup := ids[*p.ID]; dup {
			t.Errorf("%s: id %d is also %q's", name, *p.ID, prev)
		} else {
			ids[*p.ID] = p.Title
		}
		g := p.GridPos
		if g == nil || g.H == nil || g.W == nil || g.X == nil || g.Y == nil {
			t.Errorf("%s: gridPos needs h, w, x and y", name)
			continue
		}
		if *g.W <= 0 || *g.H <= 0 || *g.X < 0 || *g.Y < 0 || *g.X+*g.W > 24 {
			t.Errorf("%s: gridPos %+v outside the 24-column grid", name, map[string]int{"h": *g.H, "w": *g.W, "x": *g.X, "y": *g.Y})
		}
		rects = append(rects, rect{p.Title, *g.X, *g.Y, *g.W, *g.H})
		if p.Type == "row" {
			if len(p.Targets) > 0 {
				t.Errorf("%s: a row with queries", name)
			}
			continue
		}
		if p.Datasource == nil || p.Datasource.UID != "${datasource}" || p.Datasource.Type != "prometheus" {
			t.Errorf("%s: datasource %+v, want {prometheus ${datasource}}", name, p.Datasource)
		}
		if len(p.Targets) == 0 {
			t.Errorf("%s: no query", name)
		}
		refIDs := map[string]bool{}
		for i, tg := range p.Targets {
			if strings.TrimSpace(tg.Expr) == "" {
				t.Errorf("%s: target %d has no expr", name, i)
			}
			if tg.RefID == "" || refIDs[tg.RefID] {
				t.Errorf("%s: target %d: refId %q missing or repeated", name, i, tg.RefID)
			}
			refIDs[tg.RefID] = true
			if tg.Datasource != nil && tg.Datasource.UID != "${datasource}" {
				t.Errorf("%s: target %s: datasource %+v, want ${datasource}", name, tg.RefID, tg.Datasource)
			}
		}
	}
	for i, a := range rects {
		for _, b := range rects[i+1:] {
			if a.x < b.x+b.w && b.x < a.x+a.w && a.y < b.y+b.h && b.y < a.y+a.h {
				t.Errorf("panels %q and %q overlap", a.title, b.title)
			}
		}
	}
}

// TestDashboardQueriesParse writes every dashboard query, its Grafana
// variables substituted, as a recording rule and has promtool check them.
// promtool is PAYFLOW_PROMTOOL (make obs-check sets it), else
// .tools/bin/promtool; without either the test is skipped.
func TestDashboardQueriesParse(t *testing.T) {
	promtool := os.Getenv("PAYFLOW_PROMTOOL")
	if promtool == "" {
		promtool = filepath.Join(repoRoot, ".tools", "bin", "promtool")
		if _, err := os.Stat(promtool); err != nil {
			t.Skip("no promtool: make obs-check builds it and runs this test")
		}
	}
	type recRule struct {
		Record string `yaml:"record"`
		Expr   string `yaml:"expr"`
	}
	var rules []recRule
	for _, d := range dashboardExprs(t) {
		rules = append(rules, recRule{Record: d.record, Expr: d.expr})
	}
	doc := map[string]any{"groups": []any{map[string]any{"name": "payflow-dashboard-queries", "rules": rules}}}
	raw, err := yaml.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "dashboard-queries.yaml")
	if err := os.WriteFile(path, raw, 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(promtool, "check", "rules", path).CombinedOutput()
	if err != nil {
		t.Fatalf("promtool check rules on the dashboard's queries (dashboard:panel<id>_<refId>:check is that panel's query): %v\n%s", err, out)
	}
	t.Logf("%s", bytes.TrimSpace(out))
}
