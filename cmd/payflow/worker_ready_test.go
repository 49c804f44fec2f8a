package main

import (
	"context"
	"database/sql"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"go.temporal.io/sdk/client"

	"github.com/payflow/payflow/store"
)

// healthyTemporal is a Temporal client whose health check always passes,
// so the worker's readiness depends on the database alone.
type healthyTemporal struct{ client.Client }

func (healthyTemporal) CheckHealth(context.Context, *client.CheckHealthRequest) (*client.CheckHealthResponse, error) {
	return &client.CheckHealthResponse{}, nil
}

func readyz(t *testing.T, h http.Handler) (int, map[string]string) {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/readyz", nil))
	var body map[string]string
	if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
		t.Fatalf("readyz body %q: %v", rec.Body.String(), err)
	}
	return rec.Code, body
}

// The worker's /readyz answers 503 with the reason while its database
// cannot be written, and ready again once the database takes writes.
func TestWorkerReadyzNeedsWritableDatabase(t *testing.T) {
	for _, tc := range []struct {
		name string
		// unwritable makes the database refuse writes and returns the undo.
		unwritable func(t *testing.T, path string) func()
	}{
		{"file immutable", func(t *testing.T, path string) func() {
			chattr, err := exec.LookPath("chattr")
			if err != nil {
				t.Skip("no chattr")
			}
			files := []string{path, path + "-wal"}
			if out, err := exec.Command(chattr, append([]string{"+i"}, files...)...).CombinedOutput(); err != nil {
				t.Skipf("chattr +i not possible here: %v %s", err, out)
			}
			undo := func() { _ = exec.Command(chattr, append([]string{"-i"}, files...)...).Run() }
			t.Cleanup(undo)
			return undo
		}},
		{"write lock held by another process", func(t *testing.T, path string) func() {
			other, err := sql.Open("sqlite", "file:"+path+"?_txlock=immediate")
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { other.Close() })
			tx, err := other.BeginTx(t.Context(), nil)
			if err != nil {
				t.Fatal(err)
			}
			return func() { _ = tx.Rollback() }
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "payflow.db")
			if _, err := store.Migrate(t.Context(), path); err != nil {
				t.Fatal(err)
			}
			st, err := store.Open(t.Context(), path)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { st.Close() })
			mux := workerMux(prometheus.NewRegistry(), readiness(healthyTemporal{}, st))

			if code, body := readyz(t, mux); code != http.StatusOK || body["status"] != "ready" {
				t.Fatalf("writable database: %d %v, want 200 ready", code, body)
			}
			undo := tc.unwritable(t, path)
			code, body := readyz(t, mux)
			if code != http.StatusServiceUnavailable || body["status"] != "not ready" || !strings.HasPrefix(body["reason"], "database:") {
				t.Errorf("unwritable database: %d %v, want 503 not ready with a database reason", code, body)
			}
			if err := st.Ping(t.Context()); err != nil {
				t.Errorf("Ping: %v (the database still answers; only a write shows the fault)", err)
			}
			undo()
			if code, body := readyz(t, mux); code != http.StatusOK {
				t.Errorf("writable again: %d %v, want 200", code, body)
			}
		})
	}
}
