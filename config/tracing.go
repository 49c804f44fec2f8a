package config

import (
	"fmt"
	"net/url"
	"strconv"
	"strings"
)

// Tracing is whether serve, worker and dev export OpenTelemetry traces, and
// where: the standard OTEL_* variables, read as the OpenTelemetry
// specification defines them, with one difference: traces are off unless
// asked for (an OTLP endpoint, or OTEL_TRACES_EXPORTER=otlp), so a process
// without a collector does not retry exports to localhost forever.
//
// The OTLP exporters read the connection variables themselves (endpoint,
// headers, certificates, timeout, compression, insecure), the SDK reads the
// sampler and resource variables: Tracing decides on/off and the protocol,
// validates, and describes it for `payflow config`.
type Tracing struct {
	// On: export traces.
	On bool
	// Why says what turned traces on or off.
	Why string
	// Protocol is grpc or http/protobuf.
	Protocol string
	// Endpoint is where spans go, as the exporter derives it.
	Endpoint string
	// ServiceName is service.name of every span (OTEL_SERVICE_NAME, else
	// service.name of OTEL_RESOURCE_ATTRIBUTES, else "payflow").
	ServiceName string

	vars map[string]string // the OTEL_* variables as set, for Print
}

// OTLP protocols payflow's exporters speak (http/json is not implemented
// by OpenTelemetry Go's exporters).
const (
	ProtocolGRPC = "grpc"
	ProtocolHTTP = "http/protobuf"
)

// DefaultServiceName is service.name when neither OTEL_SERVICE_NAME nor
// OTEL_RESOURCE_ATTRIBUTES names one.
const DefaultServiceName = "payflow"

// tracingVars are the OTEL_* variables of Vars, those payflow documents
// and prints; the exporter and the SDK read more of the standard ones
// (README, Traces).
func tracingVars() []Var {
	var vs []Var
	for _, v := range Vars {
		if strings.HasPrefix(v.Name, "OTEL_") {
			vs = append(vs, v)
		}
	}
	return vs
}

var samplers = []string{"always_on", "always_off", "traceidratio", "parentbased_always_on", "parentbased_always_off", "parentbased_traceidratio"}

