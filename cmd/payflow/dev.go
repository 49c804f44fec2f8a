package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"github.com/payflow/payflow/internal/localrun"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"go.temporal.io/sdk/contrib/envconfig"

	"github.com/payflow/payflow/config"
	"github.com/payflow/payflow/store"
	"github.com/payflow/payflow/webhook"
)

// TemporalCLIVersion is the pinned Temporal CLI that `make dev` installs
// from the Go module proxy into .tools/bin.
const TemporalCLIVersion = "v1.5.1"

// findTemporal locates the pinned CLI: -temporal flag, $PAYFLOW_TEMPORAL_BIN,
// ./.tools/bin/temporal (where make installs it), then $PATH.
func findTemporal(flagValue string) (string, error) {
	for _, p := range []string{flagValue, os.Getenv("PAYFLOW_TEMPORAL_BIN"), filepath.Join(".tools", "bin", "temporal")} {
		if p == "" {
			continue
		}
		if st, err := os.Stat(p); err == nil && !st.IsDir() {
			return filepath.Abs(p)
		}
	}
	if p, err := exec.LookPath("temporal"); err == nil {
		return p, nil
	}
	return "", fmt.Errorf("temporal CLI not found: run `make dev` (it installs %s into .tools/bin), or set PAYFLOW_TEMPORAL_BIN", TemporalCLIVersion)
}

// devSecret reads the dev webhook secret from dir, or makes and keeps one,
// so `payflow trigger` signs with the same secret across restarts.
func devSecret(dir string) (string, error) {
	path := filepath.Join(dir, "webhook_secret")
	if b, err := os.ReadFile(path); err == nil && strings.HasPrefix(strings.TrimSpace(string(b)), "whsec_") {
		return strings.TrimSpace(string(b)), nil
	}
	buf := make([]byte, 24)
	if _, err := rand.Read(buf); err != nil {
		return "", err
	}
	secret := "whsec_" + hex.EncodeToString(buf)
	if err := os.WriteFile(path, []byte(secret+"\n"), 0o600); err != nil {
		return "", err
	}
	return secret, nil
}

