package config

import (
	"fmt"
	"io"
	"maps"
	"os"
	"slices"
	"strings"

	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/contrib/envconfig"
)

// TemporalConnection is where payflow's Temporal clients connect and where
// each part of that came from. ResolveTemporal makes it; every client
// payflow makes (serve, worker, dev, migrate, inspect, reconcile,
// quarantine, the operator commands) starts from its Options, and
// `payflow config` prints it, so what is printed is what is dialled.
type TemporalConnection struct {
	// Options is the connection part of the client options: HostPort,
	// Namespace, Credentials (the API key), ConnectionOptions (TLS,
	// authority) and HeadersProvider (gRPC metadata). Callers add the data
	// converter, logger, metrics handler and interceptors.
	Options client.Options

	// Where the address, namespace, TLS settings and API key came from:
	// "env TEMPORAL_ADDRESS", `profile "prod" in /path/temporal.toml`,
	// "payflow default", …; TLSFrom and APIKeyFrom are "" when nothing set
	// them.
	AddressFrom, NamespaceFrom, TLSFrom, APIKeyFrom string

	// ConfigFile is the Temporal profile file envconfig reads
	// (TEMPORAL_CONFIG_FILE, else <user config dir>/temporalio/temporal.toml);
	// FileFound tells whether it exists. Profile is the profile used
	// (TEMPORAL_PROFILE, else "default"); ProfileFound whether the file has
	// it.
	ConfigFile   string
	FileFound    bool
	Profile      string
	ProfileFound bool

	apiKey   bool
	grpcMeta []string // header names only: values may be credentials
}

// Address is the host:port dialled.
func (t TemporalConnection) Address() string { return t.Options.HostPort }

// Namespace is the namespace every call names, search attribute
// registration included.
func (t TemporalConnection) Namespace() string { return t.Options.Namespace }

// TLS tells whether the connection uses TLS: a TLS configuration, or an
// API key (which turns TLS on unless it is disabled, as the SDK does).
func (t TemporalConnection) TLS() bool {
	co := t.Options.ConnectionOptions
	return !co.TLSDisabled && (co.TLS != nil || t.Options.Credentials != nil)
}

// ClientCert tells whether a client certificate (mTLS) is presented.
func (t TemporalConnection) ClientCert() bool {
	tc := t.Options.ConnectionOptions.TLS
	return t.TLS() && tc != nil && len(tc.Certificates) > 0
}

// ServerName is the TLS server name (SNI) override, "" when none.
func (t TemporalConnection) ServerName() string {
	if tc := t.Options.ConnectionOptions.TLS; t.TLS() && tc != nil {
		return tc.ServerName
	}
	return ""
}

// APIKey tells whether an API key is sent (never what it is).
func (t TemporalConnection) APIKey() bool { return t.apiKey }

// envSource names an environment variable as a source.
func envSource(name string) string { return "env " + name }

// PayflowDefault is the source of a value neither Temporal's environment
// nor a profile sets: payflow's own default (TEMPORAL_ADDRESS and
// TEMPORAL_NAMESPACE of Vars).
const PayflowDefault = "payflow default"

func (t TemporalConnection) profileSource() string {
	return fmt.Sprintf("profile %q in %s", t.Profile, t.ConfigFile)
}

// tlsEnvVars are the variables envconfig's ApplyEnvVars reads into the
// profile's TLS section (envconfig v1.0.2). TEMPORAL_TLS and
// TEMPORAL_TLS_DISABLE_HOST_VERIFICATION count only when they read as a
// boolean; the others whenever they are set, even empty.
var tlsEnvVars = []string{
	"TEMPORAL_TLS",
	"TEMPORAL_TLS_CLIENT_CERT_PATH", "TEMPORAL_TLS_CLIENT_CERT_DATA",
	"TEMPORAL_TLS_CLIENT_KEY_PATH", "TEMPORAL_TLS_CLIENT_KEY_DATA",
	"TEMPORAL_TLS_SERVER_CA_CERT_PATH", "TEMPORAL_TLS_SERVER_CA_CERT_DATA",
	"TEMPORAL_TLS_SERVER_NAME", "TEMPORAL_TLS_DISABLE_HOST_VERIFICATION",
}

