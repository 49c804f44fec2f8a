package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"text/tabwriter"
	"time"
)

type results struct {
	Started  time.Time      `json:"started"`
	Finished time.Time      `json:"finished"`
	Machine  Machine        `json:"machine"`
	Config   config         `json:"config"`
	Micro    []MicroResult  `json:"micro,omitempty"`
	Ingest   *IngestResult  `json:"ingest,omitempty"`
	E2E      *E2EResult     `json:"e2e,omitempty"`
	Cluster  *ClusterResult `json:"cluster,omitempty"`
	// ClusterSkipped says why the cluster phase did not run.
	ClusterSkipped string   `json:"cluster_skipped,omitempty"`
	Targets        []Target `json:"targets"`
	Notices        []string `json:"notices,omitempty"`

	mu sync.Mutex
}

// Target is one of the targets, judged on this run.
type Target struct {
	Name     string  `json:"name"`
	Want     string  `json:"want"`
	Measured float64 `json:"measured"`
	Shown    string  `json:"shown"`
	Status   string  `json:"status"` // PASS, FAIL, SKIP
	Note     string  `json:"note,omitempty"`
}

func (r *results) notice(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	logf("NOTICE: %s", msg)
	r.mu.Lock()
	r.Notices = append(r.Notices, msg)
	r.mu.Unlock()
}

func verdict(ok bool) string {
	if ok {
		return "PASS"
	}
	return "FAIL"
}

func (r *results) addTarget(name, want string, measured float64, shown string, ok bool, note string) {
	r.Targets = append(r.Targets, Target{Name: name, Want: want, Measured: measured, Shown: shown, Status: verdict(ok), Note: note})
}

func (r *results) skip(name, want, why string) {
	r.Targets = append(r.Targets, Target{Name: name, Want: want, Status: "SKIP", Note: why})
}

// evaluate judges the targets of the issue, each a ratio within this run.
func (r *results) evaluate() {
	defer r.evaluateCluster() // listed last
	in := r.Ingest
	maxConns := 0
	for _, c := range r.Config.Conns {
		maxConns = max(maxConns, c)
	}
	if in == nil {
		for _, n := range []string{"ingest req/s vs Express", "ingest CPU/req vs Express", "ingest req/s vs Fiber+ConstructEvent", "receiver peak RSS"} {
			r.skip(n, "", "ingest benchmark not run")
		}
	} else {
		if rt, ok := in.Ratios[srvExpress][maxConns]; ok {
			r.addTarget(fmt.Sprintf("ingest req/s vs Express @%d conns", maxConns), ">= 4.0x", rt.RPS, fmt.Sprintf("%.2fx", rt.RPS), rt.RPS >= 4, "")
			r.addTarget(fmt.Sprintf("ingest CPU/req vs Express @%d conns", maxConns), "<= 0.35x", rt.CPU, fmt.Sprintf("%.2fx", rt.CPU), rt.CPU <= 0.35, "")
		} else {
			r.skip("ingest req/s vs Express", ">= 4.0x", "Express baseline not run")
			r.skip("ingest CPU/req vs Express", "<= 0.35x", "Express baseline not run")
		}
		for _, c := range r.Config.Conns {
			if rt, ok := in.Ratios[srvFiber][c]; ok {
				r.addTarget(fmt.Sprintf("ingest req/s vs Fiber+ConstructEvent @%d conns", c), ">= 1.0x", rt.RPS, fmt.Sprintf("%.2fx", rt.RPS), rt.RPS >= 1, "")
			}
		}
		if mib, ok := in.PeakRSS[srvPayflow]; ok {
			r.addTarget("receiver peak RSS under ingest load", "<= 50 MiB", mib, fmt.Sprintf("%.1f MiB", mib), mib <= 50, "")
		}
		var errs int64
		for _, s := range in.Summary {
			if s.Server == srvPayflow {
				errs += s.Errors
			}
		}
		r.addTarget("ingest: payflow errors/non-2xx", "0", float64(errs), fmt.Sprint(errs), errs == 0, "")
	}
	e := r.E2E
	if e == nil {
		r.skip("end to end", "", "end-to-end benchmark not run")
		return
	}
	if len(e.Rounds) > 0 {
		r.addTarget("e2e ack rate payflow vs bare client", ">= 0.9x", e.RatioVsBare, fmt.Sprintf("%.2fx (%.0f vs %.0f/s)", e.RatioVsBare, e.PayflowAckRate, e.BareAckRate), e.RatioVsBare >= 0.9, "")
	} else {
		r.skip("e2e ack rate payflow vs bare client", ">= 0.9x", "not measured")
	}
	if e.DefaultAckRate > 0 && e.TunedAckRate > 0 {
		r.addTarget("payflow dev settings vs default dev server (ack rate)", ">= 2.5x", e.RatioTuned, fmt.Sprintf("%.2fx (%.0f vs %.0f/s)", e.RatioTuned, e.TunedAckRate, e.DefaultAckRate), e.RatioTuned >= 2.5, "")
	} else {
		r.skip("payflow dev settings vs default dev server (ack rate)", ">= 2.5x", "not measured")
	}
	lost, failed, incomplete := 0, 0, 0
	for _, ph := range e.Phases {
		if ph.Name == "payflow" || strings.HasPrefix(ph.Name, "bare") {
			lost += ph.Lost
			failed += ph.Failed
		}
		if ph.Name == "payflow" && ph.LastDoneSec == 0 {
			incomplete++
		}
	}
	r.addTarget("e2e events lost (payflow and bare client phases)", "0", float64(lost+failed), fmt.Sprintf("%d lost, %d never acked", lost, failed), lost+failed == 0 && incomplete == 0, "")
	var burst *Phase
	for i := range e.Phases {
		if e.Phases[i].Name == "payflow-burst" {
			burst = &e.Phases[i]
		}
	}
	if burst == nil {
		r.skip("burst: 0 lost, all complete, ack p99 < 5 s", "", "not run (-burst 10000 runs it)")
		return
	}
	ok := burst.Lost == 0 && burst.Failed == 0 && burst.Completed >= burst.Events && burst.AckP99ms < 5000
	r.addTarget(fmt.Sprintf("burst of %d: 0 lost, all complete, ack p99 < 5 s", burst.Events), "0 lost, p99 < 5000 ms", burst.AckP99ms,
		fmt.Sprintf("%d lost, %d never acked, %d/%d complete, p99 %.0f ms", burst.Lost, burst.Failed, burst.Completed, burst.Events, burst.AckP99ms), ok, "")
}

