package integration

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.temporal.io/api/enums/v1"
	historypb "go.temporal.io/api/history/v1"
	"google.golang.org/protobuf/encoding/protojson"
)

// TestRecordHistories writes the histories of the workflows the other tests
// ran to PAYFLOW_RECORD_HISTORIES (a folder), for the replay test in
// workflows/ (make record-histories). It runs last (file order) and only
// when asked.
func TestRecordHistories(t *testing.T) {
	dir := os.Getenv("PAYFLOW_RECORD_HISTORIES")
	if dir == "" {
		t.Skip("set PAYFLOW_RECORD_HISTORIES=<folder> to record workflow histories")
	}
	ids := []string{"order/pi_core1", "order/pi_async_ok", "order/pi_async_ko", "order/pi_refund",
		"subscription/sub_dun_rec", "subscription/sub_dun_lost", "subscription/sub_core1", "dispute/dp_lost"}
	for _, id := range ids {
		var h historypb.History
		it := sys.temporal.GetWorkflowHistory(context.Background(), id, "", false, enums.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
		for it.HasNext() {
			ev, err := it.Next()
			if err != nil {
				t.Fatalf("%s: %v", id, err)
			}
			h.Events = append(h.Events, ev)
		}
		if len(h.Events) == 0 {
			t.Fatalf("%s: empty history", id)
		}
		b, err := protojson.MarshalOptions{Indent: " "}.Marshal(&h)
		if err != nil {
			t.Fatal(err)
		}
		name := strings.ReplaceAll(id, "/", "_") + ".json"
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("recorded %s (%d events)", name, len(h.Events))
	}
}
