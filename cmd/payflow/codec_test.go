package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	commonpb "go.temporal.io/api/common/v1"
	"go.temporal.io/sdk/converter"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/payflow/payflow/codec"
	"github.com/payflow/payflow/config"
)

// testPayloadKeys is a PAYFLOW_PAYLOAD_KEYS for tests that start serve or
// the worker.
var testPayloadKeys = "test:" + base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{0x5a}, 32))

const customerEmail = "jenny.rosen@example.com"

// clearPayloadEnv unsets what a developer's shell may carry into the tests.
func clearPayloadEnv(t *testing.T) {
	for _, v := range []string{"PAYFLOW_PAYLOAD_KEYS", "PAYFLOW_PAYLOAD_ENCRYPTION", "PAYFLOW_CODEC_ADDR", "PAYFLOW_CODEC_CORS_ORIGIN", "PAYFLOW_CODEC_AUTH_TOKEN"} {
		t.Setenv(v, "")
	}
}

// serve and the worker refuse to start without payload keys, naming both
// ways out; PAYFLOW_PAYLOAD_ENCRYPTION=off lets them past.
func TestServeAndWorkerRequirePayloadKeys(t *testing.T) {
	clearPayloadEnv(t)
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	t.Setenv("STRIPE_WEBHOOK_SECRET", "whsec_serve_test_0123456789")
	t.Setenv("TEMPORAL_ADDRESS", freeAddr(t))
	t.Setenv("PAYFLOW_ADDR", freeAddr(t))
	t.Setenv("PAYFLOW_METRICS_ADDR", taken.Addr().String()) // so that a start that gets past the check stops at once
	t.Setenv("DATABASE_URL", filepath.Join(t.TempDir(), "missing", "dir", "payflow.db"))
	t.Setenv("LOG_LEVEL", "error")
	for name, run := range map[string]func(context.Context, []string, io.Writer) error{"serve": runServe, "worker": runWorker} {
		err := run(context.Background(), nil, io.Discard)
		if err == nil || !strings.Contains(err.Error(), "PAYFLOW_PAYLOAD_KEYS is not set") || !strings.Contains(err.Error(), "PAYFLOW_PAYLOAD_ENCRYPTION=off") {
			t.Errorf("%s without payload keys: %v", name, err)
		}
	}
	t.Setenv("PAYFLOW_PAYLOAD_ENCRYPTION", "off")
	for name, run := range map[string]func(context.Context, []string, io.Writer) error{"serve": runServe, "worker": runWorker} {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		err := run(ctx, nil, io.Discard)
		cancel()
		if err == nil || strings.Contains(err.Error(), "PAYFLOW_PAYLOAD_KEYS") {
			t.Errorf("%s with PAYFLOW_PAYLOAD_ENCRYPTION=off stopped at the key check: %v", name, err)
		}
	}
}

// Every client payflow makes gets the codec: what it writes is
// encrypted with the newest key, failures too; with encryption off it
// writes plaintext and still reads what a listed key encrypted.
func TestTemporalOptionsEncryptPayloads(t *testing.T) {
	clearPayloadEnv(t)
	t.Setenv("TEMPORAL_ADDRESS", "127.0.0.1:1")
	cfg, err := config.Load(func(k string) string { return map[string]string{"PAYFLOW_PAYLOAD_KEYS": testPayloadKeys}[k] })
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	opts, err := temporalOptions(cfg, log, nil)
	if err != nil {
		t.Fatal(err)
	}
	p, err := opts.DataConverter.ToPayload(map[string]string{"email": customerEmail})
	if err != nil {
		t.Fatal(err)
	}
	if string(p.Metadata[converter.MetadataEncoding]) != codec.EncodingEncrypted || string(p.Metadata[codec.MetadataKeyID]) != "test" ||
		bytes.Contains(p.Data, []byte(customerEmail)) {
		t.Fatalf("client data converter wrote %v", p)
	}
	f := opts.FailureConverter.ErrorToFailure(errors.New("bounced: " + customerEmail))
	if strings.Contains(f.String(), customerEmail) {
		t.Errorf("client failure converter keeps the message in the clear: %v", f)
	}

	cfg.PayloadEncryption = false
	off, err := temporalOptions(cfg, log, nil)
	if err != nil {
		t.Fatal(err)
	}
	q, err := off.DataConverter.ToPayload("plain")
	if err != nil || string(q.Metadata[converter.MetadataEncoding]) == codec.EncodingEncrypted {
		t.Fatalf("encryption off wrote %v (%v)", q, err)
	}
	var back map[string]string
	if err := off.DataConverter.FromPayload(p, &back); err != nil || back["email"] != customerEmail {
		t.Fatalf("encryption off cannot read what the key encrypted: %v %v", back, err)
	}
}

