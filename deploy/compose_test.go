package deploy_test

// These tests hold docker-compose.yml and the Dockerfile to the payflow
// binary they run: every command is a real subcommand with valid flags,
// every environment variable is one payflow (or the Temporal SDK) reads, the
// configuration the file sets passes `payflow config`, secrets come from the
// host, the worker scales, and the start order is migrate first. No Docker
// engine is needed: the binary is built with `go build` and run directly.

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/payflow/payflow/config"
)

const (
	repoRoot    = ".."
	composePath = "../docker-compose.yml"
	dockerfile  = "../Dockerfile"
)

// temporalClientVars are the variables the Temporal Go SDK's envconfig
// (go.temporal.io/sdk/contrib/envconfig, used by payflow's dialTemporal)
// reads, besides the TEMPORAL_GRPC_META_* prefix. The names are those of
// docs.temporal.io/references/client-environment-configuration and of
// ClientConfigProfile.ApplyEnvVars / LoadClientConfig in envconfig v1.0.2.
var temporalClientVars = []string{
	"TEMPORAL_ADDRESS",
	"TEMPORAL_NAMESPACE",
	"TEMPORAL_API_KEY",
	"TEMPORAL_TLS",
	"TEMPORAL_TLS_CLIENT_CERT_PATH",
	"TEMPORAL_TLS_CLIENT_CERT_DATA",
	"TEMPORAL_TLS_CLIENT_KEY_PATH",
	"TEMPORAL_TLS_CLIENT_KEY_DATA",
	"TEMPORAL_TLS_SERVER_CA_CERT_PATH",
	"TEMPORAL_TLS_SERVER_CA_CERT_DATA",
	"TEMPORAL_TLS_SERVER_NAME",
	"TEMPORAL_TLS_DISABLE_HOST_VERIFICATION",
	"TEMPORAL_CLIENT_AUTHORITY",
	"TEMPORAL_PROFILE",
	"TEMPORAL_CONFIG_FILE",
}

const temporalGRPCMetaPrefix = "TEMPORAL_GRPC_META_"

// hostValues stand in for the operator's environment when the compose
// file's ${…} interpolations are resolved: dummy values of the right shape.
var hostValues = map[string]string{
	"STRIPE_WEBHOOK_SECRET":       "whsec_test",
	"STRIPE_API_KEY":              "sk_test_x",
	"SENDGRID_API_KEY":            "SG.test_x",
	"PROVISIONING_WEBHOOK_URL":    "https://app.example.com/payflow/access",
	"PROVISIONING_WEBHOOK_SECRET": "provisioning_test",
	"ALERT_EMAIL":                 "ops@example.com",
	"POSTGRES_PASSWORD":           "local-test-password",
	"PAYFLOW_PAYLOAD_KEYS":        "k1:MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=",
	// Billing portal links on: serve and worker must accept them together.
	"PAYFLOW_PUBLIC_URL":               "https://pay.example.com",
	"PAYFLOW_LINK_SECRET":              "link_test_0123456789abcdef0123456789abcdef",
	"STRIPE_BILLING_PORTAL_RETURN_URL": "https://app.example.com/account",
}

// ---------------------------------------------------------------------------
// The compose file.

type composeFile struct {
	Services map[string]service `yaml:"services"`
}

type service struct {
	Image         string       `yaml:"image"`
	Build         any          `yaml:"build"`
	Command       any          `yaml:"command"`
	Environment   any          `yaml:"environment"`
	Ports         []any        `yaml:"ports"`
	Volumes       []any        `yaml:"volumes"`
	Restart       string       `yaml:"restart"`
	DependsOn     any          `yaml:"depends_on"`
	Healthcheck   *healthcheck `yaml:"healthcheck"`
	ContainerName string       `yaml:"container_name"`
}

type healthcheck struct {
	Test    any  `yaml:"test"`
	Disable bool `yaml:"disable"`
}

func loadCompose(t *testing.T) composeFile {
	t.Helper()
	raw, err := os.ReadFile(composePath)
	if err != nil {
		t.Fatal(err)
	}
	var c composeFile
	if err := yaml.Unmarshal(raw, &c); err != nil {
		t.Fatalf("%s: %v", composePath, err)
	}
	if len(c.Services) == 0 {
		t.Fatalf("%s: no services", composePath)
	}
	return c
}

