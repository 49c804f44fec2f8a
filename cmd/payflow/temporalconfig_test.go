package main

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/payflow/payflow/config"
)

// temporalProfileEnv points envconfig at a profile file of its own and
// unsets every TEMPORAL_* variable that would override it.
func temporalProfileEnv(t *testing.T, toml string) string {
	t.Helper()
	file := filepath.Join(t.TempDir(), "temporal.toml")
	if err := os.WriteFile(file, []byte(toml), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("TEMPORAL_CONFIG_FILE", file)
	for _, v := range []string{"TEMPORAL_ADDRESS", "TEMPORAL_NAMESPACE", "TEMPORAL_PROFILE", "TEMPORAL_API_KEY", "TEMPORAL_TLS"} {
		t.Setenv(v, "") // restored after the test …
		os.Unsetenv(v)  // … and unset during it: set-but-empty overrides a profile
	}
	return file
}

// `payflow config` shows the Temporal connection the clients make — the
// profile's address and namespace, not payflow's defaults — and names the
// profile as their source; temporalOptions, which every client starts from,
// dials the same.
func TestConfigShowsTheTemporalProfile(t *testing.T) {
	file := temporalProfileEnv(t, "[profile.default]\naddress = \"127.0.0.1:7999\"\nnamespace = \"payments\"\n")
	t.Setenv("PAYFLOW_PAYLOAD_KEYS", testPayloadKeys)
	var out bytes.Buffer
	if err := runConfig(context.Background(), nil, &out); err != nil {
		t.Fatalf("payflow config: %v\n%s", err, out.String())
	}
	src := `(from profile "default" in ` + file + ")"
	for _, want := range []string{
		"TEMPORAL_ADDRESS             127.0.0.1:7999\n",
		"TEMPORAL_NAMESPACE           payments\n",
		"  address      127.0.0.1:7999             " + src,
		"  namespace    payments                   " + src,
		"  TLS          off (no TLS setting, no API key)",
		"  API key      none",
		`  profile      "default" in ` + file,
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("payflow config lacks %q:\n%s", want, out.String())
		}
	}
	if strings.Contains(out.String(), "localhost:7233") {
		t.Errorf("payflow config still shows payflow's default address:\n%s", out.String())
	}

	cfg, err := loadConfig()
	if err != nil {
		t.Fatal(err)
	}
	opts, err := temporalOptions(cfg, slog.New(slog.NewTextHandler(io.Discard, nil)), nil)
	if err != nil {
		t.Fatal(err)
	}
	if opts.HostPort != "127.0.0.1:7999" || opts.Namespace != "payments" {
		t.Errorf("temporalOptions dial %s / %s, payflow config shows 127.0.0.1:7999 / payments", opts.HostPort, opts.Namespace)
	}
}

// TEMPORAL_ADDRESS over a profile, as envconfig's ApplyEnvVars does: the
// address from the environment, the namespace still the profile's; both
// what payflow config prints and what temporalOptions dials.
func TestConfigEnvOverridesTheProfile(t *testing.T) {
	file := temporalProfileEnv(t, "[profile.default]\naddress = \"127.0.0.1:7999\"\nnamespace = \"payments\"\n")
	t.Setenv("PAYFLOW_PAYLOAD_KEYS", testPayloadKeys)
	t.Setenv("TEMPORAL_ADDRESS", "10.1.2.3:7233")
	var out bytes.Buffer
	if err := runConfig(context.Background(), nil, &out); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"  address      10.1.2.3:7233              (from env TEMPORAL_ADDRESS)",
		`  namespace    payments                   (from profile "default" in ` + file + ")",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("payflow config lacks %q:\n%s", want, out.String())
		}
	}
	cfg, err := loadConfig()
	if err != nil {
		t.Fatal(err)
	}
	conn, err := config.ResolveTemporal(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	opts, err := temporalOptions(cfg, slog.New(slog.NewTextHandler(io.Discard, nil)), nil)
	if err != nil {
		t.Fatal(err)
	}
	if opts.HostPort != "10.1.2.3:7233" || opts.Namespace != "payments" || conn.Address() != opts.HostPort || conn.Namespace() != opts.Namespace {
		t.Errorf("temporalOptions %s / %s, resolver %s / %s", opts.HostPort, opts.Namespace, conn.Address(), conn.Namespace())
	}
}

// A TEMPORAL_PROFILE the file lacks: payflow config says so and fails, as
// every client would.
func TestConfigMissingTemporalProfile(t *testing.T) {
	temporalProfileEnv(t, "[profile.default]\naddress = \"127.0.0.1:7999\"\n")
	t.Setenv("PAYFLOW_PAYLOAD_KEYS", testPayloadKeys)
	t.Setenv("TEMPORAL_PROFILE", "prod")
	var out bytes.Buffer
	err := runConfig(context.Background(), nil, &out)
	if err == nil || !strings.Contains(err.Error(), `profile "prod"`) {
		t.Fatalf("payflow config with a missing profile: %v", err)
	}
	cfg, lerr := loadConfig()
	if lerr != nil {
		t.Fatal(lerr)
	}
	if _, err := temporalOptions(cfg, slog.New(slog.NewTextHandler(io.Discard, nil)), nil); err == nil {
		t.Error("temporalOptions accepted a missing profile")
	}
}
