package cluster

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	deploytemporal "github.com/payflow/payflow/deploy/temporal"
	"github.com/payflow/payflow/routing"
)

// The Makefile builds the server version the configuration is written for.
func TestClusterServerVersionPinned(t *testing.T) {
	b, err := os.ReadFile("../../Makefile")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^TEMPORAL_SERVER_VERSION := (\S+)$`).FindSubmatch(b)
	if m == nil || string(m[1]) != deploytemporal.ServerVersion {
		t.Fatalf("Makefile pins TEMPORAL_SERVER_VERSION %q, deploy/temporal says %s", m, deploytemporal.ServerVersion)
	}
}

// The attributes the cluster registers are payflow's.
func TestClusterSearchAttributes(t *testing.T) {
	if !slices.Equal(SearchAttributes, routing.SearchAttributeNames()) {
		t.Fatalf("cluster registers %v, routing names %v", SearchAttributes, routing.SearchAttributeNames())
	}
}

func TestClusterPorts(t *testing.T) {
	p := portsFor(10000, 1)
	if p.grpc["frontend"] != 17233 || p.http != 17243 || p.grpc["history"] != 17234 || p.grpc["matching"] != 17235 ||
		p.grpc["worker"] != 17239 || p.membership["frontend"] != 16933 || p.metrics["history"] != 18000 {
		t.Fatalf("offset 10000: %+v", p)
	}
	// The highest offset freeOffset may pick keeps every port out of the
	// ephemeral range.
	last := firstOffset
	for off := firstOffset; offsetFits(off); off += offsetStep {
		last = off
	}
	for _, port := range portsFor(last, MaxHistoryHosts).all(true) {
		if port >= ephemeralStart {
			t.Errorf("offset %d: port %d in the ephemeral range", last, port)
		}
	}
	// Extra history hosts: ports of their own, none shared with another
	// process, and none reaching into the next offset's.
	p = portsFor(10000, MaxHistoryHosts)
	if h := p.of("history", 1); h.grpc != 17251 || h.membership != 16951 || h.metrics != 18011 {
		t.Errorf("history host 1: %+v", h)
	}
	if h := p.of("history", 0); h.grpc != 17234 || h.membership != 16934 || h.metrics != 18000 {
		t.Errorf("history host 0: %+v", h)
	}
	seen := map[int]bool{}
	for _, port := range p.all(true) {
		if seen[port] {
			t.Errorf("port %d given twice", port)
		}
		seen[port] = true
	}
	next := portsFor(10000+offsetStep, MaxHistoryHosts)
	for _, port := range next.all(true) {
		if seen[port] {
			t.Errorf("port %d of offset %d is also offset %d's", port, 10000+offsetStep, 10000)
		}
	}
}

func serverBin(t *testing.T) string {
	t.Helper()
	bin := toolPath("PAYFLOW_TEMPORAL_SERVER_BIN", "temporal-server")
	if _, err := os.Stat(bin); err != nil {
		if os.Getenv("PAYFLOW_TEST_CLUSTER") == "1" {
			t.Fatalf("no Temporal server: %v (make cluster-tools)", err)
		}
		t.Skipf("no Temporal server at %s (make cluster-tools)", bin)
	}
	return bin
}

// The server renders deploy/temporal/cluster.yaml as internal/cluster
// starts it, and with no variable at all as `make cluster`'s defaults.
func TestClusterConfigRenders(t *testing.T) {
	bin := serverBin(t)
	o := Options{Dir: t.TempDir(), PortOffset: 12300, PGHost: "127.0.0.1", PGPort: 5433, PGUser: "u", PGPassword: "pw",
		Database: "payflow_temporal_x", VisibilityDatabase: "payflow_temporal_x_visibility", Shards: 8, LogLevel: "info", DBMaxConns: 7, Metrics: true}
	dir, err := writeConfig(&o)
	if err != nil {
		t.Fatal(err)
	}
	render := func(env []string) string {
		t.Helper()
		args := serverArgs(dir, "history")
		args = args[:len(args)-3] // … start --service history → … render-config
		cmd := exec.Command(bin, append(args, "render-config")...)
		cmd.Env = env
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("render-config: %v\n%s", err, out)
		}
		return string(out)
	}
	got := render(serverEnv(&o, dir, "history", 0))
	for _, want := range []string{
		"numHistoryShards: 8", "databaseName: payflow_temporal_x\n", "databaseName: payflow_temporal_x_visibility",
		"connectAddr: 127.0.0.1:5433", "user: u", "maxConns: 7",
		"grpcPort: 19533", "grpcPort: 19534", "grpcPort: 19535", "grpcPort: 19539", "membershipPort: 19233", "httpPort: 19543",
		"rpcAddress: 127.0.0.1:19533", "listenAddress: 127.0.0.1:20300", // history: metrics 8000+offset+0
		"level: info", filepath.Join(dir, "dynamicconfig.yaml"),
	} {
		if !strings.Contains(got, want) {
			t.Errorf("rendered config lacks %q:\n%s", want, got)
		}
	}
	// A second history host: the same configuration on its own ports.
	o.HistoryHosts = 2
	second := render(serverEnv(&o, dir, "history", 1))
	for _, want := range []string{"grpcPort: 19551", "membershipPort: 19251", "listenAddress: 127.0.0.1:20311", "grpcPort: 19533"} {
		if !strings.Contains(second, want) {
			t.Errorf("second history host's config lacks %q:\n%s", want, second)
		}
	}
	if strings.Contains(second, "grpcPort: 19534") {
		t.Errorf("second history host's config keeps the first's gRPC port:\n%s", second)
	}
	def := render(cleanEnv())
	for _, want := range []string{"numHistoryShards: 4", "databaseName: payflow_temporal\n", "databaseName: payflow_temporal_visibility",
		"connectAddr: 127.0.0.1:5432", "user: postgres", "grpcPort: 17233", "membershipPort: 16939", "rpcAddress: 127.0.0.1:17233",
		"level: warn", "deploy/temporal/dynamicconfig.yaml"} {
		if !strings.Contains(def, want) {
			t.Errorf("config without variables lacks %q:\n%s", want, def)
		}
	}
	if strings.Contains(def, "listenAddress") {
		t.Errorf("config without PAYFLOW_CLUSTER_METRICS_PORT serves metrics:\n%s", def)
	}

	out, err := exec.Command(bin, "validate-dynamic-config", filepath.Join(dir, "dynamicconfig.yaml")).CombinedOutput()
	// It exits 0 on an unregistered key too, and says "warning".
	if low := strings.ToLower(string(out)); err != nil || strings.Contains(low, "warning") || strings.Contains(low, "error") {
		t.Errorf("validate-dynamic-config: %v\n%s", err, out)
	}
}
