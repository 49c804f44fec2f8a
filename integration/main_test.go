// Package integration runs payflow as a user does: the built binary's
// `payflow dev` (the pinned Temporal CLI's dev server, the worker and the
// receiver, SQLite), real HTTP, and in-repo fakes of Stripe's and
// SendGrid's APIs reached through STRIPE_API_BASE and SENDGRID_API_BASE.
package integration

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/payflow/payflow/internal/syncbuf"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"
	"google.golang.org/grpc"

	"github.com/payflow/payflow"
	"github.com/payflow/payflow/fakes/sendgridapi"
	"github.com/payflow/payflow/fakes/stripeapi"
	"github.com/payflow/payflow/fixtures"
	"github.com/payflow/payflow/routing"
	"github.com/payflow/payflow/store"
	"github.com/payflow/payflow/webhook"
)

const (
	webhookSecret = "whsec_integration_0123456789abcdef"
	stripeKey     = "sk_test_integration"
	sendgridKey   = "SG.integration"
	alertEmail    = "ops@merchant.example"
)

// env is the one running system every test in this package shares.
type env struct {
	bin         string
	dir         string
	webhookURL  string
	metricsURL  string // payflow dev's ops listener: /metrics
	temporal    client.Client
	temporalAdr string
	dbURL       string
	stripe      *stripeapi.Server
	stripeURL   string
	sendgrid    *sendgridapi.Server
	db          *store.DB
	cmd         *exec.Cmd
	exited      chan struct{} // closed when cmd has exited
	output      *syncbuf.Buffer
	// Payload encryption: the key payflow dev generated (PAYFLOW_PAYLOAD_KEYS
	// form), its codec endpoint and its Web UI. sys.temporal decrypts at the
	// gRPC layer with that key, so tests read histories and queries in the
	// clear; privacy_test.go reads them without it.
	payloadKeys string
	codecURL    string
	uiURL       string
}

var sys *env

func freePort() int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func repoRoot() string {
	wd, _ := os.Getwd()
	return filepath.Dir(wd)
}

func temporalBin() string {
	if p := os.Getenv("PAYFLOW_TEMPORAL_BIN"); p != "" {
		return p
	}
	return filepath.Join(repoRoot(), ".tools", "bin", "temporal")
}

