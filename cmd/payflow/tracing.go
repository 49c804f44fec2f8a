package main

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
	temporalotel "go.temporal.io/sdk/contrib/opentelemetry"
	"go.temporal.io/sdk/interceptor"
	sdklog "go.temporal.io/sdk/log"

	"github.com/payflow/payflow/config"
	"github.com/payflow/payflow/internal/tracelog"
)

// receiverTracerName names the tracer of the webhook requests' spans.
const receiverTracerName = "github.com/payflow/payflow/webhook"

// startTracing exports the process's spans over OTLP when cfg.Tracing is
// on (config/tracing.go): it installs the tracer provider and the W3C
// propagators as OpenTelemetry's globals (the receiver's tracer and
// Temporal's interceptor take theirs from them) and returns the function
// that flushes what is buffered, to call on the way out. Off: nothing is
// installed and stop does nothing. process (serve, worker, dev) becomes
// the payflow.process resource attribute.
func startTracing(ctx context.Context, cfg config.Config, process string, log *slog.Logger) (stop func(), err error) {
	if !cfg.Tracing.On {
		return func() {}, nil
	}
	exp, err := newSpanExporter(ctx, cfg.Tracing)
	if err != nil {
		return nil, err
	}
	tp, err := newTracerProvider(ctx, process, sdktrace.WithBatcher(exp))
	if err != nil {
		return nil, err
	}
	installTracing(tp)
	otel.SetErrorHandler(otel.ErrorHandlerFunc(func(err error) {
		// An export that failed (collector down): the batch is dropped,
		// the process goes on.
		log.Warn("trace export failed", "error", err)
	}))
	log.Info("exporting traces", "protocol", cfg.Tracing.Protocol, "endpoint", cfg.Tracing.Endpoint,
		"service", cfg.Tracing.ServiceName, "because", cfg.Tracing.Why)
	return func() {
		// What the batcher holds is sent before the process exits.
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := tp.Shutdown(sctx); err != nil {
			log.Warn("flushing traces on shutdown", "error", err)
		}
	}, nil
}

// installTracing makes tp and the W3C trace-context and baggage
// propagators OpenTelemetry's globals.
func installTracing(tp trace.TracerProvider) {
	otel.SetTracerProvider(tp)
	otel.SetTextMapPropagator(propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{}))
}

// newSpanExporter is the OTLP exporter of t.Protocol. Both read the
// standard OTEL_EXPORTER_OTLP_* variables themselves (endpoint, headers,
// certificates, timeout, compression, insecure), per signal or not.
func newSpanExporter(ctx context.Context, t config.Tracing) (sdktrace.SpanExporter, error) {
	var (
		exp sdktrace.SpanExporter
		err error
	)
	switch t.Protocol {
	case config.ProtocolGRPC:
		exp, err = otlptracegrpc.New(ctx)
	default:
		exp, err = otlptracehttp.New(ctx)
	}
	if err != nil {
		return nil, fmt.Errorf("OTLP trace exporter (%s, %s): %w", t.Protocol, t.Endpoint, err)
	}
	return exp, nil
}

// newTracerProvider makes the provider with payflow's resource:
// service.name payflow unless OTEL_SERVICE_NAME or OTEL_RESOURCE_ATTRIBUTES
// say otherwise, payflow.process, host and SDK attributes. The sampler
// follows OTEL_TRACES_SAMPLER (default parent-based, always on).
func newTracerProvider(ctx context.Context, process string, opts ...sdktrace.TracerProviderOption) (*sdktrace.TracerProvider, error) {
	res, err := resource.New(ctx,
		resource.WithTelemetrySDK(),
		resource.WithHost(),
		resource.WithAttributes(attribute.String("service.name", config.DefaultServiceName), attribute.String("payflow.process", process)),
		resource.WithFromEnv(), // last: OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES win
	)
	if err != nil {
		return nil, fmt.Errorf("trace resource (OTEL_RESOURCE_ATTRIBUTES, OTEL_SERVICE_NAME): %w", err)
	}
	return sdktrace.NewTracerProvider(append([]sdktrace.TracerProviderOption{sdktrace.WithResource(res)}, opts...)...), nil
}

// tracingInterceptor is Temporal's OpenTelemetry interceptor on the global
// tracer provider. On a client it traces the client's calls and writes the
// span into the request's Temporal header (SignalWithStartWorkflow:…);
// a worker made from that client runs it too (RunWorkflow:…,
// HandleSignal:…, StartActivity:…, RunActivity:…), each span the child of
// the one in the header, so a webhook's trace reaches every activity. It
// adds headers, never commands: histories replay with it or without it.
func tracingInterceptor() (interceptor.Interceptor, error) {
	t, err := temporalotel.NewTracer(temporalotel.TracerOptions{})
	if err != nil {
		return nil, fmt.Errorf("temporal tracing interceptor: %w", err)
	}
	return interceptor.NewTracingInterceptor(logKeys{t}), nil
}

// logKeys names the IDs on workflow and SDK log lines trace_id and span_id,
// as on every other payflow line (the contrib tracer says TraceID and
// SpanID).
type logKeys struct{ interceptor.Tracer }

func (t logKeys) GetLogger(logger sdklog.Logger, ref interceptor.TracerSpanRef) sdklog.Logger {
	span, ok := ref.(interface{ SpanContext() trace.SpanContext })
	if !ok || !span.SpanContext().IsValid() {
		return logger
	}
	sc := span.SpanContext()
	return sdklog.With(logger, tracelog.TraceIDKey, sc.TraceID().String(), tracelog.SpanIDKey, sc.SpanID().String())
}
