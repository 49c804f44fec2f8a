package cluster

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	deploytemporal "github.com/payflow/payflow/deploy/temporal"
)

// stopGrace is how long a process gets after SIGTERM before SIGKILL.
const stopGrace = 20 * time.Second

// proc is a process this program started.
type proc struct {
	Process
	cmd    *exec.Cmd
	exited chan struct{} // closed when Wait returns
	err    error         // Wait's answer, once exited is closed
}

// writeConfig writes deploy/temporal's cluster.yaml and dynamicconfig.yaml
// into Dir/config and returns that directory.
func writeConfig(o *Options) (string, error) {
	dir := filepath.Join(o.Dir, "config")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	if err := os.WriteFile(filepath.Join(dir, deploytemporal.ConfigEnv+".yaml"), deploytemporal.Config, 0o644); err != nil {
		return "", err
	}
	if err := os.WriteFile(filepath.Join(dir, "dynamicconfig.yaml"), deploytemporal.DynamicConfig, 0o644); err != nil {
		return "", err
	}
	return dir, nil
}

// serverEnv is what the configuration template reads for one service's
// process, on an environment free of payflow's and Temporal's own
// variables (TEMPORAL_ROOT, TEMPORAL_ENVIRONMENT… would redirect the server).
func serverEnv(o *Options, configDir, service string, instance int) []string {
	env := []string{
		"PAYFLOW_CLUSTER_PORT_OFFSET=" + strconv.Itoa(o.PortOffset),
		"PAYFLOW_CLUSTER_DB_HOST=" + o.PGHost,
		"PAYFLOW_CLUSTER_DB_PORT=" + strconv.Itoa(o.PGPort),
		"PAYFLOW_CLUSTER_DB_USER=" + o.PGUser,
		"PAYFLOW_CLUSTER_DB_PASSWORD=" + o.PGPassword,
		"PAYFLOW_CLUSTER_DB=" + o.Database,
		"PAYFLOW_CLUSTER_VISIBILITY_DB=" + o.VisibilityDatabase,
		"PAYFLOW_CLUSTER_DB_MAX_CONNS=" + strconv.Itoa(o.DBMaxConns),
		"PAYFLOW_CLUSTER_SHARDS=" + strconv.Itoa(o.Shards),
		"PAYFLOW_CLUSTER_DYNAMIC_CONFIG=" + filepath.Join(configDir, "dynamicconfig.yaml"),
		"PAYFLOW_CLUSTER_LOG_LEVEL=" + o.LogLevel,
	}
	hp := portsFor(o.PortOffset, o.HistoryHosts).of(service, instance)
	if service == "history" && instance > 0 {
		// A further history host: the same configuration on ports of
		// its own; it finds the others through the membership table.
		env = append(env, "PAYFLOW_CLUSTER_HISTORY_GRPC_PORT="+strconv.Itoa(hp.grpc),
			"PAYFLOW_CLUSTER_HISTORY_MEMBERSHIP_PORT="+strconv.Itoa(hp.membership))
	}
	if o.Metrics {
		env = append(env, "PAYFLOW_CLUSTER_METRICS_PORT="+strconv.Itoa(hp.metrics))
	}
	return append(cleanEnv(), env...)
}

// cleanEnv is this process's environment without payflow's variables and
// Temporal's (the server reads TEMPORAL_ROOT, TEMPORAL_CONFIG_DIR,
// TEMPORAL_ENVIRONMENT… and the configuration PAYFLOW_CLUSTER_*).
func cleanEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "PAYFLOW_") && !strings.HasPrefix(kv, "TEMPORAL_") {
			env = append(env, kv)
		}
	}
	return env
}

// serverArgs runs one service from the configuration in configDir.
func serverArgs(configDir, service string) []string {
	return []string{"--root", "/", "--config", configDir, "--env", deploytemporal.ConfigEnv, "--allow-no-auth", "start", "--service", service}
}

// processName is a process's name in logs and messages: the service, and
// for a further history host its number (history-2, history-3, …).
func processName(service string, instance int) string {
	if instance == 0 {
		return service
	}
	return fmt.Sprintf("%s-%d", service, instance+1)
}

// startProcess starts one process; a restarted one appends to its log.
func startProcess(o *Options, configDir, service string, instance int, restart bool) (*proc, error) {
	logPath := filepath.Join(o.Dir, "logs", processName(service, instance)+".log")
	flags := os.O_CREATE | os.O_WRONLY | os.O_TRUNC
	if restart {
		flags = os.O_CREATE | os.O_WRONLY | os.O_APPEND
	}
	logFile, err := os.OpenFile(logPath, flags, 0o644)
	if err != nil {
		return nil, err
	}
	defer logFile.Close() // the child has its own descriptor
	cmd := exec.Command(o.ServerBin, serverArgs(configDir, service)...)
	cmd.Dir = o.Dir
	cmd.Env = serverEnv(o, configDir, service, instance)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if o.Detach {
		// A session of its own: no terminal signal (Ctrl-C in the shell that
		// ran `make cluster`) reaches it, and it outlives its parent.
		cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	} else {
		// A group of its own (Stop signals the group), ended with its
		// parent: a test binary killed by its timeout leaves no server
		// holding ports and connections.
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM}
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("cluster: start %s: %w", processName(service, instance), err)
	}
	hp := portsFor(o.PortOffset, o.HistoryHosts).of(service, instance)
	pr := &proc{
		Process: Process{Service: service, Instance: instance, PID: cmd.Process.Pid, Log: logPath,
			GRPCAddress: fmt.Sprintf("127.0.0.1:%d", hp.grpc)},
		cmd: cmd, exited: make(chan struct{}),
	}
	if o.Metrics {
		pr.MetricsAddress = fmt.Sprintf("127.0.0.1:%d", hp.metrics)
	}
	go func() { pr.err = cmd.Wait(); close(pr.exited) }()
	return pr, nil
}

