package check

import (
	"fmt"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/validation"
)

// Expect is what a value set tells the check beyond the rendered objects.
type Expect struct {
	// ExternalSecrets are the Secrets the values name that the chart does
	// not create (secrets.existingSecret, database.secretName, the Temporal
	// TLS Secrets): a secretKeyRef or secret volume may name these, or a
	// Secret the chart renders.
	ExternalSecrets []string
	// Drain is how long payflow may take to stop after SIGTERM.
	Drain Drain
}

// Drain is payflow's shutdown budget, read from its source (LoadDrain).
type Drain struct {
	// Serve: serveUntilDone's grace for in-flight requests (receiver).
	Serve int
	// WorkerStop: the worker's WorkerStopTimeout for running activities.
	WorkerStop int
	// Tracing: the trace exporter's flush at exit.
	Tracing int
}

func firstSeconds(path string, re *regexp.Regexp) (int, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	m := re.FindSubmatch(b)
	if m == nil {
		return 0, fmt.Errorf("%s: %s not found: update LoadDrain to the code", path, re)
	}
	return strconv.Atoi(string(m[1]))
}

// LoadDrain reads payflow's shutdown timeouts from cmd/payflow (runtime.go:
// serveUntilDone's context.WithTimeout and WorkerStopTimeout; tracing.go:
// the exporter's shutdown), so terminationGracePeriodSeconds is held to
// the code rather than to a copy of its numbers.
func LoadDrain(cmdDir string) (Drain, error) {
	var d Drain
	var err error
	if d.Serve, err = firstSeconds(cmdDir+"/runtime.go",
		regexp.MustCompile(`(?s)func serveUntilDone\(.*?context\.WithTimeout\(context\.Background\(\), (\d+)\s*\*\s*time\.Second\)`)); err != nil {
		return d, err
	}
	if d.WorkerStop, err = firstSeconds(cmdDir+"/runtime.go",
		regexp.MustCompile(`WorkerStopTimeout:\s*(\d+)\s*\*\s*time\.Second`)); err != nil {
		return d, err
	}
	if d.Tracing, err = firstSeconds(cmdDir+"/tracing.go",
		regexp.MustCompile(`context\.WithTimeout\(context\.Background\(\), (\d+)\s*\*\s*time\.Second\)`)); err != nil {
		return d, err
	}
	return d, nil
}

// errs collects the problems of one check run.
type errs []error

func (e *errs) add(format string, args ...any) { *e = append(*e, fmt.Errorf(format, args...)) }

// podOwner is a workload with its pod template.
type podOwner struct {
	what   string // "Deployment payflow-receiver"
	labels map[string]string
	spec   *corev1.PodSpec
	hook   bool
}

func workloads(r *Release) []podOwner {
	var out []podOwner
	for _, d := range All[*appsv1.Deployment](r) {
		out = append(out, podOwner{"Deployment " + d.Name, d.Spec.Template.Labels, &d.Spec.Template.Spec, isHook(d)})
	}
	for _, j := range All[*batchv1.Job](r) {
		out = append(out, podOwner{"Job " + j.Name, j.Spec.Template.Labels, &j.Spec.Template.Spec, isHook(j)})
	}
	return out
}

func isHook(o metav1.Object) bool { return o.GetAnnotations()["helm.sh/hook"] != "" }

func hookWeight(o metav1.Object) int {
	w, _ := strconv.Atoi(o.GetAnnotations()["helm.sh/hook-weight"])
	return w
}

func hookEvents(o metav1.Object) []string {
	var ev []string
	for _, e := range strings.Split(o.GetAnnotations()["helm.sh/hook"], ",") {
		ev = append(ev, strings.TrimSpace(e))
	}
	return ev
}

// Check runs every semantic check on a rendered release and returns the
// problems found (none: the release is right).
func Check(r *Release, pv PayflowVars, want Expect) []error {
	var e errs
	checkNames(r, &e)
	checkWorkloads(r, pv, want, &e)
	checkHooks(r, &e)
	checkServices(r, &e)
	checkHPA(r, &e)
	checkPDBs(r, &e)
	checkServiceMonitor(r, &e)
	checkIngress(r, &e)
	checkConfig(r, pv, &e)
	checkSecretRefs(r, want, &e)
	return e
}

