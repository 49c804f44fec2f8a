// Package temporal carries payflow's Temporal cluster configuration, the
// files beside it, into the Go programs that run the cluster
// (internal/cluster, `make cluster`): cluster.yaml, the server's config
// template, and dynamicconfig.yaml. The files are the source; this package
// only embeds them, so a binary always runs the configuration it was built
// with.
package temporal

import _ "embed"

// ServerVersion is the Temporal server (go.temporal.io/server) the
// configuration is written for; the Makefile pins the same version
// (TEMPORAL_SERVER_VERSION), which internal/cluster's test checks.
const ServerVersion = "v1.29.1"

// Config is cluster.yaml: the server's configuration, a template the server
// renders itself from PAYFLOW_CLUSTER_* variables. The server reads it as
// <config dir>/<env>.yaml, so it must be written as ConfigEnv + ".yaml".
//
//go:embed cluster.yaml
var Config []byte

// ConfigEnv is the server's --env under which it finds Config.
const ConfigEnv = "cluster"

// DynamicConfig is dynamicconfig.yaml.
//
//go:embed dynamicconfig.yaml
var DynamicConfig []byte
