package check

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"
)

// Paths from this module to the chart and to payflow's source.
const (
	chartDir  = "../payflow"
	configDir = "../../../config"
	cmdDir    = "../../../cmd/payflow"
)

// -dump DIR writes each value set's rendered manifests to DIR/<set>.yaml,
// for reading what the chart makes: go test -run TestChart -args -dump /tmp/payflow-chart
var dumpDir = flag.String("dump", "", "write each value set's rendered manifests to this directory")

var (
	loadOnce sync.Once
	vars     PayflowVars
	drain    Drain
	loadErr  error
)

// payflow is what the check derives from payflow's source: its variables
// and its shutdown budget.
func payflow(t testing.TB) (PayflowVars, Drain) {
	t.Helper()
	loadOnce.Do(func() {
		vars, loadErr = LoadPayflowVars(configDir)
		if loadErr == nil {
			drain, loadErr = LoadDrain(cmdDir)
		}
	})
	if loadErr != nil {
		t.Fatal(loadErr)
	}
	return vars, drain
}

// valueSet is one way of installing the chart.
type valueSet struct {
	name   string
	values string // YAML over values.yaml
	// external: the Secrets the values name and the chart does not create.
	external []string
	// check: more assertions on this set's release.
	check func(t *testing.T, r *Release)
}

