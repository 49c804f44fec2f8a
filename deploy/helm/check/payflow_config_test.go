package check

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
)

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

// payflowBinary builds payflow from this repository (a plain go build, as
// deploy/compose_test.go does, so the build cache usually has it) once per
// test run, into .bin/ of this module (git-ignored): go build leaves an
// up-to-date binary there as it is, which saves relinking it (15 s here)
// on every run.
func payflowBinary(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("-short: no payflow build")
	}
	buildOnce.Do(func() {
		binPath, buildErr = filepath.Abs(filepath.Join(".bin", "payflow"))
		if buildErr != nil {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, "go", "build", "-o", binPath, "./cmd/payflow")
		cmd.Dir = filepath.Join("..", "..", "..")
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = &buildError{err, string(out)}
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

type buildError struct {
	err error
	out string
}

func (e *buildError) Error() string { return "go build ./cmd/payflow: " + e.err.Error() + "\n" + e.out }

// resolveEnv is the environment a container of the release starts with:
// its ConfigMaps (envFrom), plain values and secretKeyRefs read from the
// Secrets the release renders (a missing optional key leaves the variable
// unset, as the kubelet does).
func resolveEnv(t *testing.T, r *Release, c corev1.Container) map[string]string {
	t.Helper()
	cms := map[string]*corev1.ConfigMap{}
	for _, cm := range All[*corev1.ConfigMap](r) {
		cms[cm.Name] = cm
	}
	secrets := map[string]*corev1.Secret{}
	for _, s := range All[*corev1.Secret](r) {
		secrets[s.Name] = s
	}
	env := map[string]string{}
	for _, ef := range c.EnvFrom {
		cm := cms[ef.ConfigMapRef.Name]
		if cm == nil {
			t.Fatalf("container %s: no ConfigMap %s", c.Name, ef.ConfigMapRef.Name)
		}
		for k, v := range cm.Data {
			env[k] = v
		}
	}
	for _, e := range c.Env {
		switch {
		case e.ValueFrom == nil:
			env[e.Name] = e.Value
		case e.ValueFrom.SecretKeyRef != nil:
			ref := e.ValueFrom.SecretKeyRef
			s := secrets[ref.Name]
			if s == nil {
				t.Fatalf("container %s: env %s: Secret %s not rendered (this test needs secrets.create)", c.Name, e.Name, ref.Name)
			}
			v, ok := s.StringData[ref.Key]
			if !ok {
				if ref.Optional != nil && *ref.Optional {
					continue
				}
				t.Fatalf("container %s: env %s: Secret %s has no key %s", c.Name, e.Name, ref.Name, ref.Key)
			}
			env[e.Name] = v
		default:
			t.Fatalf("container %s: env %s: unexpected source %+v", c.Name, e.Name, e.ValueFrom)
		}
	}
	return env
}

// The environment the chart gives each process passes payflow's own
// validation: `payflow config` (which loads, checks and prints the whole
// configuration, and resolves the Temporal connection) exits 0 with it,
// for the receiver, the worker and the migrate Job alike. Every process
// loads the whole configuration at start, so a secret missing next to the
// setting it pairs with (PROVISIONING_WEBHOOK_URL and its secret, the
// billing portal URLs and PAYFLOW_LINK_SECRET) fails here.
func TestPayflowAcceptsTheEnvironment(t *testing.T) {
	bin := payflowBinary(t)
	sets := map[string]string{
		"required secrets only": `
secrets:
  create: true
  values:
    STRIPE_WEBHOOK_SECRET: whsec_test
    PAYFLOW_PAYLOAD_KEYS: k1:MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=
    DATABASE_URL: postgres://payflow:pw@postgres:5432/payflow?sslmode=require
`,
		"every feature, Temporal Cloud": everyFeature,
	}
	names := make([]string, 0, len(sets))
	for n := range sets {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, name := range names {
		t.Run(name, func(t *testing.T) {
			vals, err := ParseValues(sets[name])
			if err != nil {
				t.Fatal(err)
			}
			r, err := Render(chartDir, vals)
			if err != nil {
				t.Fatal(err)
			}
			for what, err := range payflowConfig(t, bin, r) {
				if err != nil {
					t.Errorf("%s: %v", what, err)
				}
			}
		})
	}
}

// everyFeature sets every optional secret and the settings validation pairs
// them with.
const everyFeature = `
secrets:
  create: true
  values:
    STRIPE_WEBHOOK_SECRET: whsec_new,whsec_old
    PAYFLOW_PAYLOAD_KEYS: k2:MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=,k1:ZmVkY2JhOTg3NjU0MzIxMGZlZGNiYTk4NzY1NDMyMTA=
    DATABASE_URL: postgres://payflow:pw@postgres:5432/payflow?sslmode=require
    STRIPE_API_KEY: sk_live_123
    SENDGRID_API_KEY: SG.test
    PAYFLOW_LINK_SECRET: 0123456789abcdef0123456789abcdef0123456789abcdef
    PROVISIONING_WEBHOOK_SECRET: provisioning-secret
    OTEL_EXPORTER_OTLP_HEADERS: x-api-key=abc
    TEMPORAL_API_KEY: temporal-key
temporal:
  address: payments.a1b2c.tmprl.cloud:7233
  namespace: payments.a1b2c
  apiKey:
    enabled: true
  tls:
    enabled: true
config:
  env:
    STRIPE_LIVEMODE: live
    STRIPE_ACCOUNTS: "*"
    EMAIL_FROM: billing@example.com
    EMAIL_BRAND_NAME: Example
    ALERT_EMAIL: ops@example.com
    PAYFLOW_PUBLIC_URL: https://pay.example.com
    STRIPE_BILLING_PORTAL_RETURN_URL: https://app.example.com/account
    PROVISIONING_WEBHOOK_URL: https://app.example.com/hooks/access
    DUNNING_MODE: payflow
    DUNNING_RETRY_DELAYS: 72h,120h,168h
    DUNNING_GRACE: 144h
    DUNNING_FINAL_ACTION: cancel
    WEBHOOK_MAX_BODY: "1048576"
    WEBHOOK_MAX_CONNECTIONS: "512"
    OTEL_EXPORTER_OTLP_ENDPOINT: http://otel-collector:4318
    OTEL_RESOURCE_ATTRIBUTES: deployment.environment.name=production
`

// payflowConfig runs `payflow config` with the environment of each
// container of the release: nil, or why payflow refused it.
func payflowConfig(t *testing.T, bin string, r *Release) map[string]error {
	t.Helper()
	res := map[string]error{}
	for _, w := range workloads(r) {
		env := resolveEnv(t, r, w.spec.Containers[0])
		// Nothing from this machine: a fresh home (no Temporal profile
		// file), no other variables.
		cmd := exec.Command(bin, "config")
		cmd.Env = []string{"HOME=" + t.TempDir()}
		for k, v := range env {
			cmd.Env = append(cmd.Env, k+"="+v)
		}
		out, err := cmd.CombinedOutput()
		switch {
		case err != nil:
			res[w.what] = fmt.Errorf("payflow config: %v\n%s", err, out)
		case !strings.Contains(string(out), env["TEMPORAL_ADDRESS"]):
			res[w.what] = fmt.Errorf("payflow config does not show the address %s:\n%s", env["TEMPORAL_ADDRESS"], out)
		default:
			res[w.what] = nil
		}
	}
	return res
}

// The test above would see a process given too few secrets: without
// PROVISIONING_WEBHOOK_SECRET next to PROVISIONING_WEBHOOK_URL the
// receiver refuses to start.
func TestPayflowConfigCatchesMissingSecret(t *testing.T) {
	bin := payflowBinary(t)
	dir := copyChart(t)
	path := filepath.Join(dir, "templates", "_helpers.tpl")
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	const old = `(dict "name" "PROVISIONING_WEBHOOK_SECRET") (dict "name" "OTEL_EXPORTER_OTLP_HEADERS") }}
{{- else if eq .component "worker" }}`
	if !strings.Contains(string(b), old) {
		t.Fatal("_helpers.tpl changed: update this test")
	}
	b = []byte(strings.Replace(string(b), old, `(dict "name" "OTEL_EXPORTER_OTLP_HEADERS") }}
{{- else if eq .component "worker" }}`, 1))
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	vals, err := ParseValues(everyFeature)
	if err != nil {
		t.Fatal(err)
	}
	r, err := Render(dir, vals)
	if err != nil {
		t.Fatal(err)
	}
	res := payflowConfig(t, bin, r)
	err = res["Deployment payflow-receiver"]
	if err == nil || !strings.Contains(err.Error(), "PROVISIONING_WEBHOOK_SECRET") {
		t.Fatalf("receiver without PROVISIONING_WEBHOOK_SECRET: %v", err)
	}
	lines := strings.Split(strings.TrimSpace(err.Error()), "\n")
	t.Logf("caught: %s", lines[len(lines)-1])
	if res["Deployment payflow-worker"] != nil {
		t.Errorf("worker: %v", res["Deployment payflow-worker"])
	}
}
