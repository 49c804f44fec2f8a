// Package check renders payflow's Helm chart (deploy/helm/payflow) with
// Helm's own Go library, decodes every document strictly into its typed
// Kubernetes object and checks what the chart must get right: probes on
// ports the containers declare, Services and the ServiceMonitor that find
// their pods, secrets only through secretKeyRef, the migration as a hook,
// and only variables payflow reads. Its tests (go test ./... here, `make
// deploy-check` at the root) run offline.
//
// It is a module of its own so that payflow's go.mod never gains Helm's and
// Kubernetes' dependencies.
package check

import (
	"bytes"
	"errors"
	"fmt"
	"regexp"
	"sort"
	"strings"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	"helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/engine"
	"helm.sh/helm/v3/pkg/lint"
	"helm.sh/helm/v3/pkg/lint/support"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	sigsjson "sigs.k8s.io/json"
	"sigs.k8s.io/yaml"
)

// KubeVersion is the Kubernetes version the chart is rendered and linted
// for (Helm's library default is 1.20, older than the chart's kubeVersion).
var KubeVersion = chartutil.KubeVersion{Version: "v1.33.0", Major: "1", Minor: "33"}

// Release options of every render: a release named payflow in namespace
// payments, as an install (NOTES and hooks say "install").
const (
	ReleaseName = "payflow"
	Namespace   = "payments"
)

// Doc is one rendered Kubernetes object.
type Doc struct {
	Source string // the template that rendered it
	Kind   string // Deployment, Service, …
	Obj    metav1.Object
}

// Release is a rendered chart: every document, typed.
type Release struct {
	Docs  []Doc
	Notes string
}

// kinds are the objects the chart may render, by apiVersion and kind: a
// document of any other kind is an error.
var kinds = map[string]func() metav1.Object{
	"apps/v1/Deployment":                      func() metav1.Object { return &appsv1.Deployment{} },
	"batch/v1/Job":                            func() metav1.Object { return &batchv1.Job{} },
	"v1/Service":                              func() metav1.Object { return &corev1.Service{} },
	"v1/Secret":                               func() metav1.Object { return &corev1.Secret{} },
	"v1/ConfigMap":                            func() metav1.Object { return &corev1.ConfigMap{} },
	"v1/ServiceAccount":                       func() metav1.Object { return &corev1.ServiceAccount{} },
	"autoscaling/v2/HorizontalPodAutoscaler":  func() metav1.Object { return &autoscalingv2.HorizontalPodAutoscaler{} },
	"policy/v1/PodDisruptionBudget":           func() metav1.Object { return &policyv1.PodDisruptionBudget{} },
	"monitoring.coreos.com/v1/ServiceMonitor": func() metav1.Object { return &monitoringv1.ServiceMonitor{} },
	"networking.k8s.io/v1/Ingress":            func() metav1.Object { return &networkingv1.Ingress{} },
}

// Decode strictly decodes one YAML document into its typed object: an
// unknown or misspelt field (in any case), a duplicate key or a value of
// the wrong type is an error, as is a kind the chart is not expected to
// render.
func Decode(doc []byte) (kind string, obj metav1.Object, err error) {
	var tm metav1.TypeMeta
	if err := yaml.Unmarshal(doc, &tm); err != nil {
		return "", nil, err
	}
	if tm.APIVersion == "" || tm.Kind == "" {
		return "", nil, fmt.Errorf("document without apiVersion or kind")
	}
	mk, ok := kinds[tm.APIVersion+"/"+tm.Kind]
	if !ok {
		return "", nil, fmt.Errorf("unexpected kind %s %s", tm.APIVersion, tm.Kind)
	}
	// As kubectl and the API server decode: YAML to JSON without regard to
	// the target (a number stays a number, so an unquoted 1048576 in a
	// string field fails), then JSON case-sensitively (stringdata is not
	// stringData), refusing unknown and duplicate fields.
	j, err := yaml.YAMLToJSONStrict(doc)
	if err != nil {
		return "", nil, err
	}
	obj = mk()
	strict, err := sigsjson.UnmarshalStrict(j, obj)
	if err == nil && len(strict) > 0 {
		err = errors.Join(strict...)
	}
	if err != nil {
		return "", nil, fmt.Errorf("%s %s: %w", tm.Kind, tm.APIVersion, err)
	}
	return tm.Kind, obj, nil
}