var valueSets = []valueSet{
	{
		name:     "defaults",
		external: []string{"payflow-secrets"},
		check: func(t *testing.T, r *Release) {
			wantKinds(t, r, map[string]int{"Deployment": 2, "Job": 1, "Service": 2, "ConfigMap": 1, "ServiceAccount": 2,
				"HorizontalPodAutoscaler": 1, "PodDisruptionBudget": 2, "ServiceMonitor": 1, "Secret": 0, "Ingress": 0})
			env := containerEnv(t, r, "payflow-receiver")
			if ref := env["STRIPE_WEBHOOK_SECRET"].ValueFrom.SecretKeyRef; ref.Name != "payflow-secrets" || ref.Optional != nil {
				t.Errorf("receiver STRIPE_WEBHOOK_SECRET: %+v, want the existing Secret, required", ref)
			}
			if ref := env["STRIPE_API_KEY"].ValueFrom.SecretKeyRef; ref.Optional == nil || !*ref.Optional {
				t.Errorf("receiver STRIPE_API_KEY: %+v, want optional", ref)
			}
			if _, ok := env["DATABASE_URL"]; ok {
				t.Error("the receiver never opens the database: it should not get DATABASE_URL")
			}
			if ref := containerEnv(t, r, "payflow-worker")["DATABASE_URL"].ValueFrom.SecretKeyRef; ref.Name != "payflow-secrets" || ref.Key != "DATABASE_URL" {
				t.Errorf("worker DATABASE_URL: %+v", ref)
			}
			cm := one[*corev1.ConfigMap](t, r)
			if cm.Data["PAYFLOW_ADDR"] != ":4242" || cm.Data["PAYFLOW_METRICS_ADDR"] != ":9464" || cm.Data["TEMPORAL_TASK_QUEUE"] != "payflow" {
				t.Errorf("ConfigMap data %v", cm.Data)
			}
			if !strings.Contains(r.Notes, "payflow-secrets") || !strings.Contains(r.Notes, "/webhooks/stripe") {
				t.Errorf("NOTES do not name the Secret and the webhook path:\n%s", r.Notes)
			}
		},
	},
	{
		name: "chart-created secret",
		values: `
secrets:
  create: true
  values:
    STRIPE_WEBHOOK_SECRET: whsec_test
    PAYFLOW_PAYLOAD_KEYS: k1:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=
    DATABASE_URL: postgres://payflow:pw@postgres:5432/payflow
    SENDGRID_API_KEY: SG.test
`,
		check: func(t *testing.T, r *Release) {
			wantKinds(t, r, map[string]int{"Secret": 2})
			env := containerEnv(t, r, "payflow-worker")
			if _, ok := env["STRIPE_API_KEY"]; ok {
				t.Error("STRIPE_API_KEY is not in the chart's Secret: no reference to it")
			}
			if ref := env["SENDGRID_API_KEY"].ValueFrom.SecretKeyRef; ref.Name != "payflow" || ref.Optional != nil {
				t.Errorf("worker SENDGRID_API_KEY: %+v", ref)
			}
			job := one[*batchv1.Job](t, r)
			for _, e := range job.Spec.Template.Spec.Containers[0].Env {
				if e.ValueFrom != nil && e.ValueFrom.SecretKeyRef.Name != "payflow-migrate" {
					t.Errorf("migrate Job reads %s from %s, want the hook copy payflow-migrate", e.Name, e.ValueFrom.SecretKeyRef.Name)
				}
			}
		},
	},
	{
		name:     "HPA off",
		values:   "receiver:\n  autoscaling:\n    enabled: false\n  replicaCount: 3\n",
		external: []string{"payflow-secrets"},
		check: func(t *testing.T, r *Release) {
			wantKinds(t, r, map[string]int{"HorizontalPodAutoscaler": 0})
			if d := deployment(t, r, "payflow-receiver"); d.Spec.Replicas == nil || *d.Spec.Replicas != 3 {
				t.Errorf("receiver replicas %v, want 3", deref(d.Spec.Replicas))
			}
		},
	},
	{
		name:     "ServiceMonitor off",
		values:   "serviceMonitor:\n  enabled: false\n",
		external: []string{"payflow-secrets"},
		check: func(t *testing.T, r *Release) {
			wantKinds(t, r, map[string]int{"ServiceMonitor": 0, "Service": 2})
		},
	},
	{
		name: "PostgreSQL DATABASE_URL from its own Secret",
		values: `
database:
  secretName: payflow-pg-app
  secretKey: uri
`,
		external: []string{"payflow-secrets", "payflow-pg-app"},
		check: func(t *testing.T, r *Release) {
			for _, name := range []string{"payflow-worker"} {
				ref := containerEnv(t, r, name)["DATABASE_URL"].ValueFrom.SecretKeyRef
				if ref.Name != "payflow-pg-app" || ref.Key != "uri" || ref.Optional != nil {
					t.Errorf("%s DATABASE_URL: %+v", name, ref)
				}
			}
			job := one[*batchv1.Job](t, r)
			found := false
			for _, e := range job.Spec.Template.Spec.Containers[0].Env {
				if e.Name == "DATABASE_URL" {
					found = e.ValueFrom.SecretKeyRef.Name == "payflow-pg-app" && e.ValueFrom.SecretKeyRef.Key == "uri"
				}
			}
			if !found {
				t.Error("migrate Job does not read DATABASE_URL from payflow-pg-app/uri")
			}
		},
	},
	{
		name: "Temporal Cloud, API key",
		values: `
temporal:
  address: payments.a1b2c.tmprl.cloud:7233
  namespace: payments.a1b2c
  apiKey:
    enabled: true
  tls:
    enabled: true
`,
		external: []string{"payflow-secrets"},
		check: func(t *testing.T, r *Release) {
			cm := one[*corev1.ConfigMap](t, r)
			if cm.Data["TEMPORAL_ADDRESS"] != "payments.a1b2c.tmprl.cloud:7233" || cm.Data["TEMPORAL_NAMESPACE"] != "payments.a1b2c" || cm.Data["TEMPORAL_TLS"] != "true" {
				t.Errorf("ConfigMap data %v", cm.Data)
			}
			for _, name := range []string{"payflow-receiver", "payflow-worker"} {
				ref := containerEnv(t, r, name)["TEMPORAL_API_KEY"].ValueFrom.SecretKeyRef
				if ref.Name != "payflow-secrets" || ref.Key != "TEMPORAL_API_KEY" || ref.Optional != nil {
					t.Errorf("%s TEMPORAL_API_KEY: %+v", name, ref)
				}
			}
		},
	},
	{
		name: "Temporal mTLS with a private CA, chart-created secret",
		values: `
secrets:
  create: true
  values:
    STRIPE_WEBHOOK_SECRET: whsec_test
    PAYFLOW_PAYLOAD_KEYS: k1:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=
    DATABASE_URL: postgres://payflow:pw@postgres:5432/payflow
    TEMPORAL_API_KEY: key
temporal:
  address: temporal.example.com:7233
  apiKey:
    enabled: true
  tls:
    clientCertSecret: temporal-client
    serverCASecret: temporal-ca
    serverName: temporal.example.com
`,
		external: []string{"temporal-client", "temporal-ca"},
		check: func(t *testing.T, r *Release) {
			cm := one[*corev1.ConfigMap](t, r)
			for k, v := range map[string]string{
				"TEMPORAL_TLS_CLIENT_CERT_PATH":    "/etc/payflow/temporal-tls/tls.crt",
				"TEMPORAL_TLS_CLIENT_KEY_PATH":     "/etc/payflow/temporal-tls/tls.key",
				"TEMPORAL_TLS_SERVER_CA_CERT_PATH": "/etc/payflow/temporal-ca/ca.crt",
				"TEMPORAL_TLS_SERVER_NAME":         "temporal.example.com",
			} {
				if cm.Data[k] != v {
					t.Errorf("ConfigMap %s=%q, want %q", k, cm.Data[k], v)
				}
			}
			for _, w := range workloads(r) {
				mounts := map[string]string{}
				for _, m := range w.spec.Containers[0].VolumeMounts {
					mounts[m.Name] = m.MountPath
				}
				if mounts["temporal-tls"] != "/etc/payflow/temporal-tls" || mounts["temporal-ca"] != "/etc/payflow/temporal-ca" {
					t.Errorf("%s: mounts %v", w.what, mounts)
				}
			}
		},
	},
	{
		name: "ingress, no PDBs, no preStop, existing ServiceAccount, image digest",
		values: `
fullnameOverride: payflow
ingress:
  enabled: true
  className: nginx
  host: pay.example.com
  tlsSecretName: pay-example-com-tls
receiver:
  preStopSleepSeconds: 0
  terminationGracePeriodSeconds: 30
  pdb:
    enabled: false
worker:
  pdb:
    enabled: false
serviceAccount:
  create: false
  name: payflow-runner
config:
  env:
    STRIPE_LIVEMODE: live
    PROVISIONING_WEBHOOK_URL: https://app.example.com/hooks/access
    DUNNING_RETRY_DELAYS: 72h,120h,168h
    WEBHOOK_MAX_BODY: "1048576"
imagePullSecrets:
  - name: regcred
image:
  digest: sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef
`,
		external: []string{"payflow-secrets"},
		check: func(t *testing.T, r *Release) {
			wantKinds(t, r, map[string]int{"Ingress": 1, "PodDisruptionBudget": 0, "ServiceAccount": 0})
			d := deployment(t, r, "payflow-receiver")
			if d.Spec.Template.Spec.Containers[0].Lifecycle != nil {
				t.Error("preStopSleepSeconds 0 still renders a preStop hook")
			}
			if img := d.Spec.Template.Spec.Containers[0].Image; !strings.HasPrefix(img, "payflow@sha256:") {
				t.Errorf("image %s, want pinned by digest", img)
			}
			for _, w := range workloads(r) {
				if w.spec.ServiceAccountName != "payflow-runner" {
					t.Errorf("%s runs as %s, want the existing payflow-runner", w.what, w.spec.ServiceAccountName)
				}
			}
		},
	},
}