// loadTracing reads the OTEL_* variables through get (trimmed, with
// defaults).
func (c *Config) loadTracing(get func(name, def string) string) []error {
	var errs []error
	bad := func(name, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", name, fmt.Sprintf(format, args...)))
	}
	t := Tracing{vars: map[string]string{}}
	for _, v := range tracingVars() {
		t.vars[v.Name] = get(v.Name, "")
	}
	protoVar := "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL"
	t.Protocol = t.vars[protoVar]
	if t.Protocol == "" {
		protoVar = "OTEL_EXPORTER_OTLP_PROTOCOL"
		t.Protocol = t.vars[protoVar]
	}
	switch t.Protocol {
	case "":
		t.Protocol = ProtocolHTTP // the specification's default
	case ProtocolGRPC, ProtocolHTTP:
	case "http/json":
		bad(protoVar, "http/json is not supported by OpenTelemetry Go's exporter: use http/protobuf or grpc")
	default:
		bad(protoVar, "want grpc or http/protobuf, got %q", t.Protocol)
	}

	endpointVar := ""
	for _, name := range []string{"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_EXPORTER_OTLP_ENDPOINT"} {
		v := t.vars[name]
		if v == "" {
			continue
		}
		u, err := url.Parse(v)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			bad(name, "want an http:// or https:// URL such as http://otel-collector:4318, got %q", v)
			continue
		}
		if endpointVar == "" {
			endpointVar = name
			t.Endpoint = endpointURL(name, u, t.Protocol)
		}
	}
	if t.Endpoint == "" {
		t.Endpoint = "http://localhost:4318/v1/traces"
		if t.Protocol == ProtocolGRPC {
			t.Endpoint = "localhost:4317"
		}
	}

	exporter := strings.ToLower(t.vars["OTEL_TRACES_EXPORTER"])
	switch {
	case strings.EqualFold(t.vars["OTEL_SDK_DISABLED"], "true"):
		t.Why = "OTEL_SDK_DISABLED=true"
	case exporter == "none":
		t.Why = "OTEL_TRACES_EXPORTER=none"
	case exporter == "otlp":
		t.On, t.Why = true, "OTEL_TRACES_EXPORTER=otlp"
	case exporter != "":
		bad("OTEL_TRACES_EXPORTER", "want otlp or none (payflow exports over OTLP only), got %q", t.vars["OTEL_TRACES_EXPORTER"])
	case endpointVar != "":
		t.On, t.Why = true, endpointVar+" is set"
	default:
		t.Why = "off by default: set OTEL_EXPORTER_OTLP_ENDPOINT"
	}
	if v := t.vars["OTEL_SDK_DISABLED"]; v != "" && !strings.EqualFold(v, "true") && !strings.EqualFold(v, "false") {
		bad("OTEL_SDK_DISABLED", "want true or false, got %q", v)
	}

	if s := strings.ToLower(t.vars["OTEL_TRACES_SAMPLER"]); s != "" {
		known := false
		for _, k := range samplers {
			known = known || s == k
		}
		if !known {
			bad("OTEL_TRACES_SAMPLER", "want one of %s, got %q", strings.Join(samplers, ", "), t.vars["OTEL_TRACES_SAMPLER"])
		}
	}
	if a := t.vars["OTEL_TRACES_SAMPLER_ARG"]; a != "" && strings.HasSuffix(strings.ToLower(t.vars["OTEL_TRACES_SAMPLER"]), "traceidratio") {
		if r, err := strconv.ParseFloat(a, 64); err != nil || r < 0 || r > 1 {
			bad("OTEL_TRACES_SAMPLER_ARG", "want a ratio from 0 to 1, got %q", a)
		}
	}

	t.ServiceName = t.vars["OTEL_SERVICE_NAME"]
	if t.ServiceName == "" {
		t.ServiceName = resourceServiceName(t.vars["OTEL_RESOURCE_ATTRIBUTES"])
	}
	if t.ServiceName == "" {
		t.ServiceName = DefaultServiceName
	}
	c.Tracing = t
	return errs
}

// endpointURL is where the OTLP exporter sends spans for the endpoint
// variable name: a per-signal http URL is used as is, a base URL gets
// /v1/traces; gRPC dials host and path.
func endpointURL(name string, u *url.URL, protocol string) string {
	switch {
	case protocol == ProtocolGRPC:
		return u.Scheme + "://" + u.Host + u.Path
	case name == "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT":
		return u.String()
	}
	return u.Scheme + "://" + u.Host + strings.TrimRight(u.Path, "/") + "/v1/traces"
}

// resourceServiceName is service.name in an OTEL_RESOURCE_ATTRIBUTES list.
func resourceServiceName(attrs string) string {
	for _, kv := range strings.Split(attrs, ",") {
		k, v, ok := strings.Cut(kv, "=")
		if ok && strings.TrimSpace(k) == "service.name" {
			if d, err := url.QueryUnescape(strings.TrimSpace(v)); err == nil {
				return d
			}
			return strings.TrimSpace(v)
		}
	}
	return ""
}

// rows are the OTEL_* rows of `payflow config`.
func (t Tracing) rows() [][2]string {
	var rows [][2]string
	for _, v := range tracingVars() {
		value := t.vars[v.Name]
		switch {
		case v.Secret:
			value = isSet(value)
		case v.Name == "OTEL_EXPORTER_OTLP_PROTOCOL" && value == "":
			value = ProtocolHTTP
		case v.Name == "OTEL_SERVICE_NAME":
			value = t.ServiceName
		}
		rows = append(rows, [2]string{v.Name, value})
	}
	return rows
}

// Summary is one line for `payflow config`: on or off, why, and where
// spans go.
func (t Tracing) Summary() string {
	if !t.On {
		return "off (" + t.Why + ")"
	}
	return fmt.Sprintf("on (%s): OTLP %s to %s, service.name %s", t.Why, t.Protocol, t.Endpoint, t.ServiceName)
}
