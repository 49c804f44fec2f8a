package workflows_test

import (
	"os"
	"path/filepath"
	"testing"

	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/payflow/payflow/routing"
	"github.com/payflow/payflow/workflows"
)

// TestReplayRecordedHistories replays histories recorded from the
// integration tests (make record-histories) against today's workflow code:
// a change that would break workflows already running fails here.
func TestReplayRecordedHistories(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("testdata", "histories", "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatal("no recorded histories in testdata/histories")
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			r := worker.NewWorkflowReplayer()
			r.RegisterWorkflowWithOptions(workflows.OrderWorkflow, workflow.RegisterOptions{Name: routing.OrderWorkflowName})
			r.RegisterWorkflowWithOptions(workflows.SubscriptionWorkflow, workflow.RegisterOptions{Name: routing.SubscriptionWorkflowName})
			r.RegisterWorkflowWithOptions(workflows.DisputeWorkflow, workflow.RegisterOptions{Name: routing.DisputeWorkflowName})
			r.RegisterWorkflowWithOptions(workflows.CustomerWorkflow, workflow.RegisterOptions{Name: routing.CustomerWorkflowName})
			r.RegisterWorkflowWithOptions(workflows.QuarantineWorkflow, workflow.RegisterOptions{Name: routing.QuarantineWorkflowName})
			if err := r.ReplayWorkflowHistoryFromJSONFile(nil, f); err != nil {
				t.Fatalf("replay %s: %v", f, err)
			}
		})
	}
	if _, err := os.Stat(filepath.Join("testdata", "histories")); err != nil {
		t.Fatal(err)
	}
}