func checkNames(r *Release, e *errs) {
	seen := map[string]bool{}
	for _, d := range r.Docs {
		o := d.Obj
		key := d.Kind + "/" + o.GetName()
		if seen[key] {
			e.add("%s: rendered twice", key)
		}
		seen[key] = true
		if msgs := validation.IsDNS1123Subdomain(o.GetName()); len(msgs) > 0 {
			e.add("%s: name: %s", key, strings.Join(msgs, "; "))
		}
		if _, ok := o.(*corev1.Service); ok {
			if msgs := validation.IsDNS1035Label(o.GetName()); len(msgs) > 0 {
				e.add("%s: Service name: %s", key, strings.Join(msgs, "; "))
			}
		}
		if o.GetNamespace() != "" && o.GetNamespace() != Namespace {
			e.add("%s: namespace %q is not the release's", key, o.GetNamespace())
		}
		for k, v := range o.GetLabels() {
			if msgs := append(validation.IsQualifiedName(k), validation.IsValidLabelValue(v)...); len(msgs) > 0 {
				e.add("%s: label %s=%q: %s", key, k, v, strings.Join(msgs, "; "))
			}
		}
	}
}

// probe checks one probe: an HTTP GET of path on a port the container
// declares (by name or number).
func probe(what string, p *corev1.Probe, path string, c corev1.Container, e *errs) {
	if p == nil || p.HTTPGet == nil {
		e.add("%s: no HTTP %s probe", what, path)
		return
	}
	if p.HTTPGet.Path != path {
		e.add("%s: probe path %q, want %q", what, p.HTTPGet.Path, path)
	}
	if portOf(c, p.HTTPGet.Port) == nil {
		e.add("%s: probe port %s is not a port the container declares", what, p.HTTPGet.Port.String())
	}
}

func portOf(c corev1.Container, p intstr.IntOrString) *corev1.ContainerPort {
	for i, cp := range c.Ports {
		if (p.Type == intstr.String && cp.Name == p.StrVal) || (p.Type == intstr.Int && cp.ContainerPort == p.IntVal) {
			return &c.Ports[i]
		}
	}
	return nil
}

func selectorMatches(sel *metav1.LabelSelector, lbls map[string]string) bool {
	if sel == nil {
		return false
	}
	s, err := metav1.LabelSelectorAsSelector(sel)
	if err != nil || s.Empty() {
		return false
	}
	return s.Matches(labels.Set(lbls))
}