// loadComposeTree is the whole file as plain values, for walking every
// string in it.
func loadComposeTree(t *testing.T) any {
	t.Helper()
	raw, err := os.ReadFile(composePath)
	if err != nil {
		t.Fatal(err)
	}
	var v any
	if err := yaml.Unmarshal(raw, &v); err != nil {
		t.Fatalf("%s: %v", composePath, err)
	}
	return v
}

// builtFromRepo tells whether the service runs the payflow image, i.e. is
// built from the repository root.
func (s service) builtFromRepo() bool {
	var ctx string
	switch b := s.Build.(type) {
	case string:
		ctx = b
	case map[string]any:
		ctx, _ = b["context"].(string)
		if ctx == "" {
			ctx = "."
		}
	default:
		return false
	}
	return filepath.Clean(ctx) == "."
}

func (s service) commandArgs() []string {
	switch c := s.Command.(type) {
	case string:
		return strings.Fields(c)
	case []any:
		args := make([]string, len(c))
		for i, a := range c {
			args[i] = fmt.Sprint(a)
		}
		return args
	}
	return nil
}

// env returns the service's environment, raw (before interpolation). A nil
// value is a bare name: the host's value passes through.
func (s service) env(t *testing.T) map[string]*string {
	t.Helper()
	out := map[string]*string{}
	switch e := s.Environment.(type) {
	case nil:
	case map[string]any:
		for k, v := range e {
			if v == nil {
				out[k] = nil
				continue
			}
			str := fmt.Sprint(v)
			out[k] = &str
		}
	case []any:
		for _, item := range e {
			kv := fmt.Sprint(item)
			if k, v, ok := strings.Cut(kv, "="); ok {
				out[k] = &v
			} else {
				out[kv] = nil
			}
		}
	default:
		t.Fatalf("environment: unexpected %T", e)
	}
	return out
}

// dependsOn maps each dependency to its condition.
func (s service) dependsOn() map[string]string {
	out := map[string]string{}
	switch d := s.DependsOn.(type) {
	case []any:
		for _, name := range d {
			out[fmt.Sprint(name)] = "service_started"
		}
	case map[string]any:
		for name, v := range d {
			cond := "service_started"
			if m, ok := v.(map[string]any); ok {
				if c, ok := m["condition"].(string); ok {
					cond = c
				}
			}
			out[name] = cond
		}
	}
	return out
}

func payflowServices(t *testing.T, c composeFile) []string {
	t.Helper()
	var names []string
	for name, s := range c.Services {
		if s.builtFromRepo() {
			names = append(names, name)
		}
	}
	sort.Strings(names)
	if len(names) == 0 {
		t.Fatal("no service is built from the repository (build: .)")
	}
	return names
}

func mustService(t *testing.T, c composeFile, name string) service {
	t.Helper()
	s, ok := c.Services[name]
	if !ok {
		t.Fatalf("compose file has no %q service", name)
	}
	return s
}

// ---------------------------------------------------------------------------
// Compose variable interpolation: ${VAR}, ${VAR:-default}, ${VAR-default},
// ${VAR:?error}, ${VAR?error}, ${VAR:+alt}, ${VAR+alt}, $VAR and $$.

type varRef struct {
	Name, Op, Arg string
}

func (r varRef) required() bool { return r.Op == ":?" || r.Op == "?" }