// payflow dev keeps its key: a second start reads the same one; a damaged
// file is an error, never silently replaced.
func TestDevPayloadKeysKept(t *testing.T) {
	dir := t.TempDir()
	if keys, err := devPayloadKeys(dir, false); err != nil || keys != "" {
		t.Fatalf("no file, create=false: %q %v", keys, err)
	}
	first, err := devPayloadKeys(dir, true)
	if err != nil {
		t.Fatal(err)
	}
	ring, err := codec.ParseKeys(first)
	if err != nil || ring.Len() != 1 || !strings.HasPrefix(ring.IDs()[0], "dev-") {
		t.Fatalf("generated %v %v", ring, err)
	}
	st, err := os.Stat(filepath.Join(dir, payloadKeysFile))
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Errorf("key file mode %v %v, want 0600", st.Mode(), err)
	}
	again, err := devPayloadKeys(dir, true)
	if err != nil || again != first {
		t.Fatalf("second start read another key (%v)", err)
	}
	if err := os.WriteFile(filepath.Join(dir, payloadKeysFile), []byte("garbage\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := devPayloadKeys(dir, true); err == nil || !strings.Contains(err.Error(), "restore it") {
		t.Errorf("damaged key file: %v", err)
	}
}

// payflow codec-server over real HTTP: CORS for the configured origin, the
// bearer token, /decode of what the worker encrypted.
func TestCodecServerCommand(t *testing.T) {
	clearPayloadEnv(t)
	const token = "codec-token-0123456789abcdef"
	addr := freeAddr(t)
	t.Setenv("LOG_LEVEL", "error")
	if err := runCodecServer(context.Background(), []string{"-addr", addr}, io.Discard); err == nil || !strings.Contains(err.Error(), "PAYFLOW_PAYLOAD_KEYS") {
		t.Fatalf("codec-server without keys: %v", err)
	}
	t.Setenv("PAYFLOW_PAYLOAD_KEYS", testPayloadKeys)
	t.Setenv("PAYFLOW_CODEC_CORS_ORIGIN", "https://cloud.temporal.io")
	t.Setenv("PAYFLOW_CODEC_AUTH_TOKEN", token)
	t.Setenv("PAYFLOW_CODEC_ADDR", addr)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- runCodecServer(ctx, nil, io.Discard) }()
	defer func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("codec-server stopped with %v", err)
			}
		case <-time.After(25 * time.Second):
			t.Error("codec-server did not stop")
		}
	}()
	deadline := time.Now().Add(10 * time.Second)
	for {
		if code, _ := httpGet("http://" + addr + "/healthz"); code == 200 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("codec-server not listening")
		}
		time.Sleep(50 * time.Millisecond)
	}
	cfg, _ := config.FromEnv()
	pc, err := payloadCodec(cfg)
	if err != nil {
		t.Fatal(err)
	}
	dc, _ := codec.Converters(pc)
	sealed, err := dc.ToPayload(customerEmail)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := protojson.Marshal(&commonpb.Payloads{Payloads: []*commonpb.Payload{sealed}})
	post := func(auth string) (*http.Response, []byte) {
		req, _ := http.NewRequest(http.MethodPost, "http://"+addr+"/decode", bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("X-Namespace", "default")
		req.Header.Set("Origin", "https://cloud.temporal.io")
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp, b
	}
	if resp, b := post(""); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("no token: %d %s", resp.StatusCode, b)
	}
	resp, b := post("Bearer " + token)
	if resp.StatusCode != 200 || resp.Header.Get("Access-Control-Allow-Origin") != "https://cloud.temporal.io" || !bytes.Contains(b, []byte(base64.StdEncoding.EncodeToString([]byte(`"`+customerEmail+`"`)))) {
		t.Errorf("decode: %d %v %s", resp.StatusCode, resp.Header, b)
	}
}

// payflow dev's codec endpoint moves to a free port when its own is taken,
// and answers for the dev UI's origins.
func TestDevCodecTakesAnotherPort(t *testing.T) {
	clearPayloadEnv(t)
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	cfg, err := config.Load(func(k string) string { return map[string]string{"PAYFLOW_PAYLOAD_KEYS": testPayloadKeys}[k] })
	if err != nil {
		t.Fatal(err)
	}
	pc, _ := payloadCodec(cfg)
	dc, err := startDevCodec(cfg, pc, taken.Addr().(*net.TCPAddr).Port, 8233, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer dc.stop()
	if dc.url == "http://"+taken.Addr().String() || !strings.HasPrefix(dc.url, "http://127.0.0.1:") {
		t.Fatalf("dev codec at %s, the taken port is %s", dc.url, taken.Addr())
	}
	for _, origin := range []string{"http://localhost:8233", "http://127.0.0.1:8233"} {
		req, _ := http.NewRequest(http.MethodOptions, dc.url+"/decode", nil)
		req.Header.Set("Origin", origin)
		req.Header.Set("Access-Control-Request-Method", "POST")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusNoContent || resp.Header.Get("Access-Control-Allow-Origin") != origin {
			t.Errorf("preflight from %s: %d %v", origin, resp.StatusCode, resp.Header)
		}
	}
}
