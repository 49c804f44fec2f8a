package cluster

import (
	"fmt"
	"net"
	"strconv"
)

// Temporal's default ports, to which a cluster adds its offset (the same
// arithmetic as deploy/temporal/cluster.yaml).
var (
	defaultGRPC       = map[string]int{"frontend": 7233, "history": 7234, "matching": 7235, "worker": 7239}
	defaultMembership = map[string]int{"frontend": 6933, "history": 6934, "matching": 6935, "worker": 6939}
)

const (
	defaultHTTP    = 7243
	defaultMetrics = 8000 // + the service's index in Services

	// History hosts beyond the first (Options.HistoryHosts): host i (1, 2,
	// …) listens on these + i, plus the offset.
	extraHistoryGRPC       = 7250
	extraHistoryMembership = 6950
	extraHistoryMetrics    = 8010
	// MaxHistoryHosts bounds Options.HistoryHosts (the ports above leave
	// room for this many).
	MaxHistoryHosts = 8

	firstOffset = 10000
	offsetStep  = 100
	// ephemeralStart is where Linux's ephemeral ports begin
	// (net.ipv4.ip_local_port_range): a port above it may be taken at any
	// moment by an outgoing connection, so no cluster port goes there.
	ephemeralStart = 32768
)

type ports struct {
	grpc, membership map[string]int
	http             int
	metrics          map[string]int
	// history are the ports of history hosts 1, 2, … (host 0's are in the
	// maps above).
	history []hostPorts
}

type hostPorts struct{ grpc, membership, metrics int }

func portsFor(offset, historyHosts int) ports {
	p := ports{grpc: map[string]int{}, membership: map[string]int{}, metrics: map[string]int{}, http: defaultHTTP + offset}
	for i, svc := range Services {
		p.grpc[svc] = defaultGRPC[svc] + offset
		p.membership[svc] = defaultMembership[svc] + offset
		p.metrics[svc] = defaultMetrics + offset + i
	}
	for i := 1; i < historyHosts; i++ {
		p.history = append(p.history, hostPorts{extraHistoryGRPC + offset + i, extraHistoryMembership + offset + i, extraHistoryMetrics + offset + i})
	}
	return p
}

// of is the gRPC, membership and metrics port of one process.
func (p ports) of(service string, instance int) hostPorts {
	if service == "history" && instance > 0 {
		return p.history[instance-1]
	}
	return hostPorts{p.grpc[service], p.membership[service], p.metrics[service]}
}

func (p ports) all(metrics bool) []int {
	out := []int{p.http}
	for _, svc := range Services {
		out = append(out, p.grpc[svc], p.membership[svc])
		if metrics {
			out = append(out, p.metrics[svc])
		}
	}
	for _, h := range p.history {
		out = append(out, h.grpc, h.membership)
		if metrics {
			out = append(out, h.metrics)
		}
	}
	return out
}

// checkOffset says whether every port of the offset is below the ephemeral
// range and free on 127.0.0.1 now.
func checkOffset(offset, historyHosts int, metrics bool) error {
	for _, port := range portsFor(offset, historyHosts).all(metrics) {
		if port <= 1024 || port >= ephemeralStart {
			return fmt.Errorf("cluster: port offset %d puts port %d outside 1025–%d", offset, port, ephemeralStart-1)
		}
		l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
		if err != nil {
			return fmt.Errorf("cluster: port %d (offset %d) is taken: %w", port, offset, err)
		}
		l.Close()
	}
	return nil
}

// offsetFits says whether every port an offset can give (the highest is the
// last history host's metrics port) stays below the ephemeral range.
func offsetFits(off int) bool {
	return extraHistoryMetrics+MaxHistoryHosts+off < ephemeralStart
}

// freeOffset is the first offset from 10000 up whose ports are all free.
func freeOffset(historyHosts int, metrics bool) (int, error) {
	for off := firstOffset; offsetFits(off); off += offsetStep {
		if checkOffset(off, historyHosts, metrics) == nil {
			return off, nil
		}
	}
	return 0, fmt.Errorf("cluster: no free port offset between %d and the ephemeral range", firstOffset)
}