var (
	nameRE  = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*`)
	onlyRef = regexp.MustCompile(`^\$\{[A-Za-z_][A-Za-z0-9_]*(?:(?::?[-?+])[^}]*)?\}$`)
)

// interpolate resolves s against lookup and lists the references in it.
// With a nil lookup it only lists them.
func interpolate(s string, lookup func(string) (string, bool)) (string, []varRef, error) {
	var b strings.Builder
	var refs []varRef
	var errs []error
	for i := 0; i < len(s); {
		if s[i] != '$' || i+1 == len(s) {
			b.WriteByte(s[i])
			i++
			continue
		}
		switch next := s[i+1]; {
		case next == '$':
			b.WriteByte('$')
			i += 2
		case next == '{':
			end := strings.IndexByte(s[i+2:], '}')
			if end < 0 {
				return "", nil, fmt.Errorf("unterminated ${ in %q", s)
			}
			body := s[i+2 : i+2+end]
			if strings.Contains(body, "$") {
				return "", nil, fmt.Errorf("nested interpolation in %q is not supported by this test", s)
			}
			name := nameRE.FindString(body)
			if name == "" {
				return "", nil, fmt.Errorf("bad variable name in %q", s)
			}
			ref := varRef{Name: name}
			rest := body[len(name):]
			for _, op := range []string{":-", ":?", ":+", "-", "?", "+"} {
				if strings.HasPrefix(rest, op) {
					ref.Op, ref.Arg = op, rest[len(op):]
					break
				}
			}
			if rest != "" && ref.Op == "" {
				return "", nil, fmt.Errorf("bad interpolation ${%s} in %q", body, s)
			}
			refs = append(refs, ref)
			if lookup != nil {
				v, err := resolve(ref, lookup)
				if err != nil {
					errs = append(errs, err)
				}
				b.WriteString(v)
			}
			i += 2 + end + 1
		default:
			name := nameRE.FindString(s[i+1:])
			if name == "" {
				b.WriteByte('$')
				i++
				continue
			}
			ref := varRef{Name: name}
			refs = append(refs, ref)
			if lookup != nil {
				v, _ := resolve(ref, lookup)
				b.WriteString(v)
			}
			i += 1 + len(name)
		}
	}
	return b.String(), refs, errors.Join(errs...)
}

func resolve(r varRef, lookup func(string) (string, bool)) (string, error) {
	v, set := lookup(r.Name)
	nonEmpty := set && v != ""
	switch r.Op {
	case "":
		return v, nil
	case ":-":
		if nonEmpty {
			return v, nil
		}
		return r.Arg, nil
	case "-":
		if set {
			return v, nil
		}
		return r.Arg, nil
	case ":?":
		if !nonEmpty {
			return "", fmt.Errorf("required variable %s is missing a value: %s", r.Name, r.Arg)
		}
		return v, nil
	case "?":
		if !set {
			return "", fmt.Errorf("required variable %s is missing a value: %s", r.Name, r.Arg)
		}
		return v, nil
	case ":+":
		if nonEmpty {
			return r.Arg, nil
		}
		return "", nil
	case "+":
		if set {
			return r.Arg, nil
		}
		return "", nil
	}
	return "", fmt.Errorf("unknown operator %q", r.Op)
}

// allRefs lists every interpolation anywhere in the compose file.
func allRefs(t *testing.T) []varRef {
	t.Helper()
	var refs []varRef
	var walk func(v any)
	walk = func(v any) {
		switch x := v.(type) {
		case string:
			_, r, err := interpolate(x, nil)
			if err != nil {
				t.Errorf("%s: %v", composePath, err)
			}
			refs = append(refs, r...)
		case map[string]any:
			for k, e := range x {
				walk(k)
				walk(e)
			}
		case []any:
			for _, e := range x {
				walk(e)
			}
		}
	}
	walk(loadComposeTree(t))
	return refs
}

// resolvedEnv is a service's environment as the container would see it,
// with the host environment given by host.
func resolvedEnv(t *testing.T, s service, host map[string]string) (map[string]string, error) {
	t.Helper()
	lookup := func(name string) (string, bool) { v, ok := host[name]; return v, ok }
	out := map[string]string{}
	var errs []error
	for name, raw := range s.env(t) {
		if raw == nil {
			if v, ok := host[name]; ok {
				out[name] = v
			}
			continue
		}
		v, _, err := interpolate(*raw, lookup)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", name, err))
		}
		out[name] = v
	}
	return out, errors.Join(errs...)
}

func envList(m map[string]string) []string {
	list := make([]string, 0, len(m))
	for k, v := range m {
		list = append(list, k+"="+v)
	}
	sort.Strings(list)
	return list
}

// ---------------------------------------------------------------------------
// The payflow binary.

var (
	buildOnce sync.Once
	binDir    string
	binPath   string
	buildErr  error
)

func TestMain(m *testing.M) {
	code := m.Run()
	if binDir != "" {
		os.RemoveAll(binDir)
	}
	os.Exit(code)
}

// payflowBinary builds ./cmd/payflow once per test run.
func payflowBinary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		binDir, buildErr = os.MkdirTemp("", "payflow-deploy-test-")
		if buildErr != nil {
			return
		}
		binPath = filepath.Join(binDir, "payflow")
		if runtime.GOOS == "windows" {
			binPath += ".exe"
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, "go", "build", "-o", binPath, "./cmd/payflow")
		cmd.Dir = repoRoot
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("go build ./cmd/payflow: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

// runPayflow runs the binary with exactly env (nothing inherited from the
// test's environment) and returns stdout+stderr and the exit code.
func runPayflow(t *testing.T, env []string, args ...string) (string, int) {
	t.Helper()
	bin := payflowBinary(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = append([]string{}, env...)
	cmd.Dir = t.TempDir()
	out, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	switch {
	case err == nil:
		return string(out), 0
	case errors.As(err, &exit):
		return string(out), exit.ExitCode()
	default:
		t.Fatalf("payflow %s: %v", strings.Join(args, " "), err)
		return "", -1
	}
}

// subcommands parses the Commands section of `payflow --help`.
func subcommands(t *testing.T) []string {
	t.Helper()
	out, code := runPayflow(t, nil, "--help")
	if code != 0 {
		t.Fatalf("payflow --help exited %d:\n%s", code, out)
	}
	var names []string
	in := false
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		line := sc.Text()
		if strings.TrimSpace(line) == "Commands:" {
			in = true
			continue
		}
		if !in {
			continue
		}
		if strings.TrimSpace(line) == "" {
			if len(names) > 0 {
				break
			}
			continue
		}
		names = append(names, strings.Fields(line)[0])
	}
	if len(names) == 0 {
		t.Fatalf("no Commands section in payflow --help:\n%s", out)
	}
	return names
}

// ---------------------------------------------------------------------------
// Tests.

func TestComposeCommandsAreSubcommands(t *testing.T) {
	c := loadCompose(t)
	subs := subcommands(t)
	t.Logf("payflow subcommands: %s", strings.Join(subs, " "))
	for _, name := range payflowServices(t, c) {
		args := c.Services[name].commandArgs()
		if len(args) == 0 {
			t.Errorf("service %s: no command (the image's default CMD is not explicit enough)", name)
			continue
		}
		if !slices.Contains(subs, args[0]) {
			t.Errorf("service %s: command %q is not a payflow subcommand (have %s)", name, args[0], strings.Join(subs, ", "))
			continue
		}
		// The whole command line, flags included, must parse: -h at the end
		// stops before anything runs.
		out, code := runPayflow(t, nil, append(slices.Clone(args), "-h")...)
		if code != 0 {
			t.Errorf("service %s: payflow %s -h exited %d:\n%s", name, strings.Join(args, " "), code, out)
		}
		if want := "Usage: payflow " + args[0]; !strings.Contains(out, want) {
			t.Errorf("service %s: payflow %s -h printed no %q:\n%s", name, strings.Join(args, " "), want, out)
		}
	}
}

func TestComposeEnvironmentIsReadByPayflow(t *testing.T) {
	c := loadCompose(t)
	known := map[string]bool{}
	for _, v := range config.Vars {
		known[v.Name] = true
	}
	for _, name := range temporalClientVars {
		known[name] = true
	}
	for _, svc := range payflowServices(t, c) {
		env := c.Services[svc].env(t)
		if len(env) == 0 {
			t.Errorf("service %s sets no environment", svc)
		}
		for name := range env {
			if !known[name] && !strings.HasPrefix(name, temporalGRPCMetaPrefix) {
				t.Errorf("service %s sets %s, which payflow does not read (config.Vars, Temporal client variables)", svc, name)
			}
		}
	}
}

func TestComposeConfigurationIsValidToPayflow(t *testing.T) {
	c := loadCompose(t)

	required := map[string]bool{}
	for _, r := range allRefs(t) {
		if r.required() {
			required[r.Name] = true
		}
	}
	minimal := map[string]string{}
	for name := range required {
		v, ok := hostValues[name]
		if !ok {
			t.Fatalf("the compose file requires ${%s}: add a dummy value for it to hostValues", name)
		}
		minimal[name] = v
	}

	hosts := []struct {
		name string
		env  map[string]string
	}{
		{"required variables only", minimal},
		{"all secrets set", hostValues},
	}
	for _, svc := range payflowServices(t, c) {
		s := c.Services[svc]
		for _, h := range hosts {
			t.Run(svc+"/"+h.name, func(t *testing.T) {
				env, err := resolvedEnv(t, s, h.env)
				if err != nil {
					t.Fatalf("interpolation: %v", err)
				}
				out, code := runPayflow(t, envList(env), "config")
				if code != 0 {
					t.Fatalf("payflow config exited %d with the environment of service %s:\n%s\n%s",
						code, svc, strings.Join(envList(env), "\n"), out)
				}
				for _, name := range []string{"TEMPORAL_ADDRESS", "TEMPORAL_NAMESPACE", "TEMPORAL_TASK_QUEUE"} {
					if v := env[name]; v != "" && !regexp.MustCompile(`(?m)^`+name+`\s+`+regexp.QuoteMeta(v)+`$`).MatchString(out) {
						t.Errorf("payflow config does not show %s=%s:\n%s", name, v, out)
					}
				}
				if v := env["STRIPE_WEBHOOK_SECRET"]; v != "" && !regexp.MustCompile(`(?m)^STRIPE_WEBHOOK_SECRET\s+whsec_`).MatchString(out) {
					t.Errorf("payflow config does not show the webhook secret it was given:\n%s", out)
				}
			})
		}
	}

	// Each required variable really is required: without it the file does
	// not resolve, so compose refuses to start rather than run unsigned.
	for name := range required {
		host := map[string]string{}
		for k, v := range hostValues {
			if k != name {
				host[k] = v
			}
		}
		failed := false
		for _, svc := range payflowServices(t, c) {
			if _, err := resolvedEnv(t, c.Services[svc], host); err != nil && strings.Contains(err.Error(), name) {
				failed = true
			}
		}
		if !failed {
			t.Errorf("${%s} is marked required but resolving without it does not fail", name)
		}
	}
	if !required["STRIPE_WEBHOOK_SECRET"] {
		t.Error("STRIPE_WEBHOOK_SECRET must be required (${STRIPE_WEBHOOK_SECRET:?…}): serve refuses to start without it")
	}
}

// strictSecret: values that must come from the host with no default at
// all. looseSecret: must be an interpolation; a default is tolerated (the
// container-local database password).
var (
	strictSecret = regexp.MustCompile(`^STRIPE_[A-Z0-9_]*SECRET$|_API_KEY$|_KEY_DATA$|^PROVISIONING_WEBHOOK_SECRET$`)
	looseSecret  = regexp.MustCompile(`(PASSWORD|PWD|SECRET|TOKEN|_KEY)$`)
	dbPassword   = regexp.MustCompile(`^postgres(?:ql)?://[^:@/]+:([^@]*)@`)
)

