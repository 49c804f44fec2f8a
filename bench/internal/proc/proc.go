// Package proc starts and stops the processes under test and reads their
// CPU time and memory from /proc.
package proc

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// ClockTicks is USER_HZ, the unit of utime and stime in /proc/<pid>/stat
// (100 on every Linux architecture Go supports).
const ClockTicks = 100

// Proc is a child process in its own process group.
type Proc struct {
	Name string
	Cmd  *exec.Cmd
	done chan struct{}
	err  error
	log  *os.File
}

// Start runs argv with env (nil: inherit), its stdout and stderr appended
// to logPath ("" discards them), in a new process group.
func Start(name, logPath, dir string, env []string, argv ...string) (*Proc, error) {
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = env
	cmd.Dir = dir
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	p := &Proc{Name: name, Cmd: cmd, done: make(chan struct{})}
	if logPath != "" {
		f, err := os.OpenFile(logPath, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
		if err != nil {
			return nil, err
		}
		p.log = f
		cmd.Stdout, cmd.Stderr = f, f
	}
	if err := cmd.Start(); err != nil {
		if p.log != nil {
			p.log.Close()
		}
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	go func() {
		p.err = cmd.Wait()
		if p.log != nil {
			p.log.Close()
		}
		close(p.done)
	}()
	return p, nil
}

// Pid is the child's process ID.
func (p *Proc) Pid() int { return p.Cmd.Process.Pid }

// Exited is closed when the process has exited.
func (p *Proc) Exited() <-chan struct{} { return p.done }

// Err is the process's exit error, once Exited is closed.
func (p *Proc) Err() error { return p.err }

// Stop sends SIGTERM to the process (the process alone when it stops its own
// children, as payflow dev does; else its whole group), waits up to grace,
// then kills the group and every descendant seen before the signal.
func (p *Proc) Stop(grace time.Duration, groupTerm bool) error {
	select {
	case <-p.done:
		return nil
	default:
	}
	desc := Descendants(p.Pid())
	pid := p.Pid()
	if groupTerm {
		_ = syscall.Kill(-pid, syscall.SIGTERM)
	} else {
		_ = syscall.Kill(pid, syscall.SIGTERM)
	}
	var err error
	select {
	case <-p.done:
	case <-time.After(grace):
		err = fmt.Errorf("%s did not stop within %s: killed", p.Name, grace)
		_ = syscall.Kill(-pid, syscall.SIGKILL)
		<-p.done
	}
	// Descendants in their own process groups (payflow dev's Temporal
	// server) normally exit with their parent; make sure they did.
	deadline := time.Now().Add(grace)
	for _, d := range desc {
		for alive(d) && time.Now().Before(deadline) {
			time.Sleep(100 * time.Millisecond)
		}
		if alive(d) {
			_ = syscall.Kill(d, syscall.SIGKILL)
			err = errors.Join(err, fmt.Errorf("%s: descendant %d killed", p.Name, d))
		}
	}
	return err
}

func alive(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	// A zombie is gone for our purposes.
	i := bytes.LastIndexByte(b, ')')
	return i < 0 || i+2 >= len(b) || b[i+2] != 'Z'
}

// Descendants lists the children, grandchildren, ... of pid.
func Descendants(pid int) []int {
	var out []int
	queue := []int{pid}
	for n := 0; len(queue) > 0 && n < 10000; n++ {
		p := queue[0]
		queue = queue[1:]
		tasks, _ := os.ReadDir(fmt.Sprintf("/proc/%d/task", p))
		for _, t := range tasks {
			b, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%s/children", p, t.Name()))
			if err != nil {
				continue
			}
			for _, f := range strings.Fields(string(b)) {
				if c, err := strconv.Atoi(f); err == nil {
					out = append(out, c)
					queue = append(queue, c)
				}
			}
		}
	}
	return out
}

// CPU returns the process's user+system CPU time (all its threads; not its
// children).
func CPU(pid int) (time.Duration, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, err
	}
	// Fields after the command name, which is in parentheses and may hold
	// spaces: state is field 3, utime 14, stime 15.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, fmt.Errorf("unexpected /proc/%d/stat", pid)
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return 0, fmt.Errorf("unexpected /proc/%d/stat", pid)
	}
	ut, err1 := strconv.ParseInt(f[11], 10, 64)
	st, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("unexpected /proc/%d/stat", pid)
	}
	return time.Duration(ut+st) * time.Second / ClockTicks, nil
}

// Memory reads VmRSS and VmHWM (peak RSS) in bytes.
func Memory(pid int) (rss, peak int64, err error) {
	f, err := os.Open("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0, 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		for _, k := range []struct {
			name string
			dst  *int64
		}{{"VmRSS:", &rss}, {"VmHWM:", &peak}} {
			if v, ok := strings.CutPrefix(line, k.name); ok {
				fs := strings.Fields(v)
				if len(fs) > 0 {
					n, _ := strconv.ParseInt(fs[0], 10, 64)
					*k.dst = n * 1024
				}
			}
		}
	}
	return rss, peak, sc.Err()
}

// SelfCPU is this process's user+system CPU time.
func SelfCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// FreePort returns a TCP port on 127.0.0.1 that was free a moment ago.
func FreePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// WaitTCP waits until addr accepts connections, the process exits, or
// within passes.
func WaitTCP(addr string, within time.Duration, p *Proc) error {
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) {
		c, err := net.DialTimeout("tcp", addr, 300*time.Millisecond)
		if err == nil {
			c.Close()
			return nil
		}
		if p != nil {
			select {
			case <-p.done:
				return fmt.Errorf("%s exited before listening on %s: %v", p.Name, addr, p.err)
			default:
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("nothing listening on %s after %s", addr, within)
}

// Adopt wraps a process this one did not start (to read its CPU and
// memory; it is never stopped through the result).
func Adopt(name string, pid int) *Proc {
	p, _ := os.FindProcess(pid)
	return &Proc{Name: name, Cmd: &exec.Cmd{Process: p}, done: make(chan struct{})}
}

// SystemBusy is the CPU time all CPUs spent outside idle and iowait since
// boot, from /proc/stat. Its change over a run, less the CPU of the
// processes under test and of this one, is the background load of the
// (shared) machine during the run.
func SystemBusy() time.Duration {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	if len(f) < 9 || f[0] != "cpu" {
		return 0
	}
	var busy int64
	for i, v := range f[1:] {
		if i == 3 || i == 4 || i >= 8 { // idle, iowait; guest time is already in user
			continue
		}
		n, _ := strconv.ParseInt(v, 10, 64)
		busy += n
	}
	return time.Duration(busy) * time.Second / ClockTicks
}