// envBool is envconfig's envVarToBool: 1, 0, true, false in any case.
func envBool(v string) bool {
	switch strings.ToLower(v) {
	case "1", "0", "true", "false":
		return true
	}
	return false
}

// ResolveTemporal works out the Temporal connection: Temporal's own client
// configuration, read by the SDK's envconfig exactly as
// envconfig.LoadDefaultClientOptions reads it (the profile file, then every
// TEMPORAL_* variable that is set — even set empty — over the profile's
// value), and payflow's defaults (c.TemporalAddress, c.TemporalNamespace)
// for an address or namespace still empty after that. env is the
// environment (envconfig.EnvLookupOS in production).
func ResolveTemporal(c Config, env envconfig.EnvLookup) (TemporalConnection, error) {
	if env == nil {
		env = envconfig.EnvLookupOS
	}
	var t TemporalConnection
	// The file and the profile, chosen as envconfig.LoadClientConfig and
	// LoadClientConfigProfile choose them: set-but-empty counts as unset
	// for these two.
	t.ConfigFile, _ = env.LookupEnv("TEMPORAL_CONFIG_FILE")
	if t.ConfigFile == "" {
		t.ConfigFile = envconfig.DefaultConfigFilePath()
	}
	t.Profile, _ = env.LookupEnv("TEMPORAL_PROFILE")
	if t.Profile == "" {
		t.Profile = envconfig.DefaultConfigFileProfile
	}
	if t.ConfigFile != "" {
		if st, err := os.Stat(t.ConfigFile); err == nil && !st.IsDir() {
			t.FileFound = true
		}
	}
	where := fmt.Sprintf("profile %q of %s", t.Profile, t.ConfigFile)
	file, err := envconfig.LoadClientConfig(envconfig.LoadClientConfigOptions{ConfigFilePath: t.ConfigFile, EnvLookup: env})
	if err != nil {
		return t, fmt.Errorf("temporal client configuration (%s): %w", where, err)
	}
	fp := file.Profiles[t.Profile]
	t.ProfileFound = fp != nil
	if fp == nil {
		fp = &envconfig.ClientConfigProfile{}
	}
	// The SDK's own merge of file and environment, and its conversion to
	// client options: nothing here re-implements either.
	prof, err := envconfig.LoadClientConfigProfile(envconfig.LoadClientConfigProfileOptions{ConfigFilePath: t.ConfigFile, EnvLookup: env})
	if err != nil {
		return t, fmt.Errorf("temporal client configuration (%s): %w", where, err)
	}
	opts, err := prof.ToClientOptions(envconfig.ToClientOptionsRequest{})
	if err != nil {
		return t, fmt.Errorf("temporal client configuration (%s): %w", where, err)
	}

	// from is the source of a value envconfig read: the variable when it is
	// set (ApplyEnvVars overrides the profile with any set variable), the
	// profile when it has the value, else "".
	from := func(name string, inFile bool) string {
		if _, ok := env.LookupEnv(name); ok {
			return envSource(name)
		}
		if inFile {
			return t.profileSource()
		}
		return ""
	}
	orDefault := func(value *string, def, name, src string) string {
		if *value != "" {
			return src
		}
		*value = def
		if v, ok := env.LookupEnv(name); ok && v == "" {
			return PayflowDefault + " (" + name + " is set but empty: it overrides any profile value with nothing)"
		}
		return PayflowDefault
	}
	t.AddressFrom = orDefault(&opts.HostPort, c.TemporalAddress, "TEMPORAL_ADDRESS", from("TEMPORAL_ADDRESS", fp.Address != ""))
	t.NamespaceFrom = orDefault(&opts.Namespace, c.TemporalNamespace, "TEMPORAL_NAMESPACE", from("TEMPORAL_NAMESPACE", fp.Namespace != ""))

	t.apiKey = prof.APIKey != ""
	if t.apiKey {
		t.APIKeyFrom = from("TEMPORAL_API_KEY", fp.APIKey != "")
	}

	var tlsFrom []string
	if fp.TLS != nil {
		tlsFrom = append(tlsFrom, t.profileSource())
	}
	for _, name := range tlsEnvVars {
		v, ok := env.LookupEnv(name)
		if ok && (envBool(v) || (name != "TEMPORAL_TLS" && name != "TEMPORAL_TLS_DISABLE_HOST_VERIFICATION")) {
			tlsFrom = append(tlsFrom, envSource(name))
		}
	}
	switch {
	case len(tlsFrom) > 0:
		t.TLSFrom = strings.Join(tlsFrom, ", ")
	case t.apiKey:
		t.TLSFrom = "the API key"
	}
	t.grpcMeta = slices.Sorted(maps.Keys(prof.GRPCMeta))
	t.Options = opts
	return t, nil
}