func TestComposeSecretsAreNotHardCoded(t *testing.T) {
	c := loadCompose(t)
	secretVar := map[string]bool{}
	for _, v := range config.Vars {
		secretVar[v.Name] = v.Secret
	}
	for svc, s := range c.Services {
		for name, raw := range s.env(t) {
			if raw == nil {
				continue // passed through from the host
			}
			v := *raw
			switch {
			case name == "DATABASE_URL":
				if m := dbPassword.FindStringSubmatch(v); m != nil && !onlyRef.MatchString(m[1]) {
					t.Errorf("service %s: DATABASE_URL has a literal password; use ${POSTGRES_PASSWORD…}", svc)
				}
			case strictSecret.MatchString(name) || secretVar[name]:
				_, refs, err := interpolate(v, nil)
				if err != nil || !onlyRef.MatchString(v) || len(refs) != 1 {
					t.Errorf("service %s: %s=%q is hard-coded; it must be a ${…} from the host", svc, name, v)
					continue
				}
				if r := refs[0]; (r.Op == ":-" || r.Op == "-" || r.Op == ":+" || r.Op == "+") && r.Arg != "" {
					t.Errorf("service %s: %s=%q hard-codes a fallback secret", svc, name, v)
				}
			case looseSecret.MatchString(name):
				if !onlyRef.MatchString(v) {
					t.Errorf("service %s: %s=%q is hard-coded; it must be a ${…} from the host", svc, name, v)
				}
			}
		}
	}
}

