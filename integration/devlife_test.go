package integration

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"

	"github.com/payflow/payflow/fixtures"
	"github.com/payflow/payflow/workflows"
)

type devProcess struct {
	cmd      *exec.Cmd
	out      *syncBuffer
	url      string
	temporal string
}

func startDev(t *testing.T, dir string, tport, uiport, port int) *devProcess {
	t.Helper()
	p := &devProcess{out: &syncBuffer{}, url: fmt.Sprintf("http://127.0.0.1:%d", port), temporal: fmt.Sprintf("127.0.0.1:%d", tport)}
	p.cmd = exec.Command(sys.bin, "dev", "-dir", dir, "-temporal", temporalBin(), "-temporal-port", fmt.Sprint(tport),
		"-ui-port", fmt.Sprint(uiport), "-addr", fmt.Sprintf("127.0.0.1:%d", port))
	p.cmd.Env = append(os.Environ(), "STRIPE_WEBHOOK_SECRET=", "DATABASE_URL=", "STRIPE_API_KEY=", "SENDGRID_API_KEY=")
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.out
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 90*time.Second, "second payflow dev ready", func() (bool, string) {
		resp, err := http.Get(p.url + "/readyz")
		if err != nil {
			return false, err.Error()
		}
		resp.Body.Close()
		return resp.StatusCode == 200, resp.Status
	})
	return p
}

// stop sends Ctrl-C and checks everything it started is gone.
func (p *devProcess) stop(t *testing.T) {
	t.Helper()
	if err := p.cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- p.cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("payflow dev exited with %v after Ctrl-C\n%s", err, tail(p.out.String(), 2000))
		}
	case <-time.After(30 * time.Second):
		_ = p.cmd.Process.Kill()
		t.Fatal("payflow dev did not stop within 30 s of Ctrl-C")
	}
	for _, addr := range []string{p.temporal, strings.TrimPrefix(p.url, "http://")} {
		if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
			c.Close()
			t.Errorf("%s still listening after Ctrl-C", addr)
		}
	}
}

// Issue 2: `payflow dev` generates and keeps a webhook secret, keeps
// Temporal's state in a file (a restart keeps workflows), and Ctrl-C stops
// everything it started.
func TestDevRestartKeepsWorkflows(t *testing.T) {
	dir := t.TempDir()
	tport, uiport, port := freePort(), freePort(), freePort()
	p := startDev(t, dir, tport, uiport, port)
	secret, err := os.ReadFile(filepath.Join(dir, "webhook_secret"))
	if err != nil || !strings.HasPrefix(string(secret), "whsec_") {
		t.Fatalf("generated secret: %q, %v", secret, err)
	}
	if !strings.Contains(p.out.String(), strings.TrimSpace(string(secret))) || !strings.Contains(p.out.String(), fmt.Sprintf("http://localhost:%d", uiport)) {
		t.Errorf("dev did not print the secret and the UI URL:\n%s", p.out.String())
	}
	// payflow trigger, as a user runs it, with the secret dev generated.
	out, err := exec.Command(sys.bin, "trigger", "-url", p.url+"/webhooks/stripe", "-secret", strings.TrimSpace(string(secret)),
		"-payment-intent", "pi_restart", "-customer", "cus_restart", "payment_intent.succeeded").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "200 OK") {
		t.Fatalf("trigger: %v\n%s", err, out)
	}
	c, err := client.Dial(client.Options{HostPort: p.temporal})
	if err != nil {
		t.Fatal(err)
	}
	completed := func() (bool, string) {
		d, err := c.DescribeWorkflowExecution(context.Background(), workflows.OrderID("pi_restart"), "")
		if err != nil {
			return false, err.Error()
		}
		return d.WorkflowExecutionInfo.Status == enums.WORKFLOW_EXECUTION_STATUS_COMPLETED, d.WorkflowExecutionInfo.Status.String()
	}
	waitFor(t, 60*time.Second, "order completed", completed)
	c.Close()
	p.stop(t)

	p = startDev(t, dir, tport, uiport, port)
	defer p.stop(t)
	c, err = client.Dial(client.Options{HostPort: p.temporal})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if ok, state := completed(); !ok {
		t.Fatalf("after a restart the workflow is %s", state)
	}
	// The same secret signs for the restarted receiver.
	ev, _ := fixtures.Build("payment_intent.succeeded", fixtures.Options{PaymentIntentID: "pi_restart2"})
	req, _ := http.NewRequest(http.MethodPost, p.url+"/webhooks/stripe", strings.NewReader(string(ev)))
	req.Header.Set("Stripe-Signature", fixtures.Sign(ev, []string{strings.TrimSpace(string(secret))}, time.Now()))
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("post after restart: %v %v", err, resp)
	}
	resp.Body.Close()
}