// tlsString describes the TLS of the connection without secrets.
func (t TemporalConnection) tlsString() string {
	if !t.TLS() {
		return "off"
	}
	parts := []string{"on"}
	if t.ClientCert() {
		parts = append(parts, "client certificate (mTLS)")
	} else {
		parts = append(parts, "no client certificate")
	}
	if tc := t.Options.ConnectionOptions.TLS; tc != nil {
		if tc.ServerName != "" {
			parts = append(parts, "server name "+tc.ServerName)
		}
		if tc.RootCAs != nil {
			parts = append(parts, "server CA from the configuration")
		}
		if tc.InsecureSkipVerify {
			parts = append(parts, "HOST VERIFICATION OFF")
		}
	}
	return strings.Join(parts, ", ")
}

// PrintTemporal writes the connection: what is dialled and where each
// part came from. No secret is printed: the API key and gRPC metadata
// values show only as present.
func (t TemporalConnection) PrintTemporal(w io.Writer) {
	row := func(name, value, from string) {
		if from != "" {
			value = fmt.Sprintf("%-26s (from %s)", value, from)
		}
		fmt.Fprintf(w, "  %-12s %s\n", name, value)
	}
	fmt.Fprintln(w, "\nTemporal connection (every payflow command connects here):")
	row("address", t.Address(), t.AddressFrom)
	row("namespace", t.Namespace(), t.NamespaceFrom)
	if t.TLSFrom == "" {
		row("TLS", t.tlsString()+" (no TLS setting, no API key)", "")
	} else {
		row("TLS", t.tlsString(), t.TLSFrom)
	}
	if t.APIKey() {
		row("API key", "set", t.APIKeyFrom)
	} else {
		row("API key", "none", "")
	}
	if a := t.Options.ConnectionOptions.Authority; a != "" {
		row("authority", a, "")
	}
	if len(t.grpcMeta) > 0 {
		row("gRPC meta", strings.Join(t.grpcMeta, ",")+" (values not shown)", "")
	}
	switch {
	case t.ConfigFile == "":
		row("profile", "none (no user configuration directory; TEMPORAL_CONFIG_FILE unset)", "")
	case !t.FileFound:
		row("profile", fmt.Sprintf("none (no file at %s)", t.ConfigFile), "")
	case !t.ProfileFound:
		row("profile", fmt.Sprintf("none (%s has no profile %q)", t.ConfigFile, t.Profile), "")
	default:
		row("profile", fmt.Sprintf("%q in %s", t.Profile, t.ConfigFile), "")
	}
}

// temporalAddress is TEMPORAL_ADDRESS as `payflow config` prints it: what
// is dialled once the connection is resolved (its source is in the
// Temporal connection section).
func (c Config) temporalAddress() string {
	if c.Temporal == nil {
		return c.TemporalAddress
	}
	return c.Temporal.Address()
}

// temporalNamespace is TEMPORAL_NAMESPACE as `payflow config` prints it.
func (c Config) temporalNamespace() string {
	if c.Temporal == nil {
		return c.TemporalNamespace
	}
	return c.Temporal.Namespace()
}