func TestWorkerIsScalable(t *testing.T) {
	c := loadCompose(t)
	w := mustService(t, c, "worker")
	if args := w.commandArgs(); len(args) == 0 || args[0] != "worker" {
		t.Errorf("worker service runs %q, want payflow worker", args)
	}
	if w.ContainerName != "" {
		t.Errorf("worker has container_name %q: --scale worker=N needs distinct names", w.ContainerName)
	}
	for _, p := range w.Ports {
		if hostPort(p) != "" {
			t.Errorf("worker publishes a fixed host port (%v): --scale worker=N would collide", p)
		}
	}
}

// hostPort returns the fixed host port of a ports entry, "" for none.
func hostPort(p any) string {
	switch x := p.(type) {
	case int:
		return ""
	case string:
		x, _, _ = strings.Cut(x, "/")
		parts := strings.Split(x, ":")
		if len(parts) < 2 {
			return ""
		}
		return parts[len(parts)-2]
	case map[string]any:
		if v, ok := x["published"]; ok && v != nil {
			return fmt.Sprint(v)
		}
	}
	return ""
}

func TestMigrateRunsOnceBeforeServeAndWorker(t *testing.T) {
	c := loadCompose(t)
	m := mustService(t, c, "migrate")
	if args := m.commandArgs(); len(args) == 0 || args[0] != "migrate" {
		t.Errorf("migrate service runs %q, want payflow migrate", args)
	}
	if m.Restart != "no" {
		t.Errorf(`migrate has restart %q, want "no": a one-shot job that must not loop`, m.Restart)
	}
	deps := m.dependsOn()
	if deps["postgres"] != "service_healthy" {
		t.Errorf("migrate depends on postgres with %q, want service_healthy", deps["postgres"])
	}
	if cond, ok := deps["temporal"]; !ok || (cond != "service_healthy" && cond != "service_started") {
		t.Errorf("migrate depends on temporal with %q, want service_healthy (or service_started)", cond)
	}
	for _, name := range []string{"serve", "worker"} {
		if got := mustService(t, c, name).dependsOn()["migrate"]; got != "service_completed_successfully" {
			t.Errorf("%s depends on migrate with %q, want service_completed_successfully", name, got)
		}
	}
	// service_healthy only ever passes for a service with a healthcheck.
	for svc, s := range c.Services {
		for dep, cond := range s.dependsOn() {
			d, ok := c.Services[dep]
			if !ok {
				t.Errorf("%s depends on unknown service %s", svc, dep)
				continue
			}
			if cond == "service_healthy" && (d.Healthcheck == nil || d.Healthcheck.Disable || d.Healthcheck.Test == nil) {
				t.Errorf("%s waits for %s to be healthy, but %s has no healthcheck", svc, dep, dep)
			}
		}
	}
}