func TestMain(m *testing.M) {
	if _, err := os.Stat(temporalBin()); err != nil {
		if os.Getenv("CI") != "" {
			fmt.Fprintln(os.Stderr, "integration: Temporal CLI missing in CI:", err)
			os.Exit(1)
		}
		fmt.Fprintln(os.Stderr, "integration: skipped, no Temporal CLI (run `make test`, which installs it)")
		os.Exit(0)
	}
	code, err := run(m)
	if err != nil {
		fmt.Fprintln(os.Stderr, "integration:", err)
		if sys != nil && sys.output != nil {
			fmt.Fprintln(os.Stderr, "--- payflow dev output ---\n"+tail(sys.output.String(), 4000))
		}
		os.Exit(1)
	}
	os.Exit(code)
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

func run(m *testing.M) (int, error) {
	dir, err := os.MkdirTemp("", "payflow-it-")
	if err != nil {
		return 0, err
	}
	defer os.RemoveAll(dir)
	sys = &env{dir: dir, bin: filepath.Join(dir, "payflow"), output: &syncbuf.Buffer{}}
	build := exec.Command("go", "build", "-o", sys.bin, "./cmd/payflow")
	build.Dir = repoRoot()
	if out, err := build.CombinedOutput(); err != nil {
		return 0, fmt.Errorf("build payflow: %v\n%s", err, out)
	}
	sys.stripe = stripeapi.New(stripeKey)
	stripeURL, stopStripe := sys.stripe.Start()
	defer stopStripe()
	sys.stripeURL = stripeURL
	sys.sendgrid = sendgridapi.New(sendgridKey)
	sgURL, stopSG := sys.sendgrid.Start()
	defer stopSG()

	// The ports are picked free and bound a moment later by other
	// processes: one taken meanwhile makes the dev server exit at once.
	// Start again on fresh ports rather than fail the whole suite.
	for attempt := 1; ; attempt++ {
		err := startSystemDev(dir, stripeURL, sgURL)
		if err == nil {
			break
		}
		if attempt == 3 {
			return 0, err
		}
		fmt.Fprintf(os.Stderr, "integration: payflow dev attempt %d: %v; starting again on fresh ports\n--- its output ---\n%s\n",
			attempt, err, tail(sys.output.String(), 3000))
		stopDev()
		sys.output = &syncbuf.Buffer{}
		if err := os.RemoveAll(filepath.Join(dir, "state")); err != nil {
			return 0, err
		}
	}
	defer stopDev()
	if err := usePayloadKeys(); err != nil {
		return 0, err
	}
	interceptors, err := codecInterceptors(sys.payloadKeys)
	if err != nil {
		return 0, err
	}
	sys.temporal, err = client.Dial(client.Options{HostPort: sys.temporalAdr, Namespace: "default",
		ConnectionOptions: client.ConnectionOptions{DialOptions: []grpc.DialOption{grpc.WithChainUnaryInterceptor(interceptors...)}}})
	if err != nil {
		return 0, err
	}
	defer sys.temporal.Close()
	sys.db, err = store.Open(context.Background(), sys.dbURL)
	if err != nil {
		return 0, err
	}
	defer sys.db.Close()
	return m.Run(), nil
}

// startSystemDev starts payflow dev on fresh ports and waits until it is ready.
func startSystemDev(dir, stripeURL, sgURL string) error {
	tport, uiport, addrPort, metricsPort, codecPort := freePort(), freePort(), freePort(), freePort(), freePort()
	sys.temporalAdr = fmt.Sprintf("127.0.0.1:%d", tport)
	sys.webhookURL = fmt.Sprintf("http://127.0.0.1:%d%s", addrPort, webhook.Path)
	sys.metricsURL = fmt.Sprintf("http://127.0.0.1:%d/metrics", metricsPort)
	sys.codecURL = fmt.Sprintf("http://127.0.0.1:%d", codecPort)
	sys.uiURL = fmt.Sprintf("http://127.0.0.1:%d", uiport)
	sys.dbURL = filepath.Join(dir, "state", "payflow.db")
	sys.cmd = exec.Command(sys.bin, "dev", "-dir", filepath.Join(dir, "state"), "-temporal", temporalBin(),
		"-temporal-port", fmt.Sprint(tport), "-ui-port", fmt.Sprint(uiport), "-addr", fmt.Sprintf("127.0.0.1:%d", addrPort),
		"-codec-port", fmt.Sprint(codecPort))
	sys.cmd.Env = append(os.Environ(),
		"STRIPE_WEBHOOK_SECRET="+webhookSecret,
		"STRIPE_API_KEY="+stripeKey, "STRIPE_API_BASE="+stripeURL,
		"SENDGRID_API_KEY="+sendgridKey, "SENDGRID_API_BASE="+sgURL,
		"EMAIL_FROM=billing@merchant.example", "ALERT_EMAIL="+alertEmail,
		// Customer emails carry the merchant's name and support address;
		// invoice receipts go through a SendGrid template (email_test.go).
		"EMAIL_BRAND_NAME="+brandName, "EMAIL_REPLY_TO="+supportEmail, "SENDGRID_TEMPLATES=invoice_receipt="+invoiceReceiptTemplate,
		"DATABASE_URL="+sys.dbURL,
		fmt.Sprintf("PAYFLOW_METRICS_ADDR=127.0.0.1:%d", metricsPort),
		// A campaign in seconds: retries 3s and 6s after the failure, the
		// last at 40s; access suspended after 30s.
		"DUNNING_RETRY_DELAYS=3s,6s,40s", "DUNNING_GRACE=30s", "DUNNING_FINAL_ACTION=cancel",
		// Stripe Connect: every connected account's events are processed
		// (connect_test.go); the platform's own, which every other test
		// sends, are processed whatever it says. STRIPE_LIVEMODE is left to
		// follow the sk_test_ key: test mode.
		"STRIPE_ACCOUNTS=*",
		"LOG_LEVEL=info",
		// payflow dev generates its payload key, as for a user.
		"PAYFLOW_PAYLOAD_KEYS=", "PAYFLOW_PAYLOAD_ENCRYPTION=",
	)
	sys.cmd.Stdout, sys.cmd.Stderr = sys.output, sys.output
	sys.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := sys.cmd.Start(); err != nil {
		return err
	}
	sys.exited = make(chan struct{})
	go func(cmd *exec.Cmd, exited chan struct{}) { _ = cmd.Wait(); close(exited) }(sys.cmd, sys.exited)
	return waitReady(90 * time.Second)
}

func stopDev() {
	if sys.cmd == nil || sys.cmd.Process == nil {
		return
	}
	_ = sys.cmd.Process.Signal(os.Interrupt)
	select {
	case <-sys.exited:
	case <-time.After(20 * time.Second):
		_ = syscall.Kill(-sys.cmd.Process.Pid, syscall.SIGKILL)
		<-sys.exited
	}
	// Nothing of its process group (the Temporal dev server) outlives it.
	_ = syscall.Kill(-sys.cmd.Process.Pid, syscall.SIGKILL)
}

func waitReady(within time.Duration) error {
	deadline := time.Now().Add(within)
	readyz := strings.TrimSuffix(sys.webhookURL, webhook.Path) + "/readyz"
	for time.Now().Before(deadline) {
		select {
		case <-sys.exited:
			return errors.New("payflow dev exited before it was ready")
		default:
		}
		resp, err := http.Get(readyz)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return nil
			}
		}
		time.Sleep(300 * time.Millisecond)
	}
	return fmt.Errorf("payflow dev not ready after %s", within)
}