func (r *results) print(w io.Writer) {
	fmt.Fprintf(w, "\n== payflow bench, %s ==\n", r.Started.Format(time.RFC3339))
	m := r.Machine
	fmt.Fprintf(w, "machine: %d CPUs (%s), %s RAM, Linux %s, %s, node %s, %s; 4 KiB O_DSYNC write %.0f µs; load average at start %s\n",
		m.NProc, m.CPUModel, m.MemTotal, m.Kernel, m.GoVersion, orNone(m.Node), firstLine(m.TemporalCLI), m.FsyncUs, m.LoadAvg)
	if len(r.Micro) > 0 {
		fmt.Fprintln(w, "\n-- micro-benchmarks (go test -bench ./webhook/) --")
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
		fmt.Fprintln(tw, "benchmark\tns/op\tB/op\tallocs/op\t")
		for _, b := range r.Micro {
			fmt.Fprintf(tw, "%s\t%.0f\t%d\t%d\t\n", b.Name, b.NsPerOp, b.BytesPerOp, b.AllocsPerOp)
		}
		tw.Flush()
	}
	if in := r.Ingest; in != nil {
		fmt.Fprintf(w, "\n-- ingest (closed loop, %s per run, median of %d rounds, %d-byte events) --\n", r.Config.Duration, r.Config.Rounds, in.Payload)
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
		fmt.Fprintln(tw, "server\tconns\treq/s\tp50 µs\tp99 µs\tCPU µs/req\terrors\tx req/s\tx CPU\tbackground\t")
		for _, s := range in.Summary {
			rr, cr := "", ""
			if s.Server != srvPayflow {
				if rt, ok := in.Ratios[s.Server][s.Conns]; ok {
					rr, cr = fmt.Sprintf("%.2f", rt.RPS), fmt.Sprintf("%.2f", rt.CPU)
				}
			}
			fmt.Fprintf(tw, "%s\t%d\t%.0f\t%.0f\t%.0f\t%.1f\t%d\t%s\t%s\t%.2f\t\n", s.Server, s.Conns, s.RPS, s.P50us, s.P99us, s.CPUus, s.Errors, rr, cr, s.BgMax)
		}
		tw.Flush()
		fmt.Fprintln(w, "(x req/s, x CPU: payflow's figure divided by that baseline's; background: most CPU, in cores, other processes used during a run)")
		if len(in.FixedSum) > 0 {
			fmt.Fprintf(w, "\nfixed rate %d req/s (open loop, %s, median of %d rounds):\n", r.Config.FixedRate, r.Config.FixedDuration, min(r.Config.Rounds, 3))
			tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
			fmt.Fprintln(tw, "server\tp50 µs\tp99 µs\tmax µs\tCPU µs/req\tfailed\tlate\t")
			for _, f := range in.FixedSum {
				fmt.Fprintf(tw, "%s\t%.0f\t%.0f\t%.0f\t%.1f\t%d\t%d\t\n", f.Server, f.P50us, f.P99us, f.MaxUs, f.CPUus, f.Failed, f.Late)
			}
			tw.Flush()
		}
		fmt.Fprint(w, "\npeak RSS (VmHWM):")
		for _, s := range in.Servers {
			fmt.Fprintf(w, "  %s %.1f MiB", s, in.PeakRSS[s])
		}
		fmt.Fprintln(w)
	}
	if e := r.E2E; e != nil && len(e.Phases) > 0 {
		fmt.Fprintf(w, "\n-- end to end (Temporal dev server; ack = HTTP 2xx or SignalWithStart returned) --\n")
		printPhases(w, e.Phases)
		fmt.Fprintln(w, "\nwhile acknowledging (cores of CPU used by each process; workflows of the phase completed by the last ack):")
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
		fmt.Fprintln(tw, "phase\tround\tpart\tTemporal\tpayflow dev\tbench client\tother\tTemporal CPU ms/ack\tcompleted by last ack\t")
		for _, p := range e.Phases {
			fmt.Fprintf(tw, "%s\t%d\t%s\t%.2f\t%.2f\t%.2f\t%.2f\t%.1f\t%d\t\n", p.Name, p.Round, p.Part, p.AckTemporalCores, p.AckPayflowCores, p.AckClientCores, p.AckBgCores, p.AckTemporalCPUus/1000, p.DoneAtLastAck)
		}
		tw.Flush()
		fmt.Fprintln(w)
		for _, rd := range e.Rounds {
			fmt.Fprintf(w, "round %d: payflow %.0f acks/s, bare client %.0f acks/s (both halves): %.2fx\n", rd.Round, rd.PayflowAckRate, rd.BareAckRate, rd.Ratio)
		}
		fmt.Fprintf(w, "payflow/bare ack rate %.2fx (median of rounds); bare client on payflow dev's server / on a default-configured one (first phase on each fresh server): ack rate %.2fx (%.0f vs %.0f/s), completion rate %.2fx\n",
			e.RatioVsBare, e.RatioTuned, e.TunedAckRate, e.DefaultAckRate, e.RatioTunedDone)
		fmt.Fprintf(w, "peak RSS: payflow dev %.0f MiB, Temporal %v\n", e.PayflowDevPeak, fmtMap(e.TemporalPeakMiB))
		for _, p := range e.Phases {
			if p.NotDone != "" || p.FirstError != "" {
				fmt.Fprintf(w, "  %s round %d: %s %s\n", p.Name, p.Round, p.NotDone, firstErr(p.FirstError))
			}
		}
	}
	if r.Cluster != nil {
		r.Cluster.print(w, r.Config)
	} else if r.ClusterSkipped != "" {
		fmt.Fprintf(w, "\n-- end to end on a Temporal cluster: skipped (%s) --\n", r.ClusterSkipped)
	}
	fmt.Fprintln(w, "\n-- targets (each a ratio within this run) --")
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "target\twant\tmeasured\tresult\t")
	for _, t := range r.Targets {
		shown := t.Shown
		if t.Status == "SKIP" {
			shown = t.Note
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t\n", t.Name, t.Want, shown, t.Status)
	}
	tw.Flush()
	if len(r.Notices) > 0 {
		fmt.Fprintln(w, "\nnotices:")
		for _, n := range r.Notices {
			fmt.Fprintln(w, "  - "+firstLine(n))
		}
	}
}

