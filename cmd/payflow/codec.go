package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"go.temporal.io/sdk/contrib/envconfig"

	"github.com/payflow/payflow/codec"
	"github.com/payflow/payflow/config"
)

// payloadKeysFile is where payflow dev keeps its generated payload key.
const payloadKeysFile = "payload_keys"

// payloadCodec is the codec of every Temporal client payflow makes: it
// encrypts with the newest key of PAYFLOW_PAYLOAD_KEYS; with
// PAYFLOW_PAYLOAD_ENCRYPTION=off, or no key (a read-only tool such as
// inspect; serve and worker refuse that), it writes payloads as they are
// and still decrypts with the keys listed.
func payloadCodec(cfg config.Config) (*codec.Codec, error) {
	if cfg.PayloadEncryption && cfg.PayloadKeys.Len() > 0 {
		return codec.New(cfg.PayloadKeys)
	}
	return codec.DecodeOnly(cfg.PayloadKeys)
}

// devPayloadKeys reads the payload key payflow dev keeps in dir (in
// PAYFLOW_PAYLOAD_KEYS form) or, when create is set, makes and keeps one,
// so a restart reads the histories the last run wrote. "" when there is
// none and create is not set. A file that does not parse is an error,
// never replaced: a new key would make the old histories unreadable.
func devPayloadKeys(dir string, create bool) (string, error) {
	path := filepath.Join(dir, payloadKeysFile)
	b, err := os.ReadFile(path)
	switch {
	case err == nil:
		keys := strings.TrimSpace(string(b))
		if _, err := codec.ParseKeys(keys); err != nil || keys == "" {
			return "", fmt.Errorf("%s does not hold a payload key (%v): restore it, or remove it together with %s to start afresh", path, err, filepath.Join(dir, "temporal.db"))
		}
		return keys, nil
	case !errors.Is(err, os.ErrNotExist):
		return "", err
	case !create:
		return "", nil
	}
	k, err := codec.GenerateKey("dev-" + time.Now().UTC().Format("20060102"))
	if err != nil {
		return "", err
	}
	if err := os.WriteFile(path, []byte(k.Export()+"\n"), 0o600); err != nil {
		return "", err
	}
	return k.Export(), nil
}

// withDevPayloadKeys gives a command run beside payflow dev (inspect,
// reconcile, quarantine, subscription, dispute) dev's key, from
// ./.payflow, when PAYFLOW_PAYLOAD_KEYS is not set, as trigger reads dev's
// webhook secret. serve and worker never encrypt with it: without
// PAYFLOW_PAYLOAD_KEYS they refuse to start, or run with
// PAYFLOW_PAYLOAD_ENCRYPTION=off, which only decrypts.
func withDevPayloadKeys(cfg config.Config) config.Config {
	if cfg.PayloadKeys.Len() > 0 {
		return cfg
	}
	keys, err := devPayloadKeys(".payflow", false)
	if err != nil || keys == "" {
		return cfg
	}
	if ring, err := codec.ParseKeys(keys); err == nil {
		cfg.PayloadKeys = ring
	}
	return cfg
}

// codecHandler serves the codec endpoints for cfg's namespace.
func codecHandler(cfg config.Config, pc *codec.Codec, origins []string, log *slog.Logger) http.Handler {
	return codec.NewHandler(pc, codec.HandlerOptions{
		Namespace:      cfg.TemporalNamespace,
		AllowedOrigins: origins,
		AuthToken:      cfg.CodecAuthToken,
		Log:            log,
	})
}

// isLoopback tells whether a listen address takes connections from this
// machine only.
func isLoopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func runCodecServer(ctx context.Context, args []string, stdout io.Writer) error {
	fs := newFlags("codec-server", "codec-server [flags]   (Temporal's codec endpoints POST /decode and /encode for the Web UI and the temporal CLI)")
	addr := fs.String("addr", "", "listen address (default $PAYFLOW_CODEC_ADDR or 127.0.0.1:8234)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	cfg, err := loadConfig()
	if err != nil {
		return err
	}
	if *addr != "" {
		cfg.CodecAddr = *addr
	}
	// The namespace the clients use (a Temporal profile may name one):
	// the UI and the CLI send it as X-Namespace.
	conn, err := config.ResolveTemporal(cfg, envconfig.EnvLookupOS)
	if err != nil {
		return err
	}
	cfg.TemporalNamespace = conn.Namespace()
	if cfg.PayloadKeys.Len() == 0 {
		return errors.New("PAYFLOW_PAYLOAD_KEYS is not set: the codec server decrypts with the keys the worker has (the same list)")
	}
	log := cfg.Logger(os.Stderr, "json")
	pc, err := payloadCodec(cfg)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", cfg.CodecAddr)
	if err != nil {
		return fmt.Errorf("codec listener (PAYFLOW_CODEC_ADDR): %w", err)
	}
	if len(cfg.CodecCORSOrigins) == 0 {
		log.Warn("PAYFLOW_CODEC_CORS_ORIGIN is not set: a browser (the Temporal Web UI) cannot call the codec endpoints; the temporal CLI can")
	}
	if cfg.CodecAuthToken == "" && !isLoopback(cfg.CodecAddr) {
		log.Warn("codec endpoints reachable beyond this machine without PAYFLOW_CODEC_AUTH_TOKEN: whoever reaches them can decrypt payloads; put them behind your SSO or set a token", "addr", cfg.CodecAddr)
	}
	hs := &http.Server{Handler: codecHandler(cfg, pc, cfg.CodecCORSOrigins, log), ReadHeaderTimeout: 5 * time.Second}
	log.Info("codec server listening", "addr", ln.Addr().String(), "namespace", cfg.TemporalNamespace,
		"keys", cfg.PayloadKeys.String(), "encrypts", pc.Encrypts(), "cors_origins", strings.Join(cfg.CodecCORSOrigins, ","),
		"auth_token", cfg.CodecAuthToken != "")
	return serveUntilDone(ctx, log, func() error {
		if err := hs.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			return err
		}
		return nil
	}, hs.Shutdown)
}

// devCodec is the codec endpoint payflow dev serves for its Web UI.
type devCodec struct {
	url  string // what the UI is given (--ui-codec-endpoint)
	stop func()
}

// startDevCodec serves the codec endpoints on 127.0.0.1:port for the dev
// UI's origins (and PAYFLOW_CODEC_CORS_ORIGIN's). When the port is taken
// (another payflow dev), it takes any free port: the UI is given whichever
// it got.
func startDevCodec(cfg config.Config, pc *codec.Codec, port, uiPort int, log *slog.Logger) (*devCodec, error) {
	ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		log.Warn("codec port taken: serving the codec endpoints on another port", "port", port, "error", err)
		if ln, err = net.Listen("tcp", "127.0.0.1:0"); err != nil {
			return nil, fmt.Errorf("codec listener: %w", err)
		}
	}
	origins := append([]string{fmt.Sprintf("http://localhost:%d", uiPort), fmt.Sprintf("http://127.0.0.1:%d", uiPort)}, cfg.CodecCORSOrigins...)
	if cfg.CodecAuthToken != "" {
		log.Warn("PAYFLOW_CODEC_AUTH_TOKEN is set: the dev Web UI sends no token, so it shows payloads encrypted; the temporal CLI can send it (--codec-auth)")
	}
	hs := &http.Server{Handler: codecHandler(cfg, pc, origins, log), ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = hs.Serve(ln) }()
	return &devCodec{url: "http://" + ln.Addr().String(), stop: func() { _ = hs.Close() }}, nil
}