// deliver posts a signed event and returns the status and JSON body.
func deliver(t testing.TB, payload []byte) (int, map[string]any) {
	t.Helper()
	return deliverTo(t, sys.webhookURL, payload)
}

// deliverTo posts a signed event to the receiver at url (its webhook path)
// and returns the status and JSON body.
func deliverTo(t testing.TB, url string, payload []byte) (int, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, url, bytes.NewReader(payload))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Stripe-Signature", fixtures.Sign(payload, []string{webhookSecret}, time.Now()))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("post: %v", err)
	}
	defer resp.Body.Close()
	var body map[string]any
	raw, _ := io.ReadAll(resp.Body)
	_ = json.Unmarshal(raw, &body)
	return resp.StatusCode, body
}

func mustDeliver(t testing.TB, payload []byte) map[string]any {
	t.Helper()
	status, body := deliver(t, payload)
	if status != 200 {
		t.Fatalf("delivery answered %d: %v", status, body)
	}
	return body
}

func build(t testing.TB, typ string, o fixtures.Options) []byte {
	t.Helper()
	b, err := fixtures.Build(typ, o)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// waitFor polls cond until it holds or the time is up.
func waitFor(t testing.TB, within time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(within)
	last := ""
	for {
		ok, state := cond()
		if ok {
			return
		}
		last = state
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s (last: %s)\n--- payflow dev output (tail) ---\n%s", within, what, last, tail(sys.output.String(), 3000))
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func describe(t testing.TB, id string) (enums.WorkflowExecutionStatus, map[string]string) {
	t.Helper()
	d, err := sys.temporal.DescribeWorkflowExecution(context.Background(), id, "")
	if err != nil {
		return enums.WORKFLOW_EXECUTION_STATUS_UNSPECIFIED, nil
	}
	attrs := map[string]string{}
	for k, p := range d.WorkflowExecutionInfo.GetSearchAttributes().GetIndexedFields() {
		var s string
		_ = json.Unmarshal(p.GetData(), &s)
		attrs[k] = s
	}
	return d.WorkflowExecutionInfo.Status, attrs
}

func waitCompleted(t testing.TB, id string) {
	t.Helper()
	waitFor(t, 60*time.Second, id+" completed", func() (bool, string) {
		st, _ := describe(t, id)
		return st == enums.WORKFLOW_EXECUTION_STATUS_COMPLETED, st.String()
	})
}

func waitStatus(t testing.TB, id, want string) {
	t.Helper()
	waitAttr(t, id, routing.StatusKey.GetName(), want)
}

// waitAttr waits until the workflow's search attribute name is want.
func waitAttr(t testing.TB, id, name, want string) {
	t.Helper()
	waitFor(t, 60*time.Second, id+" "+name+"="+want, func() (bool, string) {
		_, attrs := describe(t, id)
		return attrs[name] == want, fmt.Sprint(attrs)
	})
}

func summary(t testing.TB, customer string) payflow.CustomerSummary {
	t.Helper()
	s, err := sys.db.CustomerSummary(context.Background(), customer)
	if err != nil && !errors.Is(err, payflow.ErrNotFound) {
		t.Fatalf("summary %s: %v", customer, err)
	}
	return s
}

// sentWith counts the messages SendGrid accepted whose dedupe key starts
// with prefix.
func sentWith(prefix string) map[string]int {
	out := map[string]int{}
	for _, m := range sys.sendgrid.Messages() {
		if k := m.CustomArgs["payflow_dedupe_key"]; strings.HasPrefix(k, prefix) {
			out[k]++
		}
	}
	return out
}

func emailKeys(s payflow.CustomerSummary, prefix string) map[string]payflow.Email {
	out := map[string]payflow.Email{}
	for _, e := range s.Emails {
		if strings.HasPrefix(e.DedupeKey, prefix) {
			out[e.DedupeKey] = e
		}
	}
	return out
}

func query(t testing.TB, id string, into any) {
	t.Helper()
	v, err := sys.temporal.QueryWorkflow(context.Background(), id, "", routing.QueryState)
	if err != nil {
		t.Fatalf("query %s: %v", id, err)
	}
	if err := v.Get(into); err != nil {
		t.Fatal(err)
	}
}

// sourceAccess is what each source does to each product of the customer:
// "<product> <source>" → status.
func sourceAccess(t testing.TB, cus string) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, a := range summary(t, cus).Access {
		out[a.ProductID+" "+a.Source] = a.Status
	}
	return out
}

// effectiveAccess folds the source rows as the public contract defines the
// customer's access to a product: granted if any source grants it, else
// suspended if any suspends it, else revoked.
func effectiveAccess(t testing.TB, cus string) map[string]string {
	t.Helper()
	rank := map[string]int{payflow.AccessRevoked: 1, payflow.AccessSuspended: 2, payflow.AccessGranted: 3}
	out := map[string]string{}
	for _, a := range summary(t, cus).Access {
		if rank[a.Status] > rank[out[a.ProductID]] {
			out[a.ProductID] = a.Status
		}
	}
	return out
}

// waitAccess waits until the customer's effective access to product is want.
func waitAccess(t testing.TB, cus, product, want string) {
	t.Helper()
	waitFor(t, 60*time.Second, cus+" access to "+product+" "+want, func() (bool, string) {
		got := effectiveAccess(t, cus)
		return got[product] == want, fmt.Sprint(got)
	})
}

// inspectAccess is `payflow inspect -json customer <cus>`'s access list.
type inspectAccess struct {
	Access []struct {
		ProductID string `json:"product_id"`
		Status    string `json:"status"`
		Sources   []struct {
			Source string `json:"source"`
			Status string `json:"status"`
		} `json:"sources"`
	} `json:"access"`
}

func inspect(t testing.TB, cus string) inspectAccess {
	t.Helper()
	out, err := runPayflow(t, []string{"DATABASE_URL=" + sys.dbURL, "TEMPORAL_ADDRESS=" + sys.temporalAdr}, "inspect", "-json", "customer", cus)
	if err != nil {
		t.Fatalf("inspect: %v\n%s", err, out)
	}
	var v inspectAccess
	if err := json.Unmarshal([]byte(out), &v); err != nil {
		t.Fatalf("inspect -json: %v\n%s", err, out)
	}
	return v
}

func runPayflow(t testing.TB, env []string, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command(sys.bin, args...)
	cmd.Env = append(os.Environ(), env...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	return out.String(), err
}

var _ = bufio.NewReader

// stopGracefully sends SIGTERM to each process and fails the test if one
// exits with an error or is still running 30 s later (then it is killed).
func stopGracefully(t *testing.T, procs map[string]*exec.Cmd) {
	t.Helper()
	for name, cmd := range procs {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("%s exited with %v after SIGTERM", name, err)
			}
		case <-time.After(30 * time.Second):
			_ = cmd.Process.Kill()
			t.Errorf("%s did not stop within 30 s of SIGTERM", name)
		}
	}
}