func checkWorkloads(r *Release, pv PayflowVars, want Expect, e *errs) {
	deployments := map[string]*appsv1.Deployment{}
	for _, d := range All[*appsv1.Deployment](r) {
		deployments[strings.TrimPrefix(d.Name, ReleaseName+"-")] = d
		if isHook(d) {
			e.add("Deployment %s: a hook; the app must be a release resource", d.Name)
		}
		if !selectorMatches(d.Spec.Selector, d.Spec.Template.Labels) {
			e.add("Deployment %s: selector %v does not match its pod labels %v", d.Name, d.Spec.Selector, d.Spec.Template.Labels)
		}
		s := d.Spec.Strategy
		if s.Type != appsv1.RollingUpdateDeploymentStrategyType || s.RollingUpdate == nil || s.RollingUpdate.MaxUnavailable == nil ||
			s.RollingUpdate.MaxUnavailable.String() != "0" && s.RollingUpdate.MaxUnavailable.String() != "0%" {
			e.add("Deployment %s: a rolling update must keep capacity (maxUnavailable 0), got %+v", d.Name, s)
		}
	}
	recv, wrk := deployments["receiver"], deployments["worker"]
	if recv == nil || wrk == nil {
		e.add("want Deployments %s-receiver and %s-worker, got %v", ReleaseName, ReleaseName, keys(deployments))
		return
	}
	for _, c := range []struct {
		d         *appsv1.Deployment
		arg       string
		ports     []string
		drainSecs int
	}{
		{recv, "serve", []string{"http", "metrics"}, want.Drain.Serve + want.Drain.Tracing},
		{wrk, "worker", []string{"metrics"}, want.Drain.WorkerStop + want.Drain.Tracing},
	} {
		spec := c.d.Spec.Template.Spec
		if len(spec.Containers) != 1 {
			e.add("Deployment %s: want one container, got %d", c.d.Name, len(spec.Containers))
			continue
		}
		ctr := spec.Containers[0]
		what := "Deployment " + c.d.Name
		if !slices.Equal(ctr.Args, []string{c.arg}) || len(ctr.Command) > 0 {
			e.add("%s: runs command %v args %v, want the image's payflow with args [%s]", what, ctr.Command, ctr.Args, c.arg)
		}
		var names []string
		for _, p := range ctr.Ports {
			names = append(names, p.Name)
		}
		if !slices.Equal(names, c.ports) {
			e.add("%s: container ports %v, want %v", what, names, c.ports)
		}
		probe(what+" readinessProbe", ctr.ReadinessProbe, "/readyz", ctr, e)
		probe(what+" livenessProbe", ctr.LivenessProbe, "/healthz", ctr, e)
		for _, p := range []*corev1.Probe{ctr.ReadinessProbe, ctr.LivenessProbe, ctr.StartupProbe} {
			if p != nil && p.HTTPGet != nil {
				if cp := portOf(ctr, p.HTTPGet.Port); cp != nil && cp.Name != "metrics" {
					e.add("%s: probes belong on the operations port (metrics, PAYFLOW_METRICS_ADDR), not %s", what, cp.Name)
				}
			}
		}
		// Graceful stop: the grace period covers the preStop sleep and
		// payflow's own drain.
		drain := c.drainSecs
		if ctr.Lifecycle != nil && ctr.Lifecycle.PreStop != nil {
			if ctr.Lifecycle.PreStop.Sleep == nil {
				e.add("%s: a preStop hook other than sleep (the image has no shell)", what)
			} else {
				drain += int(ctr.Lifecycle.PreStop.Sleep.Seconds)
			}
		}
		if g := spec.TerminationGracePeriodSeconds; g == nil || int(*g) <= drain {
			e.add("%s: terminationGracePeriodSeconds %v, want more than %d s (payflow's drain after SIGTERM)", what, deref(g), drain)
		}
	}
	for _, w := range workloads(r) {
		checkPod(w, pv, e)
	}
}

func checkPod(w podOwner, pv PayflowVars, e *errs) {
	spec := w.spec
	psc := spec.SecurityContext
	if spec.AutomountServiceAccountToken == nil || *spec.AutomountServiceAccountToken {
		e.add("%s: mounts a service account token; payflow never calls the Kubernetes API", w.what)
	}
	for _, c := range append(slices.Clone(spec.InitContainers), spec.Containers...) {
		what := w.what + " container " + c.Name
		sc := c.SecurityContext
		nonRoot := (sc != nil && sc.RunAsNonRoot != nil && *sc.RunAsNonRoot) ||
			(psc != nil && psc.RunAsNonRoot != nil && *psc.RunAsNonRoot && (sc == nil || sc.RunAsNonRoot == nil))
		if !nonRoot {
			e.add("%s: not runAsNonRoot", what)
		}
		// distroless's nonroot user is a name: the kubelet needs a uid to
		// enforce runAsNonRoot.
		if (sc == nil || sc.RunAsUser == nil) && (psc == nil || psc.RunAsUser == nil) {
			e.add("%s: no runAsUser (the image's user is a name the kubelet cannot check)", what)
		}
		if sc == nil || sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem {
			e.add("%s: root filesystem not read-only", what)
		}
		if sc == nil || sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation {
			e.add("%s: allowPrivilegeEscalation not false", what)
		}
		if sc == nil || sc.Capabilities == nil || !slices.Contains(sc.Capabilities.Drop, "ALL") || len(sc.Capabilities.Add) > 0 {
			e.add("%s: capabilities must drop ALL and add none", what)
		}
		if c.Resources.Requests.Cpu().IsZero() || c.Resources.Requests.Memory().IsZero() {
			e.add("%s: no CPU and memory requests", what)
		}
		if c.Resources.Limits.Memory().IsZero() {
			e.add("%s: no memory limit", what)
		}
		for _, env := range c.Env {
			checkEnvVar(what, env, pv, e)
		}
		for _, ef := range c.EnvFrom {
			if ef.SecretRef != nil {
				e.add("%s: envFrom a Secret (%s) hides which secrets the process gets; use secretKeyRef per variable", what, ef.SecretRef.Name)
			}
			if ef.Prefix != "" {
				e.add("%s: envFrom with a prefix renames payflow's variables", what)
			}
		}
		for _, vm := range c.VolumeMounts {
			if !slices.ContainsFunc(spec.Volumes, func(v corev1.Volume) bool { return v.Name == vm.Name }) {
				e.add("%s: mounts volume %s the pod does not have", what, vm.Name)
			}
		}
	}
}

