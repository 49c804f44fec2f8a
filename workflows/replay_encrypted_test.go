package workflows_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	commonpb "go.temporal.io/api/common/v1"
	failurepb "go.temporal.io/api/failure/v1"
	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/api/proxy"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/payflow/payflow/codec"
	"github.com/payflow/payflow/routing"
	"github.com/payflow/payflow/workflows"
)

func testKey(t *testing.T, id string, fill byte) codec.Key {
	t.Helper()
	k, err := codec.NewKey(id, bytes.Repeat([]byte{fill}, codec.KeySize))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func codecOf(t *testing.T, keys ...codec.Key) *codec.Codec {
	t.Helper()
	ring, err := codec.NewKeyring(keys...)
	if err != nil {
		t.Fatal(err)
	}
	c, err := codec.New(ring)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// encryptHistory rewrites h as a worker with c would have written it:
// failure messages into encoded attributes, then every payload but the
// search attributes encrypted.
func encryptHistory(t *testing.T, h *historypb.History, c *codec.Codec) {
	t.Helper()
	ctx := context.Background()
	plain := converter.GetDefaultDataConverter()
	for _, ev := range h.Events {
		if err := proxy.VisitFailures(ctx, ev, proxy.VisitFailuresOptions{Visitor: func(_ *proxy.VisitFailuresContext, f *failurepb.Failure) error {
			return converter.EncodeCommonFailureAttributes(plain, f)
		}}); err != nil {
			t.Fatal(err)
		}
		if err := proxy.VisitPayloads(ctx, ev, proxy.VisitPayloadsOptions{SkipSearchAttributes: true,
			Visitor: func(_ *proxy.VisitPayloadsContext, ps []*commonpb.Payload) ([]*commonpb.Payload, error) {
				return c.Encode(ps)
			}}); err != nil {
			t.Fatal(err)
		}
	}
}

func replayer(t *testing.T, c *codec.Codec) worker.WorkflowReplayer {
	t.Helper()
	dc, fc := codec.Converters(c)
	r, err := worker.NewWorkflowReplayerWithOptions(worker.WorkflowReplayerOptions{DataConverter: dc, FailureConverter: fc})
	if err != nil {
		t.Fatal(err)
	}
	r.RegisterWorkflowWithOptions(workflows.OrderWorkflow, workflow.RegisterOptions{Name: routing.OrderWorkflowName})
	r.RegisterWorkflowWithOptions(workflows.SubscriptionWorkflow, workflow.RegisterOptions{Name: routing.SubscriptionWorkflowName})
	r.RegisterWorkflowWithOptions(workflows.DisputeWorkflow, workflow.RegisterOptions{Name: routing.DisputeWorkflowName})
	r.RegisterWorkflowWithOptions(workflows.CustomerWorkflow, workflow.RegisterOptions{Name: routing.CustomerWorkflowName})
	r.RegisterWorkflowWithOptions(workflows.QuarantineWorkflow, workflow.RegisterOptions{Name: routing.QuarantineWorkflowName})
	return r
}

// The recorded histories (plaintext, written before payload encryption)
// replay on workers that encrypt: turning encryption on keeps running
// workflows going. The same histories written with key k1 replay after
// the rotation to PAYFLOW_PAYLOAD_KEYS=k2,k1, and not once k1 is dropped.
func TestReplayWithPayloadEncryption(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("testdata", "histories", "*.json"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no recorded histories: %v", err)
	}
	k1, k2 := testKey(t, "k1", 1), testKey(t, "k2", 2)
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			raw, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			load := func() *historypb.History {
				h, err := client.HistoryFromJSON(bytes.NewReader(raw), client.HistoryJSONOptions{})
				if err != nil {
					t.Fatal(err)
				}
				return h
			}
			if err := replayer(t, codecOf(t, k1)).ReplayWorkflowHistory(nil, load()); err != nil {
				t.Fatalf("plaintext history on an encrypting worker: %v", err)
			}
			h := load()
			encryptHistory(t, h, codecOf(t, k1))
			if err := replayer(t, codecOf(t, k2, k1)).ReplayWorkflowHistory(nil, h); err != nil {
				t.Fatalf("k1 history after rotation to k2,k1: %v", err)
			}
			err = replayer(t, codecOf(t, k2)).ReplayWorkflowHistory(nil, h)
			t.Logf("k1 dropped: %.200v", err)
			if err == nil || !strings.Contains(err.Error(), `"k1"`) {
				t.Fatalf("k1 history with k1 dropped: %v, want an error naming k1", err)
			}
		})
	}
}