var docSeparator = regexp.MustCompile(`(?m)^---[ \t]*$`)

// empty tells whether a document holds nothing but comments and blanks.
func empty(doc string) bool {
	for _, line := range strings.Split(doc, "\n") {
		if l := strings.TrimSpace(line); l != "" && !strings.HasPrefix(l, "#") {
			return false
		}
	}
	return true
}

// LoadChart loads the chart directory with Helm's loader.
func LoadChart(dir string) (*chart.Chart, error) {
	return loader.Load(dir)
}

// Render renders the chart at dir with vals over its values.yaml, as `helm
// install` would (hooks included), and decodes every document.
func Render(dir string, vals map[string]any) (*Release, error) {
	ch, err := LoadChart(dir)
	if err != nil {
		return nil, err
	}
	caps := chartutil.DefaultCapabilities.Copy()
	caps.KubeVersion = KubeVersion
	rv, err := chartutil.ToRenderValues(ch, vals, chartutil.ReleaseOptions{
		Name: ReleaseName, Namespace: Namespace, Revision: 1, IsInstall: true,
	}, caps)
	if err != nil {
		return nil, err
	}
	files, err := engine.Render(ch, rv)
	if err != nil {
		return nil, err
	}
	names := make([]string, 0, len(files))
	for name := range files {
		names = append(names, name)
	}
	sort.Strings(names)
	rel := &Release{}
	var errs []string
	for _, name := range names {
		base := name[strings.LastIndex(name, "/")+1:]
		switch {
		case strings.HasPrefix(base, "_"):
			continue
		case base == "NOTES.txt":
			rel.Notes = files[name]
			continue
		}
		for i, doc := range docSeparator.Split(files[name], -1) {
			if empty(doc) {
				continue
			}
			kind, obj, err := Decode([]byte(doc))
			if err != nil {
				errs = append(errs, fmt.Sprintf("%s (document %d): %v", name, i, err))
				continue
			}
			rel.Docs = append(rel.Docs, Doc{Source: name, Kind: kind, Obj: obj})
		}
	}
	if len(errs) > 0 {
		return rel, fmt.Errorf("strict decoding:\n  %s", strings.Join(errs, "\n  "))
	}
	return rel, nil
}

// Lint runs Helm's linter (Chart.yaml, values, templates rendered and
// parsed, deprecated APIs for KubeVersion) with vals over the chart's
// values; warnings count as failures, information does not.
func Lint(dir string, vals map[string]any) error {
	kv := KubeVersion
	l := lint.AllWithKubeVersion(dir, vals, Namespace, &kv)
	var msgs []string
	for _, m := range l.Messages {
		if m.Severity >= support.WarningSev {
			msgs = append(msgs, m.Error())
		}
	}
	if len(msgs) > 0 {
		return fmt.Errorf("helm lint:\n  %s", strings.Join(msgs, "\n  "))
	}
	return nil
}

// All returns the release's documents of type T (e.g. *appsv1.Deployment).
func All[T metav1.Object](r *Release) []T {
	var out []T
	for _, d := range r.Docs {
		if o, ok := d.Obj.(T); ok {
			out = append(out, o)
		}
	}
	return out
}

// ParseValues reads a YAML values document (a value set of the tests).
func ParseValues(s string) (map[string]any, error) {
	vals := map[string]any{}
	if err := yaml.Unmarshal(bytes.TrimSpace([]byte(s)), &vals); err != nil {
		return nil, err
	}
	return vals, nil
}