// checkEnvVar: a name payflow reads, and a secret only through a
// secretKeyRef.
func checkEnvVar(what string, env corev1.EnvVar, pv PayflowVars, e *errs) {
	if !pv.Known[env.Name] {
		e.add("%s: env %s is not a variable payflow reads (config package)", what, env.Name)
	}
	if pv.Secret[env.Name] {
		if env.Value != "" || env.ValueFrom == nil || env.ValueFrom.SecretKeyRef == nil {
			e.add("%s: secret env %s must come from a secretKeyRef, never a plain value", what, env.Name)
		}
	} else if env.ValueFrom != nil && env.ValueFrom.SecretKeyRef != nil {
		e.add("%s: env %s comes from a Secret but payflow does not treat it as secret", what, env.Name)
	}
}

// checkHooks: the migration is a pre-install and pre-upgrade hook running
// `payflow migrate`, deleted before it is created again, with a bounded
// retry; whatever it uses at pre-install is a hook of a lower weight or
// outside the chart (the release's own resources do not exist yet).
func checkHooks(r *Release, e *errs) {
	jobs := All[*batchv1.Job](r)
	var migrate *batchv1.Job
	for _, j := range jobs {
		if j.Name == ReleaseName+"-migrate" {
			migrate = j
		}
	}
	if migrate == nil {
		e.add("no Job %s-migrate", ReleaseName)
		return
	}
	ev := hookEvents(migrate)
	if !slices.Contains(ev, "pre-install") || !slices.Contains(ev, "pre-upgrade") {
		e.add("Job %s: helm.sh/hook %v, want pre-install and pre-upgrade", migrate.Name, ev)
	}
	if !strings.Contains(migrate.Annotations["helm.sh/hook-delete-policy"], "before-hook-creation") {
		e.add("Job %s: hook-delete-policy %q must include before-hook-creation (an upgrade re-creates it)", migrate.Name, migrate.Annotations["helm.sh/hook-delete-policy"])
	}
	if migrate.Spec.BackoffLimit == nil || *migrate.Spec.BackoffLimit < 1 {
		e.add("Job %s: backoffLimit %v: want retries", migrate.Name, deref(migrate.Spec.BackoffLimit))
	}
	spec := migrate.Spec.Template.Spec
	if spec.RestartPolicy != corev1.RestartPolicyNever && spec.RestartPolicy != corev1.RestartPolicyOnFailure {
		e.add("Job %s: restartPolicy %q", migrate.Name, spec.RestartPolicy)
	}
	if len(spec.Containers) != 1 || !slices.Equal(spec.Containers[0].Args, []string{"migrate"}) || len(spec.Containers[0].Command) > 0 {
		e.add("Job %s: must run the image's payflow with args [migrate]", migrate.Name)
		return
	}
	w := hookWeight(migrate)
	// What exists when the Job runs: hooks of a lower weight, and what the
	// chart does not render.
	before := func(kind string, name string) (rendered, ok bool) {
		for _, d := range r.Docs {
			if d.Kind == kind && d.Obj.GetName() == name {
				return true, isHook(d.Obj) && slices.Contains(hookEvents(d.Obj), "pre-install") &&
					slices.Contains(hookEvents(d.Obj), "pre-upgrade") && hookWeight(d.Obj) < w
			}
		}
		return false, true
	}
	if sa := spec.ServiceAccountName; sa != "" && sa != "default" {
		if _, ok := before("ServiceAccount", sa); !ok {
			e.add("Job %s: runs as ServiceAccount %s, which does not exist yet at pre-install", migrate.Name, sa)
		}
	}
	c := spec.Containers[0]
	for _, ef := range c.EnvFrom {
		e.add("Job %s: envFrom %+v: at pre-install the release's ConfigMap and Secret do not exist yet", migrate.Name, ef)
	}
	for _, env := range c.Env {
		if env.ValueFrom != nil && env.ValueFrom.SecretKeyRef != nil {
			if _, ok := before("Secret", env.ValueFrom.SecretKeyRef.Name); !ok {
				e.add("Job %s: env %s reads Secret %s, which does not exist yet at pre-install", migrate.Name, env.Name, env.ValueFrom.SecretKeyRef.Name)
			}
		}
	}
	names := map[string]bool{}
	for _, env := range c.Env {
		names[env.Name] = true
	}
	if !names["DATABASE_URL"] || !names["TEMPORAL_ADDRESS"] {
		e.add("Job %s: needs DATABASE_URL and TEMPORAL_ADDRESS, has %v", migrate.Name, keys(names))
	}
}

