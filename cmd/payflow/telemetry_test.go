package main

import (
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
)

// Timers reach Prometheus as histograms whose buckets reach days: the
// dunning time to recover aggregates across workers and says "within 3
// days", not a per-process quantile.
func TestTimersAreHistogramsUpToAMonth(t *testing.T) {
	tel := newTelemetry()
	defer tel.closer.Close()
	tel.handler.WithTags(map[string]string{"category": "soft"}).Timer("payflow_dunning_time_to_recover").Record(50 * time.Hour)
	var h *dto.Histogram
	deadline := time.Now().Add(5 * time.Second)
	for h == nil && time.Now().Before(deadline) {
		mfs, err := tel.reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		for _, mf := range mfs {
			if mf.GetName() == "payflow_dunning_time_to_recover_seconds" {
				if mf.GetType() != dto.MetricType_HISTOGRAM {
					t.Fatalf("type %s, want a histogram", mf.GetType())
				}
				h = mf.GetMetric()[0].GetHistogram()
			}
		}
		if h == nil {
			time.Sleep(50 * time.Millisecond)
		}
	}
	if h == nil {
		t.Fatal("payflow_dunning_time_to_recover_seconds never gathered")
	}
	if h.GetSampleCount() != 1 || h.GetSampleSum() != 50*3600 {
		t.Fatalf("count %d sum %v", h.GetSampleCount(), h.GetSampleSum())
	}
	counts := map[float64]uint64{}
	for _, b := range h.GetBucket() {
		counts[b.GetUpperBound()] = b.GetCumulativeCount()
	}
	if counts[2*86400] != 0 || counts[3*86400] != 1 || counts[30*86400] != 1 {
		t.Fatalf("buckets %v: want 50 h between 2 and 3 days", counts)
	}
}