// waitPort waits until addr accepts connections, for at most within or
// until ctx ends (the dev server exited, or a signal).
func waitPort(ctx context.Context, addr string, within time.Duration) error {
	deadline := time.Now().Add(within)
	for {
		conn, err := net.DialTimeout("tcp", addr, 500*time.Millisecond)
		if err == nil {
			conn.Close()
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("nothing listening on %s after %s", addr, within)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// devServer is the Temporal dev server payflow dev runs.
type devServer struct {
	cmd     *exec.Cmd
	done    chan struct{} // closed once the process has exited
	err     error         // how it exited, once done is closed
	logPath string
	logFrom int64 // where this run's output starts in the log
}

func (s *devServer) exited() bool {
	select {
	case <-s.done:
		return true
	default:
		return false
	}
}

// stop ends the server's process group: SIGTERM, then SIGKILL after 10 s.
// It returns at once when the server has already exited.
func (s *devServer) stop(log *slog.Logger) {
	if s.exited() {
		return
	}
	_ = syscall.Kill(-s.cmd.Process.Pid, syscall.SIGTERM)
	select {
	case <-s.done:
	case <-time.After(10 * time.Second):
		_ = syscall.Kill(-s.cmd.Process.Pid, syscall.SIGKILL)
		<-s.done
	}
	log.Info("temporal dev server stopped")
}

// exitError says the server exited and shows what it printed last (a port
// already taken, a locked database file), which is in its log only.
func (s *devServer) exitError() error {
	msg := fmt.Sprintf("temporal dev server exited (%v)", s.err)
	if tail := s.outputTail(4096, 20); tail != "" {
		msg += "; it printed:\n" + tail
	}
	return fmt.Errorf("%s\n(full log: %s)", msg, s.logPath)
}

// outputTail returns at most the last maxLines lines (and maxBytes bytes)
// the server wrote to its log in this run, each indented.
func (s *devServer) outputTail(maxBytes int64, maxLines int) string {
	f, err := os.Open(s.logPath)
	if err != nil {
		return ""
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return ""
	}
	from := max(s.logFrom, st.Size()-maxBytes)
	buf := make([]byte, st.Size()-from)
	n, _ := f.ReadAt(buf, from)
	lines := strings.Split(strings.TrimRight(string(buf[:n]), "\n"), "\n")
	if from > s.logFrom && len(lines) > 1 {
		lines = lines[1:] // cut mid-line
	}
	if len(lines) > maxLines {
		lines = lines[len(lines)-maxLines:]
	}
	if len(lines) == 1 && lines[0] == "" {
		return ""
	}
	return "  " + strings.Join(lines, "\n  ")
}

// startFailed turns the error of a start-up step into what payflow dev
// reports: the server's own error when it has exited, nothing when a
// signal stopped the start-up, else err.
func (s *devServer) startFailed(ctx context.Context, log *slog.Logger, err error) error {
	if s.exited() {
		return s.exitError()
	}
	if ctx.Err() != nil {
		log.Info("stopped during start-up")
		return nil
	}
	return err
}

func runDev(ctx context.Context, args []string, stdout io.Writer) error {
	fs := newFlags("dev", "dev [flags]   (Temporal dev server + UI, worker and receiver on this machine)")
	dir := fs.String("dir", ".payflow", "folder for the SQLite databases, the dev webhook secret and the dev payload key")
	port := fs.Int("temporal-port", 7233, "Temporal frontend port")
	uiPort := fs.Int("ui-port", 8233, "Temporal Web UI port")
	codecPort := fs.Int("codec-port", 8234, "port of the codec endpoint on 127.0.0.1, through which the Web UI decrypts payloads (another if taken)")
	addr := fs.String("addr", "", "receiver listen address (default $PAYFLOW_ADDR or :4242)")
	temporalBin := fs.String("temporal", "", "path to the temporal CLI (default .tools/bin/temporal)")
	tune := defaultTuning()
	fs.IntVar(&tune.WorkflowPollers, "workflow-pollers", tune.WorkflowPollers, "workflow task pollers")
	fs.IntVar(&tune.ActivityPollers, "activity-pollers", tune.ActivityPollers, "activity task pollers")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if err := os.MkdirAll(*dir, 0o755); err != nil {
		return err
	}
	bin, err := findTemporal(*temporalBin)
	if err != nil {
		return err
	}
	// Defaults that differ in dev: local SQLite, a generated secret, text logs.
	if os.Getenv("DATABASE_URL") == "" {
		os.Setenv("DATABASE_URL", filepath.Join(*dir, "payflow.db"))
	}
	if os.Getenv("STRIPE_WEBHOOK_SECRET") == "" {
		secret, err := devSecret(*dir)
		if err != nil {
			return fmt.Errorf("dev webhook secret: %w", err)
		}
		os.Setenv("STRIPE_WEBHOOK_SECRET", secret)
	}
	// Payloads encrypted with a dev key kept in dir, so a restart reads
	// the histories of the last run; with PAYFLOW_PAYLOAD_ENCRYPTION=off, a
	// kept key still decrypts what it encrypted.
	if strings.TrimSpace(os.Getenv("PAYFLOW_PAYLOAD_KEYS")) == "" {
		off := strings.EqualFold(strings.TrimSpace(os.Getenv("PAYFLOW_PAYLOAD_ENCRYPTION")), "off")
		keys, err := devPayloadKeys(*dir, !off)
		if err != nil {
			return fmt.Errorf("dev payload key: %w", err)
		}
		os.Setenv("PAYFLOW_PAYLOAD_KEYS", keys)
	}
	temporalAddr := fmt.Sprintf("127.0.0.1:%d", *port)
	os.Setenv("TEMPORAL_ADDRESS", temporalAddr)
	cfg, err := loadConfig()
	if err != nil {
		return err
	}
	if *addr != "" {
		cfg.Addr = *addr
	}
	log := cfg.Logger(os.Stderr, "text")
	// The namespace every client will use (a Temporal profile may name
	// one): the dev server creates it, the codec endpoint serves it.
	conn, err := config.ResolveTemporal(cfg, envconfig.EnvLookupOS)
	if err != nil {
		return err
	}
	cfg.TemporalNamespace = conn.Namespace()
	if conn.TLS() {
		log.Warn("the Temporal client configuration turns TLS on, but payflow dev's server is plaintext: set TEMPORAL_TLS=false, or TEMPORAL_PROFILE to a local profile",
			"tls_from", conn.TLSFrom)
	}
	stopTracing, err := startTracing(ctx, cfg, "dev", log)
	if err != nil {
		return err
	}
	defer stopTracing() // last: after the receiver and the worker

	// 0. The codec endpoint the Web UI decrypts payloads through (codec.go),
	// listening before the UI is told where it is.
	pc, err := payloadCodec(cfg)
	if err != nil {
		return err
	}
	dbFile, _ := filepath.Abs(filepath.Join(*dir, "temporal.db"))
	serverArgs := localrun.DevServerArgs(dbFile, *port, *uiPort, cfg.TemporalNamespace)
	payloads := "not encrypted (PAYFLOW_PAYLOAD_ENCRYPTION=off)"
	if cfg.PayloadKeys.Len() > 0 {
		dc, err := startDevCodec(cfg, pc, *codecPort, *uiPort, log)
		if err != nil {
			return err
		}
		defer dc.stop()
		serverArgs = append(serverArgs, "--ui-codec-endpoint", dc.url)
		payloads = fmt.Sprintf("encrypted with key %s; the UI decrypts them through %s", cfg.PayloadKeys.IDs()[0], dc.url)
		if !pc.Encrypts() {
			payloads = fmt.Sprintf("not encrypted (PAYFLOW_PAYLOAD_ENCRYPTION=off); the UI decrypts older ones through %s", dc.url)
		}
	}

	// 1. Temporal's dev server, its state in a file so a restart keeps
	// workflows. It gets its own process group: Ctrl-C reaches us, and we
	// stop it in order after the worker.
	cmd := exec.Command(bin, serverArgs...)
	logFile, err := os.OpenFile(filepath.Join(*dir, "temporal.log"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	defer logFile.Close()
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	tsrv := &devServer{cmd: cmd, done: make(chan struct{}), logPath: logFile.Name()}
	tsrv.logFrom, _ = logFile.Seek(0, io.SeekEnd)
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start temporal dev server: %w", err)
	}
	go func() { tsrv.err = cmd.Wait(); close(tsrv.done) }()
	defer tsrv.stop(log)
	// Every start-up step ends when the server exits (a port already taken)
	// or a signal arrives, instead of waiting out its own timeout.
	startCtx, cancelStart := context.WithCancel(ctx)
	defer cancelStart()
	go func() {
		select {
		case <-tsrv.done:
			cancelStart()
		case <-startCtx.Done():
		}
	}()
	if err := waitPort(startCtx, temporalAddr, 60*time.Second); err != nil {
		return tsrv.startFailed(ctx, log, fmt.Errorf("%w (see %s)", err, tsrv.logPath))
	}

	// 2. Database, migrated at start-up.
	if _, err := store.Migrate(startCtx, cfg.DatabaseURL); err != nil {
		return tsrv.startFailed(ctx, log, err)
	}
	st, err := store.Open(startCtx, cfg.DatabaseURL)
	if err != nil {
		return tsrv.startFailed(ctx, log, err)
	}
	defer st.Close()

	// 3. Worker and receiver in this process.
	tel := newTelemetry()
	defer tel.closer.Close()
	c, conn, err := dialTemporalConn(startCtx, cfg, log, tel.handler)
	if err != nil {
		return tsrv.startFailed(ctx, log, err)
	}
	defer c.Close()
	if err := registerSearchAttributes(startCtx, c, conn.Namespace()); err != nil {
		return tsrv.startFailed(ctx, log, err)
	}
	w := newWorker(c, cfg, st, log, tel.reg, tune)
	if err := w.Start(); err != nil {
		return fmt.Errorf("start worker: %w", err)
	}
	defer w.Stop()
	srv := newReceiver(cfg, c, log, tel)
	srv.Ready = readiness(c, st)
	app := srv.App()
	// /metrics (and /healthz, /readyz) on the ops listener, as in serve;
	// optional here, so a second dev on the machine still starts.
	if stopOps, err := startOps(cfg.MetricsAddr, srv.OpsHandler()); err != nil {
		log.Warn("no /metrics: set PAYFLOW_METRICS_ADDR to a free address", "error", err)
	} else {
		defer stopOps()
	}

	host := cfg.Addr
	if strings.HasPrefix(host, ":") {
		host = "localhost" + host
	}
	fmt.Fprintf(stdout, `
payflow dev is running
  Webhook URL     http://%s%s
  Signing secret  %s
  Temporal UI     http://localhost:%d
  Payloads        %s
  Temporal        %s (namespace %s, task queue %s)
  Database        %s

Send a test event:   payflow trigger payment_intent.succeeded
Ctrl-C stops everything.

`, host, webhook.Path, cfg.WebhookSecrets[0], *uiPort, payloads, temporalAddr, cfg.TemporalNamespace, cfg.TaskQueue, cfg.DatabaseURL)

	errc := make(chan error, 1)
	go func() { errc <- app.Listen(cfg.Addr) }()
	select {
	case err := <-errc:
		return fmt.Errorf("receiver: %w", err)
	case <-tsrv.done:
		return tsrv.exitError()
	case <-ctx.Done():
	}
	log.Info("stopping: receiver, then worker, then Temporal")
	sctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	if err := app.ShutdownWithContext(sctx); err != nil && !errors.Is(err, context.Canceled) {
		log.Warn("receiver shutdown", "error", err)
	}
	return nil
}