// checkServices: every Service selects the pods of exactly one Deployment,
// and its target ports are ports those pods declare.
func checkServices(r *Release, e *errs) {
	for _, s := range All[*corev1.Service](r) {
		var matched []*appsv1.Deployment
		for _, d := range All[*appsv1.Deployment](r) {
			if len(s.Spec.Selector) > 0 && labels.SelectorFromSet(s.Spec.Selector).Matches(labels.Set(d.Spec.Template.Labels)) {
				matched = append(matched, d)
			}
		}
		if len(matched) != 1 {
			e.add("Service %s: selector %v matches %d Deployments' pods, want 1", s.Name, s.Spec.Selector, len(matched))
			continue
		}
		ctr := matched[0].Spec.Template.Spec.Containers[0]
		for _, p := range s.Spec.Ports {
			if p.Name == "" {
				e.add("Service %s: unnamed port %d", s.Name, p.Port)
			}
			target := p.TargetPort
			if target.Type == intstr.Int && target.IntVal == 0 {
				target = intstr.FromInt32(p.Port)
			}
			if portOf(ctr, target) == nil {
				e.add("Service %s: port %s targets %s, not a port of Deployment %s", s.Name, p.Name, target.String(), matched[0].Name)
			}
		}
	}
}

func checkHPA(r *Release, e *errs) {
	for _, h := range All[*autoscalingv2.HorizontalPodAutoscaler](r) {
		ref := h.Spec.ScaleTargetRef
		var target *appsv1.Deployment
		for _, d := range All[*appsv1.Deployment](r) {
			if ref.Kind == "Deployment" && ref.APIVersion == "apps/v1" && ref.Name == d.Name {
				target = d
			}
		}
		if target == nil || target.Name != ReleaseName+"-receiver" {
			e.add("HPA %s: scaleTargetRef %+v is not the receiver Deployment", h.Name, ref)
			continue
		}
		if target.Spec.Replicas != nil {
			e.add("HPA %s: Deployment %s sets replicas too; every upgrade would reset the HPA's count", h.Name, target.Name)
		}
		if h.Spec.MinReplicas == nil || *h.Spec.MinReplicas < 1 || *h.Spec.MinReplicas > h.Spec.MaxReplicas {
			e.add("HPA %s: minReplicas %v, maxReplicas %d", h.Name, deref(h.Spec.MinReplicas), h.Spec.MaxReplicas)
		}
		cpu := false
		for _, m := range h.Spec.Metrics {
			if m.Type == autoscalingv2.ResourceMetricSourceType && m.Resource != nil && m.Resource.Name == corev1.ResourceCPU &&
				m.Resource.Target.Type == autoscalingv2.UtilizationMetricType && m.Resource.Target.AverageUtilization != nil {
				cpu = true
			}
		}
		if !cpu {
			e.add("HPA %s: no CPU utilization target", h.Name)
		}
		if target.Spec.Template.Spec.Containers[0].Resources.Requests.Cpu().IsZero() {
			e.add("HPA %s: the receiver has no CPU request to measure utilization against", h.Name)
		}
	}
}