func TestChart(t *testing.T) {
	pv, dr := payflow(t)
	for _, vs := range valueSets {
		t.Run(vs.name, func(t *testing.T) {
			vals, err := ParseValues(vs.values)
			if err != nil {
				t.Fatal(err)
			}
			if err := Lint(chartDir, vals); err != nil {
				t.Error(err)
			}
			r, err := Render(chartDir, vals)
			if err != nil {
				t.Fatal(err)
			}
			if *dumpDir != "" {
				dump(t, r, filepath.Join(*dumpDir, strings.NewReplacer(" ", "-", ",", "", ":", "").Replace(vs.name)+".yaml"))
			}
			for _, err := range Check(r, pv, Expect{ExternalSecrets: vs.external, Drain: dr}) {
				t.Error(err)
			}
			if vs.check != nil {
				vs.check(t, r)
			}
		})
	}
}

// The values that must not render: each fails with a message naming the
// value to fix.
func TestChartRefuses(t *testing.T) {
	pv, _ := payflow(t)
	cases := map[string]struct{ values, want string }{
		"chart-created secret without the webhook secret": {
			"secrets:\n  create: true\n  values:\n    PAYFLOW_PAYLOAD_KEYS: k1:x\n    DATABASE_URL: postgres://x\n",
			"secrets.values.STRIPE_WEBHOOK_SECRET is required"},
		"unknown key in the chart-created secret": {
			"secrets:\n  create: true\n  values:\n    STRIPE_WEBHOOK_SECRET: whsec_x\n    PAYFLOW_PAYLOAD_KEYS: k1:x\n    DATABASE_URL: postgres://x\n    STRIPE_KEY: sk\n",
			"secrets.values.STRIPE_KEY"},
		"no secret at all":                       {"secrets:\n  existingSecret: \"\"\n", "secrets.existingSecret"},
		"a chart-managed variable in config.env": {"config:\n  env:\n    TEMPORAL_ADDRESS: x:7233\n", "config.env.TEMPORAL_ADDRESS is set by the chart"},
		"an unquoted number in config.env":       {"config:\n  env:\n    WEBHOOK_MAX_BODY: 2048\n", "quote the value"},
		// values.schema.json: a misspelt or mistyped value fails before
		// anything renders.
		"misspelt value":         {"receiver:\n  autoscaling:\n    enable: false\n", "enable"},
		"misspelt top-level key": {"serviceMonitors:\n  enabled: false\n", "serviceMonitors"},
		"mistyped value":         {"worker:\n  replicaCount: two\n", "replicaCount"},
		"a secret in extraEnv":   {"worker:\n  extraEnv:\n    - name: DATABASE_URL\n      valueFrom: {secretKeyRef: {name: x, key: y}}\n", "valueFrom"},
	}
	// Every secret payflow knows, put in config.env, is refused: the
	// chart's own list of secret names (payflow.secretVarNames) is held to
	// config.Vars this way.
	for name := range pv.Secret {
		cases["secret "+name+" in config.env"] = struct{ values, want string }{
			"config:\n  env:\n    " + name + ": plain\n", "config.env." + name + " is a secret"}
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			vals, err := ParseValues(c.values)
			if err != nil {
				t.Fatal(err)
			}
			_, err = Render(chartDir, vals)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("render: %v, want an error containing %q", err, c.want)
			}
			t.Logf("refused: %v", err)
		})
	}
}