func TestTemporalUIPointsAtTemporal(t *testing.T) {
	c := loadCompose(t)
	ui := mustService(t, c, "temporal-ui")
	if !strings.HasPrefix(ui.Image, "temporalio/ui:") {
		t.Errorf("temporal-ui image %q, want temporalio/ui:<tag>", ui.Image)
	}
	addr := ui.env(t)["TEMPORAL_ADDRESS"]
	if addr == nil {
		t.Fatal("temporal-ui sets no TEMPORAL_ADDRESS")
	}
	checkTemporalAddress(t, c, "temporal-ui", *addr)
	if got := ui.dependsOn(); got["temporal"] == "" {
		t.Error("temporal-ui does not depend on temporal")
	}
	for _, svc := range payflowServices(t, c) {
		if a := c.Services[svc].env(t)["TEMPORAL_ADDRESS"]; a != nil {
			checkTemporalAddress(t, c, svc, *a)
		} else {
			t.Errorf("service %s sets no TEMPORAL_ADDRESS (payflow's default, localhost:7233, is the container itself)", svc)
		}
	}
}

func checkTemporalAddress(t *testing.T, c composeFile, from, addr string) {
	t.Helper()
	host, port, ok := strings.Cut(addr, ":")
	if !ok || port != "7233" {
		t.Errorf("%s: TEMPORAL_ADDRESS=%q, want <temporal service>:7233", from, addr)
		return
	}
	s, ok := c.Services[host]
	if !ok {
		t.Errorf("%s: TEMPORAL_ADDRESS=%q names no service of the compose file", from, addr)
		return
	}
	if !strings.HasPrefix(s.Image, "temporalio/auto-setup:") && !strings.HasPrefix(s.Image, "temporalio/server:") {
		t.Errorf("%s: TEMPORAL_ADDRESS=%q is service %s, whose image %q is not a Temporal server", from, addr, host, s.Image)
	}
}