// printPhases is the table of end-to-end phases.
func printPhases(w io.Writer, phases []Phase) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "phase\tround\tpart\tevents\tconns\tack/s\tack p50 ms\tack p99 ms\tretries\tdone after s\tdone/s\tlost\tnever acked\tTemporal CPU ms/ev\tpayflow CPU ms/ev\tbackground\t")
	for _, p := range phases {
		fmt.Fprintf(tw, "%s\t%d\t%s\t%d\t%d\t%.0f\t%.0f\t%.0f\t%d\t%.1f\t%.0f\t%d\t%d\t%.1f\t%.1f\t%.2f\t\n", p.Name, p.Round, p.Part, p.Events, p.Conns, p.AckRate, p.AckP50ms, p.AckP99ms,
			p.Retries, p.LastDoneSec, p.DoneRate, p.Lost, p.Failed, p.ServerCPUus/1000, p.PayflowCPU/1000, p.BgCores)
	}
	tw.Flush()
}

func firstErr(s string) string {
	if s == "" {
		return ""
	}
	return "(first error: " + firstLine(s) + ")"
}

func fmtMap(m map[string]float64) string {
	var parts []string
	for k, v := range m {
		parts = append(parts, fmt.Sprintf("%s %.0f MiB", k, v))
	}
	return strings.Join(parts, ", ")
}

func orNone(s string) string {
	if s == "" {
		return "(none)"
	}
	return s
}

func firstLine(s string) string {
	l, _, _ := strings.Cut(s, "\n")
	return l
}

func (r *results) write(dir string) (string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	path := filepath.Join(dir, r.Started.Format("20060102T150405Z")+".json")
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return "", err
	}
	return path, os.WriteFile(path, append(b, '\n'), 0o644)
}
