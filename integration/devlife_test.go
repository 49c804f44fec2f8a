package integration

import (
	"context"
	"fmt"
	"github.com/payflow/payflow/internal/syncbuf"
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

	"github.com/payflow/payflow/fixtures"
	"github.com/payflow/payflow/routing"
)

type devProcess struct {
	cmd      *exec.Cmd
	exited   chan error // the process's Wait, started by launchDev
	out      *syncbuf.Buffer
	url      string
	temporal string
}

func startDev(t *testing.T, dir string, tport, uiport, port int) *devProcess {
	t.Helper()
	p, err := launchDev(dir, tport, uiport, port)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// startFreshDev starts payflow dev on free ports. Free ports are picked
// while other tests run, so one may be taken before dev binds it: dev then
// exits at once saying so, and another set of ports is tried.
func startFreshDev(t *testing.T, dir string) (p *devProcess, tport, uiport, port int) {
	t.Helper()
	for try := 1; ; try++ {
		tport, uiport, port = freePort(), freePort(), freePort()
		p, err := launchDev(dir, tport, uiport, port)
		if err == nil {
			return p, tport, uiport, port
		}
		if try == 3 || !strings.Contains(err.Error(), "address already in use") {
			t.Fatal(err)
		}
		t.Logf("ports taken meanwhile, trying others: %v", err)
	}
}

// launchDev starts payflow dev and waits until it is ready, or until it
// exits (with its output in the error).
func launchDev(dir string, tport, uiport, port int) (*devProcess, error) {
	p := &devProcess{out: &syncbuf.Buffer{}, url: fmt.Sprintf("http://127.0.0.1:%d", port), temporal: fmt.Sprintf("127.0.0.1:%d", tport)}
	p.cmd = exec.Command(sys.bin, "dev", "-dir", dir, "-temporal", temporalBin(), "-temporal-port", fmt.Sprint(tport),
		"-ui-port", fmt.Sprint(uiport), "-addr", fmt.Sprintf("127.0.0.1:%d", port))
	p.cmd.Env = append(os.Environ(), "STRIPE_WEBHOOK_SECRET=", "DATABASE_URL=", "STRIPE_API_KEY=", "SENDGRID_API_KEY=", "PAYFLOW_PAYLOAD_KEYS=")
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.out
	if err := p.cmd.Start(); err != nil {
		return nil, err
	}
	exited := make(chan error, 1)
	go func() { exited <- p.cmd.Wait() }()
	deadline := time.Now().Add(90 * time.Second)
	last := ""
	for time.Now().Before(deadline) {
		select {
		case err := <-exited:
			return nil, fmt.Errorf("payflow dev exited before it was ready (%v):\n%s", err, tail(p.out.String(), 3000))
		case <-time.After(250 * time.Millisecond):
		}
		resp, err := http.Get(p.url + "/readyz")
		if err != nil {
			last = err.Error()
			continue
		}
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			p.exited = exited // stop waits on it
			return p, nil
		}
		last = resp.Status
	}
	_ = p.cmd.Process.Kill()
	return nil, fmt.Errorf("payflow dev not ready after 90s (last: %s):\n%s", last, tail(p.out.String(), 3000))
}

