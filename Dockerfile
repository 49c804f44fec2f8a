# syntax=docker/dockerfile:1
#
# payflow: one static binary (serve, worker, migrate, ...) on distroless.
#
#   docker build -t payflow .
#   docker run --rm payflow --help
#
# docker-compose.yml runs the receiver, the worker and the one-shot migration
# from this image; deploy/compose_test.go checks the two stay in step.

# The official golang images set GOTOOLCHAIN=local, so this image's Go must
# be at least go.mod's `go` line (1.26.8): the 1.26 tag tracks the latest
# 1.26.x patch.
ARG GO_IMAGE=golang:1.26-bookworm

FROM ${GO_IMAGE} AS build
WORKDIR /src
# Modules first, in their own layer: source edits do not download them again.
COPY go.mod go.sum ./
RUN go mod download && go mod verify
COPY . .
# modernc.org/sqlite and pgx are pure Go, so the binary needs no libc.
RUN --mount=type=cache,target=/root/.cache/go-build \
    CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o /out/payflow ./cmd/payflow

# static: no shell or package manager, CA certificates and tzdata included;
# :nonroot runs as uid 65532.
FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/payflow /payflow
USER nonroot:nonroot
# Writable home of the nonroot user: the default SQLite DATABASE_URL
# (./.payflow/payflow.db) works without a volume for a quick try.
WORKDIR /home/nonroot
# 4242: receiver (PAYFLOW_ADDR). 9464: worker /metrics, /healthz, /readyz
# (PAYFLOW_METRICS_ADDR).
EXPOSE 4242 9464
ENTRYPOINT ["/payflow"]
CMD ["serve"]
