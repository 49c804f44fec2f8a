package config

import (
	"bytes"
	"strings"
	"testing"
)

// Traces are off unless asked for; on with an OTLP endpoint or
// OTEL_TRACES_EXPORTER=otlp; none and OTEL_SDK_DISABLED win. The protocol
// and endpoint follow the OpenTelemetry specification's precedence.
func TestTracingFromEnv(t *testing.T) {
	cases := []struct {
		name             string
		env              map[string]string
		on               bool
		protocol, target string
	}{
		{"default: off", nil, false, ProtocolHTTP, "http://localhost:4318/v1/traces"},
		{"endpoint turns it on", map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"}, true, ProtocolHTTP, "http://collector:4318/v1/traces"},
		{"per-signal endpoint as is", map[string]string{"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "https://otlp.example.com/custom/traces",
			"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"}, true, ProtocolHTTP, "https://otlp.example.com/custom/traces"},
		{"grpc", map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4317", "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"}, true, ProtocolGRPC, "http://collector:4317"},
		{"per-signal protocol wins", map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4317", "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
			"OTEL_EXPORTER_OTLP_TRACES_PROTOCOL": "grpc"}, true, ProtocolGRPC, "http://collector:4317"},
		{"exporter otlp alone: the exporter's default endpoint", map[string]string{"OTEL_TRACES_EXPORTER": "otlp"}, true, ProtocolHTTP, "http://localhost:4318/v1/traces"},
		{"none wins over an endpoint", map[string]string{"OTEL_TRACES_EXPORTER": "none", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"}, false, ProtocolHTTP, ""},
		{"SDK disabled wins", map[string]string{"OTEL_SDK_DISABLED": "true", "OTEL_TRACES_EXPORTER": "otlp"}, false, ProtocolHTTP, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, err := Load(env(tc.env))
			if err != nil {
				t.Fatal(err)
			}
			tr := c.Tracing
			if tr.On != tc.on || tr.Protocol != tc.protocol || (tc.target != "" && tr.Endpoint != tc.target) {
				t.Errorf("on %v protocol %s endpoint %s (%s), want %v %s %s", tr.On, tr.Protocol, tr.Endpoint, tr.Why, tc.on, tc.protocol, tc.target)
			}
			if tr.ServiceName != DefaultServiceName {
				t.Errorf("service name %q", tr.ServiceName)
			}
		})
	}
	c, err := Load(env(map[string]string{"OTEL_RESOURCE_ATTRIBUTES": "deployment.environment.name=prod,service.name=billing%20api"}))
	if err != nil || c.Tracing.ServiceName != "billing api" {
		t.Errorf("service.name from OTEL_RESOURCE_ATTRIBUTES: %q %v", c.Tracing.ServiceName, err)
	}
	c, err = Load(env(map[string]string{"OTEL_SERVICE_NAME": "payflow-eu", "OTEL_RESOURCE_ATTRIBUTES": "service.name=x"}))
	if err != nil || c.Tracing.ServiceName != "payflow-eu" {
		t.Errorf("OTEL_SERVICE_NAME: %q %v", c.Tracing.ServiceName, err)
	}
}

func TestTracingValidationNamesTheVariable(t *testing.T) {
	for name, kv := range map[string]map[string]string{
		"OTEL_TRACES_EXPORTER":               {"OTEL_TRACES_EXPORTER": "zipkin"},
		"OTEL_EXPORTER_OTLP_PROTOCOL":        {"OTEL_EXPORTER_OTLP_PROTOCOL": "http/json"},
		"OTEL_EXPORTER_OTLP_TRACES_PROTOCOL": {"OTEL_EXPORTER_OTLP_TRACES_PROTOCOL": "udp"},
		"OTEL_EXPORTER_OTLP_ENDPOINT":        {"OTEL_EXPORTER_OTLP_ENDPOINT": "collector:4317"},
		"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": {"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "ftp://collector/v1/traces"},
		"OTEL_TRACES_SAMPLER":                {"OTEL_TRACES_SAMPLER": "sometimes"},
		"OTEL_TRACES_SAMPLER_ARG":            {"OTEL_TRACES_SAMPLER": "traceidratio", "OTEL_TRACES_SAMPLER_ARG": "2"},
		"OTEL_SDK_DISABLED":                  {"OTEL_SDK_DISABLED": "yes"},
	} {
		if _, err := Load(env(kv)); err == nil || !strings.Contains(err.Error(), name) {
			t.Errorf("%v: error %v does not name %s", kv, err, name)
		}
	}
}

// payflow config shows whether traces go out and where, never the
// exporter's headers (they carry vendors' API keys).
func TestTracingPrinted(t *testing.T) {
	c, err := Load(env(map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318",
		"OTEL_EXPORTER_OTLP_HEADERS": "x-honeycomb-team=sekrit-team-key"}))
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	c.Print(&b)
	out := b.String()
	for _, want := range []string{"OTEL_EXPORTER_OTLP_ENDPOINT  http://collector:4318\n", "OTEL_EXPORTER_OTLP_HEADERS   (set)\n",
		"Traces: on (OTEL_EXPORTER_OTLP_ENDPOINT is set): OTLP http/protobuf to http://collector:4318/v1/traces, service.name payflow"} {
		if !strings.Contains(out, want) {
			t.Errorf("payflow config lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "sekrit") {
		t.Errorf("payflow config prints the OTLP headers:\n%s", out)
	}
}