func checkPDBs(r *Release, e *errs) {
	for _, p := range All[*policyv1.PodDisruptionBudget](r) {
		n := 0
		for _, d := range All[*appsv1.Deployment](r) {
			if selectorMatches(p.Spec.Selector, d.Spec.Template.Labels) {
				n++
			}
		}
		if n != 1 {
			e.add("PodDisruptionBudget %s: selector matches %d Deployments' pods, want 1", p.Name, n)
		}
		if p.Spec.MinAvailable != nil {
			e.add("PodDisruptionBudget %s: minAvailable blocks every drain of a single replica; use maxUnavailable", p.Name)
		}
	}
}

// checkServiceMonitor: its selector picks Services in the release's
// namespace, each of which has every port its endpoints name, and those
// are the receiver's and the worker's.
func checkServiceMonitor(r *Release, e *errs) {
	for _, sm := range All[*monitoringv1.ServiceMonitor](r) {
		if len(sm.Spec.Endpoints) == 0 {
			e.add("ServiceMonitor %s: no endpoints", sm.Name)
		}
		ns := sm.Spec.NamespaceSelector
		if ns.Any || (len(ns.MatchNames) > 0 && !slices.Contains(ns.MatchNames, Namespace)) {
			e.add("ServiceMonitor %s: namespaceSelector %+v leaves the release's namespace", sm.Name, ns)
		}
		var matched []string
		for _, s := range All[*corev1.Service](r) {
			if !selectorMatches(&sm.Spec.Selector, s.Labels) {
				continue
			}
			matched = append(matched, s.Name)
			// Prometheus names the job after the Service's jobLabel: the
			// names the alert rules and the dashboard query.
			if want := "payflow-" + strings.TrimPrefix(s.Name, ReleaseName+"-"); sm.Spec.JobLabel == "" || s.Labels[sm.Spec.JobLabel] != want {
				e.add("ServiceMonitor %s: Service %s is scraped as job %q (jobLabel %q), want %q", sm.Name, s.Name, s.Labels[sm.Spec.JobLabel], sm.Spec.JobLabel, want)
			} else if !slices.Contains(ScrapeJobs, want) {
				e.add("ServiceMonitor %s: job %q is none the alert rules query (%v)", sm.Name, want, ScrapeJobs)
			}
			for _, ep := range sm.Spec.Endpoints {
				if ep.Port == "" || !slices.ContainsFunc(s.Spec.Ports, func(p corev1.ServicePort) bool { return p.Name == ep.Port }) {
					e.add("ServiceMonitor %s: endpoint port %q is not a port of Service %s", sm.Name, ep.Port, s.Name)
				}
				if ep.Path != "" && ep.Path != "/metrics" {
					e.add("ServiceMonitor %s: path %s, payflow serves /metrics", sm.Name, ep.Path)
				}
			}
		}
		slices.Sort(matched)
		if want := []string{ReleaseName + "-receiver", ReleaseName + "-worker"}; !slices.Equal(matched, want) {
			e.add("ServiceMonitor %s: selects Services %v, want %v", sm.Name, matched, want)
		}
	}
}

func checkIngress(r *Release, e *errs) {
	for _, in := range All[*networkingv1.Ingress](r) {
		for _, rule := range in.Spec.Rules {
			if rule.HTTP == nil {
				continue
			}
			for _, p := range rule.HTTP.Paths {
				b := p.Backend.Service
				if b == nil || b.Name != ReleaseName+"-receiver" || b.Port.Name != "http" {
					e.add("Ingress %s: path %s must go to the receiver's http port, got %+v", in.Name, p.Path, b)
				}
			}
		}
	}
}

