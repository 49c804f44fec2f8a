// Package deploy holds no code: its test checks the container files at the
// repository root (Dockerfile, docker-compose.yml) against the payflow
// binary itself, and deploy/postgres-init.sql is mounted by the compose file.
// observability_test.go holds the Grafana dashboard (deploy/grafana) and the
// Prometheus rules (deploy/prometheus) to the metrics payflow exports.
package deploy
