package main

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	deploytemporal "github.com/payflow/payflow/deploy/temporal"
)

// evaluateCluster judges the cluster phase's targets: payflow's ack rate
// against the bare client's on the same cluster, and nothing lost.
func (r *results) evaluateCluster() {
	const ackName, lostName = "cluster: ack rate payflow vs bare client", "cluster: events lost (payflow and bare client phases)"
	c := r.Cluster
	if c == nil {
		why := r.ClusterSkipped
		if why == "" {
			why = "not run"
		}
		r.skip(ackName, ">= 0.9x", why)
		return
	}
	if len(c.Rounds) > 0 {
		shown := fmt.Sprintf("%.2fx (%.0f vs %.0f/s)", c.RatioVsBare, c.PayflowAckRate, c.BareAckRate)
		if c.DoneRatioVsBare > 0 {
			shown += fmt.Sprintf("; completion %.2fx (%.0f vs %.0f/s)", c.DoneRatioVsBare, c.PayflowDoneRate, c.BareDoneRate)
		}
		r.addTarget(ackName, ">= 0.9x", c.RatioVsBare, shown, c.RatioVsBare >= 0.9, "")
	} else {
		r.skip(ackName, ">= 0.9x", "no round completed")
	}
	lost, failed, incomplete := 0, 0, 0
	for _, ph := range c.Phases {
		lost += ph.Lost
		failed += ph.Failed
		if ph.Name == "payflow" && ph.LastDoneSec == 0 {
			incomplete++
		}
	}
	if len(c.Phases) == 0 {
		r.skip(lostName, "0", "no phase ran")
		return
	}
	r.addTarget(lostName, "0", float64(lost+failed), fmt.Sprintf("%d lost, %d never acked", lost, failed), lost+failed == 0 && incomplete == 0, "")
}

// describe is the cluster's one-line description.
func (c *ClusterResult) describe() string {
	var procs []string
	for _, s := range []string{"frontend", "history", "matching", "worker"} {
		n := c.Processes[s]
		if n == 1 {
			procs = append(procs, s)
		} else if n > 1 {
			procs = append(procs, fmt.Sprintf("%d× %s", n, s))
		}
	}
	payloads := "payloads encrypted"
	if !c.PayloadEncryption {
		payloads = "payloads in clear"
	}
	db := "payflow's database on PostgreSQL (" + clusterPayflowDB + ")"
	if c.PayflowDB == "sqlite" {
		db = "payflow's database on SQLite"
	}
	return fmt.Sprintf("Temporal server %s: %s; %d history shards; PostgreSQL %s; payflow serve + worker, %s, %s",
		deploytemporal.ServerVersion, strings.Join(procs, ", "), c.Shards, c.PostgresVersion, db, payloads)
}

func (c *ClusterResult) print(w io.Writer, cfg config) {
	fmt.Fprintf(w, "\n-- end to end on a Temporal cluster (%s) --\n", c.describe())
	if len(c.Phases) > 0 {
		printPhases(w, c.Phases)
		fmt.Fprintln(w, "(on the cluster, Temporal CPU is its four processes', payflow's is serve + worker; PostgreSQL's CPU is in background)")
	}
	for _, rd := range c.Rounds {
		fmt.Fprintf(w, "round %d: payflow %.0f acks/s, bare client %.0f acks/s (both halves): %.2fx; completion %.0f vs %.0f/s: %.2fx\n",
			rd.Round, rd.PayflowAckRate, rd.BareAckRate, rd.Ratio, rd.PayflowDoneRate, rd.BareDoneRate, rd.DoneRatio)
	}
	if len(c.Rounds) > 0 {
		fmt.Fprintf(w, "cluster: payflow/bare ack rate %.2fx (%.0f vs %.0f/s, median of rounds), completion rate %.2fx (%.0f vs %.0f/s)\n",
			c.RatioVsBare, c.PayflowAckRate, c.BareAckRate, c.DoneRatioVsBare, c.PayflowDoneRate, c.BareDoneRate)
	}
	if v := c.VsDev; v != nil {
		fmt.Fprintf(w, "cluster / dev server (medians of rounds): payflow ack %.2fx (%.0f vs %.0f/s), completion %.2fx (%.0f vs %.0f/s); bare client ack %.2fx (%.0f vs %.0f/s), completion %.2fx (%.0f vs %.0f/s)\n",
			v.PayflowAck, c.PayflowAckRate, v.DevPayflowAck, v.PayflowDone, c.PayflowDoneRate, v.DevPayflowDone,
			v.BareAck, c.BareAckRate, v.DevBareAck, v.BareDone, c.BareDoneRate, v.DevBareDone)
	}
	fmt.Fprintf(w, "cluster up in %.1f s; PostgreSQL %s\n", c.StartSeconds, c.PostgresSettings)
	if u := c.Idle; u != nil {
		fmt.Fprintf(w, "idle (%.0f s, no events): Temporal %.3f cores, payflow %.3f cores, PostgreSQL %.3f cores, %.1f transactions/s in the cluster's databases\n",
			u.Seconds, u.cores(temporalComponents()), u.cores([]string{compServe, compWorker}), u.cores(pgComponents), u.commitsPerSecond())
	}
	if len(c.Costs) > 0 {
		printCosts(w, c.Costs)
	}
	if len(c.Capacity) > 0 {
		printCapacity(w, c.Capacity)
	}
	if len(c.PeakRSSMiB) > 0 {
		fmt.Fprint(w, "peak RSS:")
		for _, comp := range allComponents() {
			if v, ok := c.PeakRSSMiB[comp]; ok {
				fmt.Fprintf(w, "  %s %.0f MiB", comp, v)
			}
		}
		fmt.Fprintln(w)
	}
	for _, p := range c.Phases {
		if p.NotDone != "" || p.FirstError != "" {
			fmt.Fprintf(w, "  %s round %d: %s %s\n", p.Name, p.Round, p.NotDone, firstErr(p.FirstError))
		}
	}
}