// checkConfig: ConfigMaps hold only variables payflow reads, none secret,
// and every configMapRef names one the chart renders.
func checkConfig(r *Release, pv PayflowVars, e *errs) {
	cms := map[string]*corev1.ConfigMap{}
	for _, cm := range All[*corev1.ConfigMap](r) {
		cms[cm.Name] = cm
		for k, v := range cm.Data {
			if !pv.Known[k] {
				e.add("ConfigMap %s: %s is not a variable payflow reads (config package)", cm.Name, k)
			}
			if pv.Secret[k] {
				e.add("ConfigMap %s: %s is a secret; it belongs in a Secret", cm.Name, k)
			}
			if v == "" {
				e.add("ConfigMap %s: %s is empty (an empty variable can override a Temporal profile)", cm.Name, k)
			}
		}
	}
	for _, w := range workloads(r) {
		for _, c := range w.spec.Containers {
			for _, ef := range c.EnvFrom {
				if ef.ConfigMapRef != nil && cms[ef.ConfigMapRef.Name] == nil {
					e.add("%s: envFrom ConfigMap %s is not rendered by the chart", w.what, ef.ConfigMapRef.Name)
				}
			}
		}
	}
}

// checkSecretRefs: every secretKeyRef and secret volume names a Secret the
// chart renders (and then a key it holds) or one the values name as
// existing.
func checkSecretRefs(r *Release, want Expect, e *errs) {
	secrets := map[string]*corev1.Secret{}
	for _, s := range All[*corev1.Secret](r) {
		secrets[s.Name] = s
		for k := range s.Data {
			if _, dup := s.StringData[k]; dup {
				e.add("Secret %s: %s in both data and stringData", s.Name, k)
			}
		}
	}
	has := func(s *corev1.Secret, key string) bool {
		_, d := s.Data[key]
		_, sd := s.StringData[key]
		return d || sd
	}
	for _, w := range workloads(r) {
		for _, c := range w.spec.Containers {
			for _, env := range c.Env {
				if env.ValueFrom == nil || env.ValueFrom.SecretKeyRef == nil {
					continue
				}
				ref := env.ValueFrom.SecretKeyRef
				if s := secrets[ref.Name]; s != nil {
					if !has(s, ref.Key) {
						e.add("%s: env %s reads key %s of Secret %s, which the chart renders without it", w.what, env.Name, ref.Key, ref.Name)
					}
				} else if !slices.Contains(want.ExternalSecrets, ref.Name) {
					e.add("%s: env %s reads Secret %s: neither rendered nor the configured secret (%v)", w.what, env.Name, ref.Name, want.ExternalSecrets)
				}
			}
		}
		for _, v := range w.spec.Volumes {
			if v.Secret == nil {
				continue
			}
			if s := secrets[v.Secret.SecretName]; s != nil {
				for _, it := range v.Secret.Items {
					if !has(s, it.Key) {
						e.add("%s: volume %s reads key %s of Secret %s, which the chart renders without it", w.what, v.Name, it.Key, s.Name)
					}
				}
			} else if !slices.Contains(want.ExternalSecrets, v.Secret.SecretName) {
				e.add("%s: volume %s reads Secret %s: neither rendered nor configured", w.what, v.Name, v.Secret.SecretName)
			}
		}
	}
}

func deref[T any](p *T) any {
	if p == nil {
		return "unset"
	}
	return *p
}

func keys[V any](m map[string]V) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// ScrapeJobs are the job names deploy/prometheus's alert rules select
// (job="…"): the ServiceMonitor must scrape the receiver and the worker
// under these, whatever the release is called.
var ScrapeJobs = scrapeJobs("../../prometheus/payflow-alerts.yaml")

func scrapeJobs(path string) []string {
	b, err := os.ReadFile(path)
	if err != nil {
		panic(fmt.Sprintf("the alert rules the chart's scrape jobs must match: %v", err))
	}
	var out []string
	for _, m := range regexp.MustCompile(`job="([^"]+)"`).FindAllStringSubmatch(string(b), -1) {
		if !slices.Contains(out, m[1]) {
			out = append(out, m[1])
		}
	}
	slices.Sort(out)
	return out
}
