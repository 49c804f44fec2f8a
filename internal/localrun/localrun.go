// Package localrun holds what running payflow's processes on one machine
// needs, shared by `payflow dev`, the benchmarks and the chaos harness: the
// Temporal dev server's flags and an environment free of payflow's own
// settings.
package localrun

import (
	"os"
	"strconv"
	"strings"

	"github.com/payflow/payflow/routing"
)

// DevServerArgs are the dev server's flags, tuned for throughput (measured in
// BENCHMARKS.md against a default-configured dev server):
//   - storage in WAL mode with synchronous=normal: far fewer syncs and no
//     reader/writer lock-out (a crash of the machine can lose the last
//     commits of a dev database, not corrupt it);
//   - the search attribute cache is trusted: the dev server's own default
//     re-reads the search attributes from the database on every use, so that
//     attributes created while it runs show at once; payflow's three are created
//     at start-up, before any workflow;
//   - eager activity execution: an activity scheduled by a worker that has a
//     free slot comes back in the workflow task's response, without a trip
//     through the task queue.
func DevServerArgs(dbFile string, port, uiPort int, namespace string) []string {
	return []string{"server", "start-dev",
		"--db-filename", dbFile,
		"--port", strconv.Itoa(port),
		"--ui-port", strconv.Itoa(uiPort),
		"--ip", "127.0.0.1",
		"--namespace", namespace,
		"--search-attribute", routing.CustomerIDKey.GetName() + "=Keyword",
		"--search-attribute", routing.StatusKey.GetName() + "=Keyword",
		"--search-attribute", routing.DunningStageKey.GetName() + "=Keyword",
		"--sqlite-pragma", "journal_mode=wal",
		"--sqlite-pragma", "synchronous=normal",
		"--dynamic-config-value", "system.forceSearchAttributesCacheRefreshOnRead=false",
		"--dynamic-config-value", "system.enableActivityEagerExecution=true",
		"--log-level", "warn",
	}
}

// CleanEnv is os.Environ without anything that configures payflow,
// Temporal's client, Stripe or SendGrid, plus extra: a child process sees
// only what its caller sets.
func CleanEnv(extra ...string) []string {
	drop := []string{"STRIPE_", "SENDGRID_", "DATABASE_URL=", "TEMPORAL_", "PAYFLOW_", "DUNNING_", "LOG_LEVEL=", "LOG_FORMAT=",
		"WEBHOOK_", "PROVISIONING_", "EMAIL_FROM=", "ALERT_EMAIL="}
	var env []string
next:
	for _, kv := range os.Environ() {
		for _, d := range drop {
			if strings.HasPrefix(kv, d) {
				continue next
			}
		}
		env = append(env, kv)
	}
	return append(env, extra...)
}