// stop sends Ctrl-C and checks everything it started is gone.
func (p *devProcess) stop(t *testing.T) {
	t.Helper()
	if err := p.cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-p.exited:
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

// `payflow dev` generates and keeps a webhook secret, keeps
// Temporal's state in a file (a restart keeps workflows), and Ctrl-C stops
// everything it started.
func TestDevRestartKeepsWorkflows(t *testing.T) {
	dir := t.TempDir()
	p, tport, uiport, port := startFreshDev(t, dir)
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
		d, err := c.DescribeWorkflowExecution(context.Background(), routing.OrderID("pi_restart"), "")
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
	// The payload key is kept too: the restarted worker reads what the
	// first run encrypted (a query replays the order's whole history).
	keys, err := os.ReadFile(filepath.Join(dir, "payload_keys"))
	if err != nil {
		t.Fatalf("dev kept no payload key: %v", err)
	}
	interceptors, err := codecInterceptors(strings.TrimSpace(string(keys)))
	if err != nil {
		t.Fatal(err)
	}
	kc, err := client.Dial(client.Options{HostPort: p.temporal,
		ConnectionOptions: client.ConnectionOptions{DialOptions: []grpc.DialOption{grpc.WithChainUnaryInterceptor(interceptors...)}}})
	if err != nil {
		t.Fatal(err)
	}
	defer kc.Close()
	var order map[string]any
	if v, err := kc.QueryWorkflow(context.Background(), routing.OrderID("pi_restart"), "", routing.QueryState); err != nil || v.Get(&order) != nil || order == nil {
		t.Fatalf("state of the first run's order after a restart: %v %v", err, order)
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

// devRun is a `payflow dev` expected to stop during start-up.
type devRun struct {
	cmd  *exec.Cmd
	out  *syncbuf.Buffer
	done chan error
}

func startDevRun(t *testing.T, temporal string, tport, uiport int) *devRun {
	t.Helper()
	r := &devRun{out: &syncbuf.Buffer{}, done: make(chan error, 1)}
	r.cmd = exec.Command(sys.bin, "dev", "-dir", t.TempDir(), "-temporal", temporal, "-temporal-port", fmt.Sprint(tport),
		"-ui-port", fmt.Sprint(uiport), "-addr", fmt.Sprintf("127.0.0.1:%d", freePort()))
	r.cmd.Env = append(os.Environ(), "STRIPE_WEBHOOK_SECRET=", "DATABASE_URL=", "STRIPE_API_KEY=", "SENDGRID_API_KEY=", "PAYFLOW_PAYLOAD_KEYS=")
	r.cmd.Stdout, r.cmd.Stderr = r.out, r.out
	if err := r.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { r.done <- r.cmd.Wait() }()
	t.Cleanup(func() {
		if r.cmd.ProcessState == nil {
			_ = r.cmd.Process.Kill()
		}
	})
	return r
}

// wait returns how payflow dev exited, failing the test if it is still
// running after within.
func (r *devRun) wait(t *testing.T, within time.Duration) error {
	t.Helper()
	select {
	case err := <-r.done:
		return err
	case <-time.After(within):
		_ = r.cmd.Process.Kill()
		<-r.done
		t.Fatalf("payflow dev still running %s later; output:\n%s", within, tail(r.out.String(), 2000))
		return nil
	}
}

// When the Temporal dev server exits during start-up (its port
// or its UI's port already taken), payflow dev says why, in the server's
// own words, and exits non-zero instead of hanging.
func TestDevExitsWhenTemporalCannotStart(t *testing.T) {
	for _, taken := range []string{"frontend", "ui"} {
		t.Run(taken, func(t *testing.T) {
			t.Parallel()
			l, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			defer l.Close()
			busy := l.Addr().(*net.TCPAddr).Port
			tport, uiport := freePort(), freePort()
			if taken == "frontend" {
				tport = busy
			} else {
				uiport = busy
			}
			r := startDevRun(t, temporalBin(), tport, uiport)
			start := time.Now()
			err = r.wait(t, 60*time.Second)
			out := r.out.String()
			if err == nil {
				t.Fatalf("payflow dev exited 0; want non-zero. Output:\n%s", out)
			}
			if !strings.Contains(out, "temporal dev server exited") || !strings.Contains(out, fmt.Sprintf("%d", busy)) ||
				!strings.Contains(out, "address already in use") {
				t.Errorf("output lacks the server's own error (port %d already in use):\n%s", busy, tail(out, 3000))
			}
			t.Logf("exited after %s: %v", time.Since(start).Round(time.Millisecond), err)
		})
	}
}

// fakeTemporal writes a stand-in for the temporal CLI.
func fakeTemporal(t *testing.T, script string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "temporal")
	if err := os.WriteFile(p, []byte("#!/bin/sh\n"+script+"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

// The same with a server that fails at once: payflow dev reports its
// output promptly instead of waiting on the dead server.
func TestDevExitsWhenTemporalFailsAtOnce(t *testing.T) {
	t.Parallel()
	bin := fakeTemporal(t, `echo "Error: unable to start server: fake failure for payflow's test" >&2
exit 3`)
	r := startDevRun(t, bin, freePort(), freePort())
	err := r.wait(t, 20*time.Second)
	out := r.out.String()
	if err == nil || !strings.Contains(out, "fake failure for payflow's test") || !strings.Contains(out, "exit status 3") {
		t.Errorf("exit %v, output:\n%s\nwant non-zero with the server's message and status", err, out)
	}
}

// SIGTERM while payflow dev waits for a server that never listens: it stops
// promptly and takes the server with it.
func TestDevSIGTERMDuringStartup(t *testing.T) {
	t.Parallel()
	pidFile := filepath.Join(t.TempDir(), "server.pid")
	bin := fakeTemporal(t, `echo $$ > `+pidFile+`
exec sleep 300`)
	r := startDevRun(t, bin, freePort(), freePort())
	var pid int
	waitFor(t, 20*time.Second, "the fake server started", func() (bool, string) {
		b, err := os.ReadFile(pidFile)
		if err != nil {
			return false, err.Error()
		}
		_, err = fmt.Sscan(string(b), &pid)
		return err == nil && pid > 0, string(b)
	})
	if err := r.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	err := r.wait(t, 15*time.Second)
	t.Logf("exited %s after SIGTERM: %v", time.Since(start).Round(time.Millisecond), err)
	if syscall.Kill(pid, 0) == nil {
		_ = syscall.Kill(pid, syscall.SIGKILL)
		t.Errorf("the dev server (pid %d) survived payflow dev", pid)
	}
}
