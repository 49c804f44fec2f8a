package workflows_test

import (
	"path/filepath"
	"testing"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	temporalotel "go.temporal.io/sdk/contrib/opentelemetry"
	"go.temporal.io/sdk/interceptor"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/payflow/payflow/routing"
	"github.com/payflow/payflow/workflows"
)

// The worker runs Temporal's OpenTelemetry interceptor when traces are on
// (cmd/payflow, tracing.go). It reads and writes headers and makes spans,
// never commands: every recorded history — recorded without it — replays
// with it as it does without.
func TestReplayRecordedHistoriesWithTracing(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("testdata", "histories", "*.json"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no recorded histories (%v)", err)
	}
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	tracer, err := temporalotel.NewTracer(temporalotel.TracerOptions{Tracer: tp.Tracer("replay")})
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			r, err := worker.NewWorkflowReplayerWithOptions(worker.WorkflowReplayerOptions{
				Interceptors: []interceptor.WorkerInterceptor{interceptor.NewTracingInterceptor(tracer)},
			})
			if err != nil {
				t.Fatal(err)
			}
			r.RegisterWorkflowWithOptions(workflows.OrderWorkflow, workflow.RegisterOptions{Name: routing.OrderWorkflowName})
			r.RegisterWorkflowWithOptions(workflows.SubscriptionWorkflow, workflow.RegisterOptions{Name: routing.SubscriptionWorkflowName})
			r.RegisterWorkflowWithOptions(workflows.DisputeWorkflow, workflow.RegisterOptions{Name: routing.DisputeWorkflowName})
			r.RegisterWorkflowWithOptions(workflows.CustomerWorkflow, workflow.RegisterOptions{Name: routing.CustomerWorkflowName})
			r.RegisterWorkflowWithOptions(workflows.QuarantineWorkflow, workflow.RegisterOptions{Name: routing.QuarantineWorkflowName})
			if err := r.ReplayWorkflowHistoryFromJSONFile(nil, f); err != nil {
				t.Fatalf("replay %s with the tracing interceptor: %v", f, err)
			}
		})
	}
	if len(rec.Started()) == 0 {
		t.Error("the interceptor made no span: it did not run")
	}
}