// exitedEarly names a process that has already ended, with its log's tail.
func (c *Cluster) exitedEarly() error {
	for _, p := range c.procs {
		select {
		case <-p.exited:
			b, _ := os.ReadFile(p.Log)
			return fmt.Errorf("cluster: %s exited (%v); its log (%s) ends:\n%s", processName(p.Service, p.Instance), p.err, p.Log, lastLines(string(b), 15))
		default:
		}
	}
	return nil
}

// stopProcesses sends SIGTERM to every process group at once, then SIGKILL
// to what still runs after stopGrace.
func (c *Cluster) stopProcesses() error {
	var pids []int
	if c.procs != nil {
		for _, p := range c.procs {
			pids = append(pids, p.PID)
		}
	} else {
		for _, p := range c.Processes {
			if isServer(p.PID, c.opts.ServerBin) {
				pids = append(pids, p.PID)
			}
		}
	}
	for _, pid := range pids {
		_ = syscall.Kill(-pid, syscall.SIGTERM)
	}
	deadline := time.Now().Add(stopGrace)
	var errs []error
	for _, pid := range pids {
		for c.alive(pid) && time.Now().Before(deadline) {
			time.Sleep(100 * time.Millisecond)
		}
		if c.alive(pid) {
			_ = syscall.Kill(-pid, syscall.SIGKILL)
			errs = append(errs, fmt.Errorf("cluster: process %d did not stop within %s of SIGTERM: killed", pid, stopGrace))
			for i := 0; i < 50 && c.alive(pid); i++ {
				time.Sleep(100 * time.Millisecond)
			}
		}
	}
	return errors.Join(errs...)
}

// alive says whether pid still runs: for a child of this program, until
// Wait returned; for a detached process (not our child, reaped by init),
// while it exists and is no zombie.
func (c *Cluster) alive(pid int) bool {
	for _, p := range c.procs {
		if p.PID == pid {
			select {
			case <-p.exited:
				return false
			default:
				return true
			}
		}
	}
	if syscall.Kill(pid, 0) != nil {
		return false
	}
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	// pid (comm) state …: the state follows the last ')'.
	s := string(stat)
	if i := strings.LastIndexByte(s, ')'); i >= 0 && i+2 < len(s) {
		return s[i+2] != 'Z'
	}
	return true
}

// isServer says whether pid is (still) a process of the server binary, so
// that a stale state file never makes Stop signal a stranger that reused
// the ID.
func isServer(pid int, serverBin string) bool {
	exe, err := os.Readlink(fmt.Sprintf("/proc/%d/exe", pid))
	if err != nil {
		return false
	}
	exe = strings.TrimSuffix(exe, " (deleted)")
	if serverBin != "" {
		if want, err := filepath.EvalSymlinks(serverBin); err == nil && want == exe {
			return true
		}
	}
	cmdline, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	return strings.Contains(string(cmdline), "--env\x00"+deploytemporal.ConfigEnv+"\x00")
}

// Running says whether every process of the cluster still runs.
func (c *Cluster) Running() bool {
	return len(c.Processes) > 0 && len(c.Alive()) == len(c.Processes)
}

// Alive are the cluster's processes that still run.
func (c *Cluster) Alive() []Process {
	var out []Process
	for _, p := range c.Processes {
		if c.procs == nil && !isServer(p.PID, c.opts.ServerBin) {
			continue
		}
		if c.alive(p.PID) {
			out = append(out, p)
		}
	}
	return out
}

// state is what a detached cluster leaves in Dir for Attach.
type state struct {
	Cluster
	PGHost    string `json:"pg_host"`
	PGPort    int    `json:"pg_port"`
	PGUser    string `json:"pg_user"`
	ServerBin string `json:"server_bin"`
}

func statePath(dir string) string { return filepath.Join(dir, "cluster.json") }

func (c *Cluster) writeState() error {
	b, err := json.MarshalIndent(state{Cluster: *c, PGHost: c.opts.PGHost, PGPort: c.opts.PGPort, PGUser: c.opts.PGUser, ServerBin: c.opts.ServerBin}, "", "  ")
	if err != nil {
		return err
	}
	tmp := statePath(c.opts.Dir) + ".tmp"
	if err := os.WriteFile(tmp, append(b, '\n'), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, statePath(c.opts.Dir))
}

// Attach reads the state a detached cluster left in dir (Start with
// Detach), to Stop it or say where it runs. PostgreSQL's password is not
// kept there: to drop the databases of a server that needs one, pass
// Options() with PGPassword set to DropDatabases.
func Attach(dir string) (*Cluster, error) {
	dir, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	b, err := os.ReadFile(statePath(dir))
	if err != nil {
		return nil, err
	}
	var s state
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, fmt.Errorf("cluster: %s: %w", statePath(dir), err)
	}
	c := s.Cluster
	c.opts = Options{Dir: dir, PGHost: s.PGHost, PGPort: s.PGPort, PGUser: s.PGUser, ServerBin: s.ServerBin,
		Database: c.Database, VisibilityDatabase: c.VisibilityDatabase, Namespace: c.Namespace, PortOffset: c.PortOffset}
	c.Detached = true
	return &c, nil
}