// printCosts is the cost per event of each kind of phase, side by side.
func printCosts(w io.Writer, costs []Cost) {
	fmt.Fprintln(w, "\ncost per event on the cluster (the rounds' phases of each kind; CPU from /proc/<pid>/stat, PostgreSQL from pg_stat_database, pg_stat_wal, pg_stat_bgwriter):")
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	head := "CPU\t"
	for _, c := range costs {
		head += fmt.Sprintf("%s µs/event\t%s cores\t", c.Kind, c.Kind)
	}
	fmt.Fprintln(tw, head)
	row := func(name string, us func(Cost) float64, cores func(Cost) float64) {
		line := name + "\t"
		for _, c := range costs {
			line += fmt.Sprintf("%.0f\t%.2f\t", us(c), cores(c))
		}
		fmt.Fprintln(tw, line)
	}
	sumCores := func(comps []string) func(Cost) float64 {
		return func(c Cost) float64 {
			var s float64
			for _, k := range comps {
				s += c.Cores[k]
			}
			return s
		}
	}
	for _, comp := range allComponents() {
		present := false
		for _, c := range costs {
			if _, ok := c.CPUus[comp]; ok {
				present = true
			}
		}
		if !present {
			continue
		}
		name := comp
		if comp == compPGOther {
			name += " (other users)"
		}
		row(name, func(c Cost) float64 { return c.CPUus[comp] }, func(c Cost) float64 { return c.Cores[comp] })
	}
	row("= Temporal", func(c Cost) float64 { return c.TemporalUs }, sumCores(temporalComponents()))
	row("= payflow", func(c Cost) float64 { return c.PayflowUs }, sumCores([]string{compServe, compWorker}))
	row("= PostgreSQL (the phase's)", func(c Cost) float64 { return c.PostgresUs }, sumCores(pgComponents))
	tw.Flush()

	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	head = "PostgreSQL per event\t"
	for _, c := range costs {
		head += c.Kind + "\t"
	}
	fmt.Fprintln(tw, head)
	prow := func(name, format string, v func(Cost) float64) {
		line := name + "\t"
		for _, c := range costs {
			line += fmt.Sprintf(format+"\t", v(c))
		}
		fmt.Fprintln(tw, line)
	}
	for _, r := range ourRoles {
		prow("transactions, "+r+" database", "%.1f", func(c Cost) float64 { return c.Commits[r] })
	}
	prow("rows inserted", "%.1f", func(c Cost) float64 { return c.Inserted })
	prow("rows updated", "%.1f", func(c Cost) float64 { return c.Updated })
	prow("rows deleted", "%.1f", func(c Cost) float64 { return c.Deleted })
	prow("rows returned", "%.0f", func(c Cost) float64 { return c.Returned })
	prow("blocks read (not in shared buffers)", "%.2f", func(c Cost) float64 { return c.BlksRead })
	prow("blocks hit", "%.0f", func(c Cost) float64 { return c.BlksHit })
	prow("WAL bytes", "%.0f", func(c Cost) float64 { return c.WALBytes })
	prow("WAL records", "%.1f", func(c Cost) float64 { return c.WALRecords })
	prow("WAL full-page images", "%.2f", func(c Cost) float64 { return c.WALFPI })
	prow("WAL flushes (wal_sync)", "%.2f", func(c Cost) float64 { return c.WALSync })
	prow("buffers written", "%.2f", func(c Cost) float64 { return c.BuffersWritten })
	tw.Flush()
	for _, c := range costs {
		if c.OtherCommits > 0 || c.OtherCores >= 0.01 {
			fmt.Fprintf(w, "(%s phases: other databases ran %d transactions, their backends used %.2f cores: the server-wide WAL and buffer figures include that work)\n",
				c.Kind, c.OtherCommits, c.OtherCores)
		}
	}
}

// printCapacity is the paper estimate's input: what one core of each
// component serves.
func printCapacity(w io.Writer, lines []CapacityLine) {
	fmt.Fprintln(w, "\npaper estimate inputs (payflow's cost per event; CPU only, linear):")
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "component\tCPU µs/event\tevents/s per core\tcores per 100 events/s\t")
	ones := map[string]float64{}
	for _, l := range lines {
		fmt.Fprintf(tw, "%s\t%.0f\t%.0f\t%.2f\t\n", l.Component, l.UsPerEvent, l.EventsPerCore, l.CoresPer100)
		ones[l.Component] = 1
	}
	tw.Flush()
	rate, binding := estimate(lines, ones)
	fmt.Fprintf(w, "one core for each: %.0f events/s, bound by %s\n", rate, binding)
}