func TestComposeImagesArePinned(t *testing.T) {
	c := loadCompose(t)
	for name, s := range c.Services {
		if s.Image == "" {
			if !s.builtFromRepo() {
				t.Errorf("service %s has neither an image nor build: .", name)
			}
			continue
		}
		ref := s.Image
		if i := strings.LastIndex(ref, "/"); i >= 0 {
			ref = ref[i+1:]
		}
		_, tag, ok := strings.Cut(ref, ":")
		if !ok || tag == "" || tag == "latest" {
			t.Errorf("service %s: image %q is not pinned to a version tag", name, s.Image)
		}
	}
}

func TestComposeBindMountsExist(t *testing.T) {
	c := loadCompose(t)
	for name, s := range c.Services {
		for _, v := range s.Volumes {
			str, ok := v.(string)
			if !ok || !strings.HasPrefix(str, "./") {
				continue
			}
			src, _, _ := strings.Cut(str, ":")
			if _, err := os.Stat(filepath.Join(repoRoot, src)); err != nil {
				t.Errorf("service %s mounts %s: %v", name, src, err)
			}
		}
	}
}

// The receiver's published port is the one payflow listens on.
func TestServePortMatchesListenAddress(t *testing.T) {
	c := loadCompose(t)
	s := mustService(t, c, "serve")
	env, err := resolvedEnv(t, s, hostValues)
	if err != nil {
		t.Fatal(err)
	}
	addr := env["PAYFLOW_ADDR"]
	if addr == "" {
		addr = configDefault(t, "PAYFLOW_ADDR")
	}
	listen := addr[strings.LastIndex(addr, ":")+1:]
	found := false
	for _, p := range s.Ports {
		str := fmt.Sprint(p)
		if m, ok := p.(map[string]any); ok {
			str = fmt.Sprint(m["target"])
		}
		str, _, _ = strings.Cut(str, "/")
		parts := strings.Split(str, ":")
		if parts[len(parts)-1] == listen {
			found = true
		}
	}
	if !found {
		t.Errorf("serve listens on %s but publishes %v", addr, s.Ports)
	}
}

func configDefault(t *testing.T, name string) string {
	t.Helper()
	for _, v := range config.Vars {
		if v.Name == name {
			return v.Default
		}
	}
	t.Fatalf("config.Vars has no %s", name)
	return ""
}

// ---------------------------------------------------------------------------
// The Dockerfile and .dockerignore.

