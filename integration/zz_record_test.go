package integration

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"go.temporal.io/api/enums/v1"
	historypb "go.temporal.io/api/history/v1"
	workflowpb "go.temporal.io/api/workflow/v1"
	"go.temporal.io/api/workflowservice/v1"
	"google.golang.org/protobuf/encoding/protojson"
)

// TestRecordHistories writes the histories of the workflows the other tests
// ran to PAYFLOW_RECORD_HISTORIES (a folder), for the replay test in
// workflows/ (make record-histories): every run of each workflow ID, oldest
// first, named <id>_run<n>.json. It runs last (file order) and only when
// asked. Runs still open (a subscription lingering after its end, a
// campaign) are recorded as far as they went; the replayer checks them
// just the same.
func TestRecordHistories(t *testing.T) {
	dir := os.Getenv("PAYFLOW_RECORD_HISTORIES")
	if dir == "" {
		t.Skip("set PAYFLOW_RECORD_HISTORIES=<folder> to record workflow histories")
	}
	ids := []string{
		// orders: a payment delivered three times, then its Checkout
		// Session and a late duplicate (three runs); async payments; a
		// refund after fulfilment (two runs); a dispute handed to the order.
		"order/pi_core1", "order/pi_async_ok", "order/pi_async_ko", "order/pi_refund", "order/pi_dispute", "order/pi_refund_mix",
		// subscriptions: dunning recovered, dunning to the final action, an
		// upgrade, the core events.
		"subscription/sub_dun_rec", "subscription/sub_dun_lost", "subscription/sub_upgrade", "subscription/sub_core1",
		// a dispute: owner lookup, forwarding, close.
		"dispute/dp_lost",
		// a refund of an invoice's charge: the order run that looks up the
		// subscription and forwards it (then a late duplicate's run), and
		// the subscription that applies it.
		"order/pi_invref_db", "subscription/sub_invref_db",
	}
	for _, id := range ids {
		resp, err := sys.temporal.ListWorkflow(context.Background(), &workflowservice.ListWorkflowExecutionsRequest{
			Namespace: "default", Query: fmt.Sprintf("WorkflowId = '%s'", id)})
		if err != nil {
			t.Fatalf("%s: %v", id, err)
		}
		execs := resp.Executions
		if len(execs) == 0 {
			t.Fatalf("%s: no runs", id)
		}
		slices.SortFunc(execs, func(a, b *workflowpb.WorkflowExecutionInfo) int {
			return a.GetStartTime().AsTime().Compare(b.GetStartTime().AsTime())
		})
		for n, e := range execs {
			var h historypb.History
			it := sys.temporal.GetWorkflowHistory(context.Background(), id, e.Execution.RunId, false, enums.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
			for it.HasNext() {
				ev, err := it.Next()
				if err != nil {
					t.Fatalf("%s: %v", id, err)
				}
				h.Events = append(h.Events, ev)
			}
			b, err := protojson.MarshalOptions{Indent: " "}.Marshal(&h)
			if err != nil {
				t.Fatal(err)
			}
			name := fmt.Sprintf("%s_run%d.json", strings.ReplaceAll(id, "/", "_"), n+1)
			if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
				t.Fatal(err)
			}
			t.Logf("recorded %s (%d events, %s)", name, len(h.Events), e.Status)
		}
	}
}
