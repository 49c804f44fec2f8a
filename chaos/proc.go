package chaos

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Proc is one process under test, in its own process group so that a
// signal reaches the whole of it (and never this harness). It can be
// killed, stopped, continued and started again with the same command line.
//
// (bench/internal/proc has the same start/stop logic; Go's internal rule
// keeps it out of reach of this package.)
type Proc struct {
	Name    string
	argv    []string
	env     []string
	dir     string
	logPath string

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{} // closed when the current incarnation exited
	err  error
	log  *os.File
}

// NewProc describes a process; Start runs it. Its output is appended to
// logPath across restarts.
func NewProc(name, logPath, dir string, env []string, argv ...string) *Proc {
	return &Proc{Name: name, argv: argv, env: env, dir: dir, logPath: logPath}
}

// Start runs the process (again, after it exited).
func (p *Proc) Start() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd != nil {
		select {
		case <-p.done:
		default:
			return fmt.Errorf("%s: already running (pid %d)", p.Name, p.cmd.Process.Pid)
		}
	}
	f, err := os.OpenFile(p.logPath, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	fmt.Fprintf(f, "\n=== chaos: %s starting at %s ===\n", p.Name, time.Now().Format(time.RFC3339Nano))
	cmd := exec.Command(p.argv[0], p.argv[1:]...)
	cmd.Env, cmd.Dir = p.env, p.dir
	cmd.Stdout, cmd.Stderr = f, f
	// Own process group; and killed with this harness if it dies without
	// cleaning up (the signal goes when the forking thread exits, which the
	// Go runtime does not do to its threads).
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		f.Close()
		return fmt.Errorf("start %s: %w", p.Name, err)
	}
	done := make(chan struct{})
	p.cmd, p.done, p.err, p.log = cmd, done, nil, f
	go func() {
		err := cmd.Wait()
		f.Close()
		p.mu.Lock()
		p.err = err
		p.mu.Unlock()
		close(done)
	}()
	return nil
}

func (p *Proc) current() (*exec.Cmd, chan struct{}) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.cmd, p.done
}

// Running reports whether the current incarnation is alive.
func (p *Proc) Running() bool {
	cmd, done := p.current()
	if cmd == nil {
		return false
	}
	select {
	case <-done:
		return false
	default:
		return true
	}
}

// ExitErr is the last incarnation's exit status, once it exited.
func (p *Proc) ExitErr() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.err
}

// Signal sends sig to the process group.
func (p *Proc) Signal(sig syscall.Signal) error {
	cmd, _ := p.current()
	if !p.Running() {
		return fmt.Errorf("%s is not running", p.Name)
	}
	return syscall.Kill(-cmd.Process.Pid, sig)
}

// Kill9 kills the whole group with SIGKILL and waits (bounded) until the
// process is gone.
func (p *Proc) Kill9() error {
	cmd, done := p.current()
	if cmd == nil {
		return nil
	}
	_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	select {
	case <-done:
		return nil
	case <-time.After(10 * time.Second):
		return fmt.Errorf("%s (pid %d) still alive 10s after SIGKILL", p.Name, cmd.Process.Pid)
	}
}

// Stop ends the process: SIGCONT (it may be stopped), SIGTERM to the
// group, SIGKILL after grace.
func (p *Proc) Stop(grace time.Duration) error {
	cmd, done := p.current()
	if cmd == nil {
		return nil
	}
	select {
	case <-done:
		return nil
	default:
	}
	pid := cmd.Process.Pid
	_ = syscall.Kill(-pid, syscall.SIGCONT)
	_ = syscall.Kill(-pid, syscall.SIGTERM)
	select {
	case <-done:
		return nil
	case <-time.After(grace):
	}
	_ = syscall.Kill(-pid, syscall.SIGKILL)
	select {
	case <-done:
		return fmt.Errorf("%s did not stop within %s: killed", p.Name, grace)
	case <-time.After(10 * time.Second):
		return fmt.Errorf("%s (pid %d) still alive 10s after SIGKILL", p.Name, pid)
	}
}

// Exited is closed when the current incarnation exits.
func (p *Proc) Exited() <-chan struct{} {
	_, done := p.current()
	return done
}

// Tail returns the last n lines of the process's log.
func (p *Proc) Tail(n int) string { return tailFile(p.logPath, n) }

func tailFile(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	for i, l := range lines {
		if len(l) > 300 {
			lines[i] = l[:300] + "…"
		}
	}
	return strings.Join(lines, "\n")
}

// freePort returns a TCP port on 127.0.0.1 that was free a moment ago.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// waitTCP waits until addr accepts connections, p exits, or within passes.
func waitTCP(ctx context.Context, addr string, within time.Duration, p *Proc) error {
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) && ctx.Err() == nil {
		c, err := net.DialTimeout("tcp", addr, 300*time.Millisecond)
		if err == nil {
			c.Close()
			return nil
		}
		select {
		case <-p.Exited():
			return fmt.Errorf("%s exited before listening on %s: %v\n%s", p.Name, addr, p.ExitErr(), p.Tail(15))
		case <-ctx.Done():
		case <-time.After(100 * time.Millisecond):
		}
	}
	return fmt.Errorf("%s: nothing listening on %s after %s\n%s", p.Name, addr, within, p.Tail(15))
}

// waitOK waits until GET one of urls answers 200, p exits, or within
// passes.
func waitOK(ctx context.Context, within time.Duration, p *Proc, urls ...string) error {
	deadline := time.Now().Add(within)
	hc := &http.Client{Timeout: 3 * time.Second}
	last := ""
	for time.Now().Before(deadline) && ctx.Err() == nil {
		for _, url := range urls {
			resp, err := hc.Get(url)
			if err != nil {
				last = err.Error()
				continue
			}
			b, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			last = fmt.Sprintf("%s: %d %s", url, resp.StatusCode, strings.TrimSpace(string(b)))
		}
		select {
		case <-p.Exited():
			return fmt.Errorf("%s exited: %v\n%s", p.Name, p.ExitErr(), p.Tail(15))
		case <-ctx.Done():
		case <-time.After(250 * time.Millisecond):
		}
	}
	return fmt.Errorf("%s: %s not ready after %s (last: %s)\n%s", p.Name, strings.Join(urls, " or "), within, last, p.Tail(15))
}