func TestDockerfile(t *testing.T) {
	raw, err := os.ReadFile(dockerfile)
	if err != nil {
		t.Fatal(err)
	}
	text := string(raw)
	args := map[string]string{}
	var froms []string
	var entrypoint, cmd, user string
	var exposed []string
	for _, line := range strings.Split(text, "\n") {
		f := strings.Fields(line)
		if len(f) == 0 || strings.HasPrefix(f[0], "#") {
			continue
		}
		switch strings.ToUpper(f[0]) {
		case "ARG":
			if k, v, ok := strings.Cut(f[1], "="); ok {
				args[k] = v
			}
		case "FROM":
			froms = append(froms, os.Expand(f[1], func(k string) string { return args[k] }))
		case "ENTRYPOINT":
			entrypoint = strings.TrimSpace(strings.TrimPrefix(line, f[0]))
		case "CMD":
			cmd = strings.TrimSpace(strings.TrimPrefix(line, f[0]))
		case "USER":
			user = f[1]
		case "EXPOSE":
			exposed = append(exposed, f[1:]...)
		}
	}
	if len(froms) < 2 {
		t.Fatalf("want a multi-stage build, got FROM %v", froms)
	}

	// The builder's Go must satisfy go.mod: the golang images set
	// GOTOOLCHAIN=local and would refuse to build.
	builder := froms[0]
	m := regexp.MustCompile(`^(?:docker\.io/(?:library/)?)?golang:(\d+)\.(\d+)(?:\.(\d+))?`).FindStringSubmatch(builder)
	if m == nil {
		t.Fatalf("builder image %q is not golang:<version>", builder)
	}
	goMod, err := os.ReadFile(filepath.Join(repoRoot, "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	want := regexp.MustCompile(`(?m)^go (\d+)\.(\d+)(?:\.(\d+))?`).FindStringSubmatch(string(goMod))
	if want == nil {
		t.Fatal("go.mod has no go line")
	}
	if versionLess(m[1:], want[1:]) {
		t.Errorf("builder %s is older than go.mod's %s", builder, want[0])
	}

	final := froms[len(froms)-1]
	if !strings.HasPrefix(final, "gcr.io/distroless/static") || !strings.HasSuffix(final, ":nonroot") {
		t.Errorf("final image %q, want gcr.io/distroless/static-…:nonroot", final)
	}
	if !strings.HasPrefix(user, "nonroot") && !strings.HasPrefix(user, "65532") {
		t.Errorf("USER %q, want nonroot", user)
	}
	if entrypoint != `["/payflow"]` {
		t.Errorf(`ENTRYPOINT %s, want ["/payflow"]`, entrypoint)
	}
	if !strings.Contains(text, "CGO_ENABLED=0") || !strings.Contains(text, "./cmd/payflow") {
		t.Error("the build is not CGO_ENABLED=0 go build … ./cmd/payflow (a static binary for distroless/static)")
	}
	if i, j := strings.Index(text, "go mod download"), strings.Index(text, "COPY . ."); i < 0 || j < 0 || i > j {
		t.Error("go mod download should run, in its own layer, before the sources are copied")
	}

	// CMD's subcommand exists.
	cmdArgs := regexp.MustCompile(`"(?:[^"\\]|\\.)*"`).FindAllString(cmd, -1)
	if !strings.HasPrefix(cmd, "[") || len(cmdArgs) == 0 {
		t.Errorf("CMD %q: want an exec-form default subcommand", cmd)
	} else if first, _ := strconv.Unquote(cmdArgs[0]); !slices.Contains(subcommands(t), first) {
		t.Errorf("CMD runs %q, not a payflow subcommand", first)
	}

	// The listen ports payflow defaults to are exposed.
	for _, name := range []string{"PAYFLOW_ADDR", "PAYFLOW_METRICS_ADDR"} {
		_, port, _ := strings.Cut(configDefault(t, name), ":")
		if !slices.Contains(exposed, port) && !slices.Contains(exposed, port+"/tcp") {
			t.Errorf("EXPOSE %v lacks %s (%s default)", exposed, port, name)
		}
	}

	ignore, err := os.ReadFile(filepath.Join(repoRoot, ".dockerignore"))
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Fields(string(ignore))
	for _, p := range []string{".git", ".tools", ".payflow", "bin"} {
		if !slices.Contains(lines, p) && !slices.Contains(lines, p+"/") {
			t.Errorf(".dockerignore does not exclude %s", p)
		}
	}
}

// versionLess compares dotted versions; a part missing from have (a
// floating tag such as 1.26) matches any value in want.
func versionLess(have, want []string) bool {
	for i := range have {
		if have[i] == "" || i >= len(want) || want[i] == "" {
			return false
		}
		h, _ := strconv.Atoi(have[i])
		w, _ := strconv.Atoi(want[i])
		if h != w {
			return h < w
		}
	}
	return false
}