// The values file's secret keys are payflow's secrets, and config.env's
// keys are variables payflow reads, not secret.
func TestValuesFileNamesPayflowVars(t *testing.T) {
	pv, _ := payflow(t)
	b, err := os.ReadFile(filepath.Join(chartDir, "values.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var v struct {
		Secrets struct{ Values map[string]string }
		Config  struct{ Env map[string]string }
	}
	if err := yaml.Unmarshal(b, &v); err != nil {
		t.Fatal(err)
	}
	for k := range v.Secrets.Values {
		if !pv.Secret[k] {
			t.Errorf("values.yaml secrets.values.%s: not a secret variable of payflow", k)
		}
	}
	for k := range v.Config.Env {
		if !pv.Known[k] || pv.Secret[k] {
			t.Errorf("values.yaml config.env.%s: not a non-secret variable payflow reads", k)
		}
	}
	if len(v.Secrets.Values) == 0 || len(v.Config.Env) == 0 {
		t.Error("values.yaml: secrets.values or config.env not found")
	}
}

// The strict decoder is the schema check: a misspelt field, a field at the
// wrong level, a wrong type and an unknown kind all fail.
func TestStrictDecodeRejectsBrokenDocuments(t *testing.T) {
	const good = `apiVersion: apps/v1
kind: Deployment
metadata:
  name: x
spec:
  selector:
    matchLabels: {app: x}
  template:
    metadata:
      labels: {app: x}
    spec:
      containers:
        - name: x
          image: x
          readinessProbe:
            httpGet: {path: /readyz, port: metrics}
`
	if _, _, err := Decode([]byte(good)); err != nil {
		t.Fatalf("the well-formed document fails: %v", err)
	}
	broken := map[string]string{
		"misspelt field":       strings.Replace(good, "readinessProbe:", "readinesProbe:", 1),
		"misspelt nested":      strings.Replace(good, "path: /readyz", "pth: /readyz", 1),
		"field at wrong level": strings.Replace(good, "  selector:", "  replica: 2\n  selector:", 1),
		"wrong type":           strings.Replace(good, "name: x\nspec:", "name: x\n  labels: [a]\nspec:", 1),
		"duplicate key":        strings.Replace(good, "  name: x\n", "  name: x\n  name: y\n", 1),
		"unknown kind":         strings.Replace(good, "kind: Deployment", "kind: Deploymnt", 1),
		"wrong apiVersion":     strings.Replace(good, "apps/v1", "apps/v1beta1", 1),
	}
	for name, doc := range broken {
		if doc == good {
			t.Fatalf("%s: the replacement did not apply", name)
		}
		if _, _, err := Decode([]byte(doc)); err == nil {
			t.Errorf("%s: decoded without error", name)
		} else {
			t.Logf("%s: %v", name, err)
		}
	}
	// Every kind the chart renders is checked the same way.
	for _, doc := range []string{
		"apiVersion: v1\nkind: Service\nmetadata: {name: x}\nspec: {ports: [{name: http, prot: 80}]}\n",
		"apiVersion: autoscaling/v2\nkind: HorizontalPodAutoscaler\nmetadata: {name: x}\nspec: {scaleTargetRef: {kind: Deployment, name: x}, maxReplicas: 2, targetCPU: 70}\n",
		"apiVersion: monitoring.coreos.com/v1\nkind: ServiceMonitor\nmetadata: {name: x}\nspec: {selector: {}, endpoints: [{port: metrics, intervall: 30s}]}\n",
		"apiVersion: policy/v1\nkind: PodDisruptionBudget\nmetadata: {name: x}\nspec: {maxUnavailable: 1, selectr: {}}\n",
		"apiVersion: batch/v1\nkind: Job\nmetadata: {name: x}\nspec: {backofLimit: 3, template: {spec: {containers: []}}}\n",
		"apiVersion: v1\nkind: Secret\nmetadata: {name: x}\nstringdata: {A: b}\n",
		"apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\ndata: {WEBHOOK_MAX_BODY: 1048576}\n",
	} {
		if _, _, err := Decode([]byte(doc)); err == nil {
			t.Errorf("decoded without error:\n%s", doc)
		}
	}
}

// A chart broken in each of the ways that matter is caught: the check runs
// on a copy of the chart with one template edited.
func TestCheckCatchesBrokenChart(t *testing.T) {
	pv, dr := payflow(t)
	cases := []struct {
		name, file, old, new string // file "": the values alone break it
		values               string
	}{
		{name: "misspelt field", file: "receiver-deployment.yaml", old: "readinessProbe:", new: "readinesProbe:"},
		{name: "readiness on another path", file: "worker-deployment.yaml", old: "path: /readyz", new: "path: /ready"},
		{name: "readiness on an undeclared port", file: "receiver-deployment.yaml",
			old: "path: /readyz\n              port: metrics", new: "path: /readyz\n              port: admin"},
		{name: "HPA aimed elsewhere", file: "receiver-hpa.yaml", old: "name: {{ include \"payflow.fullname\" $ }}-receiver\n  minReplicas", new: "name: {{ include \"payflow.fullname\" $ }}-recv\n  minReplicas"},
		{name: "Service selecting no pods", file: "worker-service.yaml", old: `"component" "worker"`, new: `"component" "workers"`},
		{name: "ServiceMonitor on a missing port", file: "servicemonitor.yaml", old: "- port: metrics", new: "- port: prometheus"},
		{name: "scraped under the release's name, not the alerts' job", file: "servicemonitor.yaml", old: "jobLabel: payflow/job\n", new: ""},
		{name: "a job the alerts do not query", file: "_helpers.tpl", old: "payflow/job: payflow-{{ . }}", new: "payflow/job: {{ . }}"},
		{name: "a secret as a plain value", file: "worker-deployment.yaml",
			old: "          env:\n", new: "          env:\n            - name: STRIPE_API_KEY\n              value: sk_live_plain\n"},
		{name: "a variable payflow does not read", file: "configmap.yaml",
			old: "\ndata:\n", new: "\ndata:\n  PAYFLOW_DATABASE: postgres\n"},
		{name: "a variable payflow does not read, from the values", values: "config:\n  env:\n    PAYFLOW_DATABSE_URL: x\n"},
		{name: "a secret volume from a Secret nobody configured", file: "_helpers.tpl", old: "secretName: {{ . }}", new: "secretName: {{ . }}-typo",
			values: "temporal:\n  tls:\n    clientCertSecret: payflow-secrets\n"},
		{name: "secretKeyRef to a key the chart's Secret lacks", file: "secret.yaml", old: "stringData:\n  {{- toYaml $data | nindent 2 }}\n{{- if", new: "stringData: {}\n{{- if",
			values: "secrets:\n  create: true\n  values:\n    STRIPE_WEBHOOK_SECRET: whsec_x\n    PAYFLOW_PAYLOAD_KEYS: k1:x\n    DATABASE_URL: postgres://x\n"},
		{name: "secretKeyRef to another Secret", file: "_helpers.tpl", old: "name: {{ $secret }}", new: "name: {{ $secret }}-old"},
		{name: "migrate not a pre-upgrade hook", file: "migrate-job.yaml", old: "pre-install,pre-upgrade", new: "pre-install"},
		{name: "migrate running serve", file: "migrate-job.yaml", old: `args: ["migrate"]`, new: `args: ["serve"]`},
		{name: "migrate reading the release's ConfigMap", file: "migrate-job.yaml",
			old: "          env:\n", new: "          envFrom:\n            - configMapRef:\n                name: {{ include \"payflow.fullname\" $ }}\n          env:\n"},
		{name: "grace period shorter than the drain", file: "../values.yaml", old: "terminationGracePeriodSeconds: 45", new: "terminationGracePeriodSeconds: 20"},
		{name: "writable root filesystem", file: "../values.yaml", old: "readOnlyRootFilesystem: true", new: "readOnlyRootFilesystem: false"},
		{name: "rollout dropping capacity", file: "../values.yaml", old: "    maxSurge: 25%\n    maxUnavailable: 0", new: "    maxSurge: 25%\n    maxUnavailable: 1"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := copyChart(t)
			if c.file != "" {
				path := filepath.Join(dir, "templates", c.file)
				b, err := os.ReadFile(path)
				if err != nil {
					t.Fatal(err)
				}
				if strings.Count(string(b), c.old) != 1 {
					t.Fatalf("%s contains %q %d times, want once: update the case", c.file, c.old, strings.Count(string(b), c.old))
				}
				if err := os.WriteFile(path, []byte(strings.Replace(string(b), c.old, c.new, 1)), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			vals, err := ParseValues(c.values)
			if err != nil {
				t.Fatal(err)
			}
			problems := checkDir(dir, vals, pv, Expect{ExternalSecrets: []string{"payflow-secrets"}, Drain: dr})
			if len(problems) == 0 {
				t.Fatal("the broken chart passed the check")
			}
			t.Logf("caught: %v", errors.Join(problems...))
		})
	}
}

// checkDir is the whole check of TestChart on one chart directory.
func checkDir(dir string, vals map[string]any, pv PayflowVars, want Expect) []error {
	var problems []error
	if err := Lint(dir, vals); err != nil {
		problems = append(problems, err)
	}
	r, err := Render(dir, vals)
	if err != nil {
		return append(problems, err)
	}
	return append(problems, Check(r, pv, want)...)
}

func dump(t *testing.T, r *Release, path string) {
	t.Helper()
	var b strings.Builder
	for _, d := range r.Docs {
		y, err := yaml.Marshal(d.Obj)
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&b, "---\n# %s\n%s", d.Source, y)
	}
	b.WriteString("---\n# NOTES.txt\n# " + strings.ReplaceAll(r.Notes, "\n", "\n# ") + "\n")
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
}

func copyChart(t *testing.T) string {
	t.Helper()
	dst := filepath.Join(t.TempDir(), "payflow")
	if err := os.CopyFS(dst, os.DirFS(chartDir)); err != nil {
		t.Fatal(err)
	}
	return dst
}

func TestPayflowVarsDerived(t *testing.T) {
	pv, dr := payflow(t)
	for _, name := range []string{"STRIPE_WEBHOOK_SECRET", "DATABASE_URL", "TEMPORAL_ADDRESS", "TEMPORAL_TLS_CLIENT_CERT_PATH", "PAYFLOW_METRICS_ADDR"} {
		if !pv.Known[name] {
			t.Errorf("%s not derived from %s", name, configDir)
		}
	}
	for _, name := range []string{"STRIPE_WEBHOOK_SECRET", "STRIPE_API_KEY", "SENDGRID_API_KEY", "PAYFLOW_PAYLOAD_KEYS", "PAYFLOW_LINK_SECRET", "PROVISIONING_WEBHOOK_SECRET", "DATABASE_URL", "TEMPORAL_API_KEY"} {
		if !pv.Secret[name] {
			t.Errorf("%s not derived as a secret", name)
		}
	}
	for _, name := range []string{"TEMPORAL_ADDRESS", "EMAIL_FROM", "PAYFLOW_ADDR"} {
		if pv.Secret[name] {
			t.Errorf("%s derived as a secret", name)
		}
	}
	if dr.Serve <= 0 || dr.WorkerStop <= 0 || dr.Tracing <= 0 {
		t.Errorf("drain %+v", dr)
	}
	t.Logf("%d variables, %d secrets; drain %+v", len(pv.Known), len(pv.Secret), dr)
}

// Helpers of the value sets' own checks.

func wantKinds(t *testing.T, r *Release, want map[string]int) {
	t.Helper()
	got := map[string]int{}
	for _, d := range r.Docs {
		got[d.Kind]++
	}
	for k, n := range want {
		if got[k] != n {
			t.Errorf("%d %s, want %d (rendered: %v)", got[k], k, n, got)
		}
	}
}

func one[T interface{ GetName() string }](t *testing.T, r *Release) T {
	t.Helper()
	var found []T
	for _, d := range r.Docs {
		if o, ok := d.Obj.(T); ok {
			found = append(found, o)
		}
	}
	if len(found) != 1 {
		var zero T
		t.Fatalf("want one %T, got %d", zero, len(found))
	}
	return found[0]
}

func deployment(t *testing.T, r *Release, name string) *appsv1.Deployment {
	t.Helper()
	for _, d := range All[*appsv1.Deployment](r) {
		if d.Name == name {
			return d
		}
	}
	t.Fatalf("no Deployment %s", name)
	return nil
}

func containerEnv(t *testing.T, r *Release, name string) map[string]corev1.EnvVar {
	t.Helper()
	env := map[string]corev1.EnvVar{}
	for _, e := range deployment(t, r, name).Spec.Template.Spec.Containers[0].Env {
		env[e.Name] = e
	}
	return env
}
