// Package config reads payflow's settings from the environment, validates
// them with a message naming the bad variable, and prints them with secrets
// masked.
package config

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/payflow/payflow/billing"
	"github.com/payflow/payflow/codec"
	"github.com/payflow/payflow/internal/portallink"
	"github.com/payflow/payflow/internal/tracelog"
	"github.com/payflow/payflow/webhook"
)

// Var documents one environment variable.
type Var struct {
	Name, Default, Help string
	Secret              bool
}

// Vars is every variable payflow reads (besides Temporal's own TEMPORAL_*
// client variables, read by the SDK's envconfig). The README's table and
// the compose-file test are checked against it.
var Vars = []Var{
	{"STRIPE_WEBHOOK_SECRET", "(dev: generated)", "Webhook signing secret(s) `whsec_…`, comma-separated while rotating", true},
	{"STRIPE_API_KEY", "", "Stripe secret key for customer look-ups, dunning retries, cancellation, reconcile", true},
	{"STRIPE_API_BASE", "https://api.stripe.com", "Override Stripe's API URL (e.g. a local fake)", false},
	{"STRIPE_LIVEMODE", "(from STRIPE_API_KEY)", "Which events are processed: live, test or any; unset: live for sk_live_/rk_live_ keys, test for sk_test_/rk_test_, any without a key. Others are quarantined (livemode_mismatch)", false},
	{"STRIPE_ACCOUNTS", "", "Connected accounts whose events are processed: unset: the platform's own only; *: every connected account; or acct_… IDs, comma-separated. Others are quarantined (account_not_accepted)", false},
	{"SENDGRID_API_KEY", "", "SendGrid key; unset: emails stay in the local outbox table", true},
	{"SENDGRID_API_BASE", "https://api.sendgrid.com", "Override SendGrid's API URL", false},
	{"EMAIL_FROM", "payflow@example.com", "Sender address", false},
	{"EMAIL_BRAND_NAME", "", "Merchant name in customer emails: sender name, sign-off, footer", false},
	{"EMAIL_REPLY_TO", "", "Support address customer emails reply to and name", false},
	{"SENDGRID_TEMPLATES", "", "SendGrid dynamic templates per email purpose: purpose=d-…, comma-separated; those purposes are sent as template_id + dynamic_template_data", false},
	{"ALERT_EMAIL", "", "Operator address for dispute alerts and side effects refused for good", false},
	{"PAYFLOW_PUBLIC_URL", "", "Public base URL of the receiver (https://pay.example.com); with PAYFLOW_LINK_SECRET and STRIPE_BILLING_PORTAL_RETURN_URL, dunning emails link to the billing portal through it", false},
	{"PAYFLOW_LINK_SECRET", "", "HMAC-SHA256 key (at least 32 bytes) signing those billing portal links", true},
	{"STRIPE_BILLING_PORTAL_RETURN_URL", "", "Where Stripe's billing portal sends the customer back", false},
	{"STRIPE_BILLING_PORTAL_CONFIGURATION", "", "Portal configuration bpc_… (default: the account's default configuration)", false},
	{"PAYFLOW_PORTAL_LINK_TTL", "720h", "How long a billing portal link in an email works", false},
	{"DATABASE_URL", "./.payflow/payflow.db", "SQLite path or sqlite: URL, or postgres://…", true},
	{"TEMPORAL_ADDRESS", "localhost:7233", "Temporal frontend host:port (with TEMPORAL_TLS_*, TEMPORAL_API_KEY for Cloud)", false},
	{"TEMPORAL_NAMESPACE", "default", "Temporal namespace", false},
	{"TEMPORAL_TASK_QUEUE", "payflow", "Task queue of the worker", false},
	{"PAYFLOW_PAYLOAD_KEYS", "(dev: generated)", "Payload encryption keys `id:base64key` (32 bytes, AES-256-GCM), comma-separated, newest first: the first encrypts, every one decrypts. serve, worker, reconcile and quarantine replay refuse to start without it", true},
	{"PAYFLOW_PAYLOAD_ENCRYPTION", "on", "on; off runs without payload encryption on purpose (listed keys still decrypt)", false},
	{"PAYFLOW_CODEC_ADDR", "127.0.0.1:8234", "Listen address of payflow codec-server (the Web UI's and CLI's codec endpoint)", false},
	{"PAYFLOW_CODEC_CORS_ORIGIN", "(dev: the dev UI)", "Web UI origin(s) allowed to call the codec endpoints, comma-separated, e.g. https://cloud.temporal.io", false},
	{"PAYFLOW_CODEC_AUTH_TOKEN", "", "Token the codec endpoints require as Authorization: Bearer <token> (at least 16 characters)", true},
	{"PAYFLOW_ADDR", ":4242", "Receiver listen address", false},
	{"PAYFLOW_METRICS_ADDR", ":9464", "Operations listener of each process (serve, worker, dev): /metrics, /healthz, /readyz; /metrics is never on PAYFLOW_ADDR", false},
	{"WEBHOOK_TOLERANCE", "300s", "Signature timestamp tolerance (past); the future is allowed 30s of clock skew", false},
	{"WEBHOOK_MAX_BODY", "1048576", "Largest accepted body in bytes (413 above)", false},
	{"WEBHOOK_MAX_CONNECTIONS", "512", "Connections the receiver serves at once (503 above); with WEBHOOK_MAX_BODY it bounds the receiver's memory", false},
	{"PROVISIONING_WEBHOOK_URL", "", "Merchant app URL told of every access change", false},
	{"PROVISIONING_WEBHOOK_SECRET", "", "HMAC-SHA256 key for Payflow-Signature on those calls", true},
	{"DUNNING_MODE", "payflow", "payflow: payflow retries the charge; stripe: Stripe's Smart Retries do", false},
	{"DUNNING_RETRY_DELAYS", "72h,120h,168h", "Retry times counted from the failure (Go durations), for every decline category without a schedule of its own", false},
	{"DUNNING_SCHEDULE", "authentication_required=none", "Retry times per decline category (soft, insufficient_funds, authentication_required), e.g. insufficient_funds=96h,168h; soft=24h,72h,168h; none: no automatic retry, wait for the customer. Hard declines never retry", false},
	{"DUNNING_GRACE", "144h", "Time after the failure until access is suspended (before the last retry, so suspension and final action are apart)", false},
	{"DUNNING_FINAL_ACTION", "cancel", "After the last retry: cancel, unpaid or none", false},
	{"LOG_LEVEL", "info", "debug, info, warn or error", false},
	{"LOG_FORMAT", "json (dev: text)", "json or text", false},
	// OpenTelemetry traces (tracing.go); the exporter and the SDK read the
	// other standard OTEL_* variables themselves.
	{"OTEL_TRACES_EXPORTER", "(otlp when an endpoint is set)", "otlp: export traces over OTLP; none: no traces. Unset: traces are on when OTEL_EXPORTER_OTLP_ENDPOINT or OTEL_EXPORTER_OTLP_TRACES_ENDPOINT is set, off otherwise", false},
	{"OTEL_EXPORTER_OTLP_ENDPOINT", "", "OTLP collector base URL: http://otel-collector:4318 (http/protobuf; spans go to /v1/traces under it) or http://otel-collector:4317 (grpc); https:// for TLS. Setting it turns traces on", false},
	{"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "", "Full URL for traces only (http/protobuf: used as is, /v1/traces included); wins over OTEL_EXPORTER_OTLP_ENDPOINT. Setting it turns traces on", false},
	{"OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf", "grpc or http/protobuf", false},
	{"OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "", "The protocol for traces only; wins over OTEL_EXPORTER_OTLP_PROTOCOL", false},
	{"OTEL_EXPORTER_OTLP_HEADERS", "", "Headers sent with every export, key=value comma-separated (a collector's or vendor's API key)", true},
	{"OTEL_SERVICE_NAME", "payflow", "service.name of every span", false},
	{"OTEL_RESOURCE_ATTRIBUTES", "", "More resource attributes, key=value comma-separated, e.g. deployment.environment.name=production", false},
	{"OTEL_TRACES_SAMPLER", "parentbased_always_on", "always_on, always_off, traceidratio, parentbased_always_on, parentbased_always_off or parentbased_traceidratio", false},
	{"OTEL_TRACES_SAMPLER_ARG", "", "Ratio from 0 to 1 of the traceidratio samplers", false},
	{"OTEL_SDK_DISABLED", "false", "true: no traces, whatever else is set", false},
}

// Config is the effective configuration.
type Config struct {
	WebhookSecrets   []string
	WebhookTolerance time.Duration
	WebhookMaxBody   int
	WebhookMaxConns  int
	StripeAPIKey     string
	StripeAPIBase    string
	SendGridAPIKey   string
	SendGridAPIBase  string
	EmailFrom        string
	AlertEmail       string
	// Email: brand, reply-to and SendGrid templates (email.go).
	Email              Email
	DatabaseURL        string
	TemporalAddress    string
	TemporalNamespace  string
	TaskQueue          string
	Addr               string
	MetricsAddr        string
	ProvisioningURL    string
	ProvisioningSecret string
	// Billing portal links in dunning emails (PortalLinks): all of
	// PublicURL, LinkSecret and PortalReturnURL, or none.
	PublicURL           string
	LinkSecret          string
	PortalReturnURL     string
	PortalConfiguration string
	PortalLinkTTL       time.Duration
	// Dunning is the policy a dunning campaign adopts when it starts
	// (DUNNING_*, with the core's hard-decline codes).
	Dunning   billing.Policy
	LogLevel  slog.Level
	LogFormat string
	// Payload encryption (payload.go): the keys, newest first, and
	// whether payloads are encrypted (PAYFLOW_PAYLOAD_ENCRYPTION); the codec
	// endpoints' listen address, allowed Web UI origins and bearer token.
	PayloadKeys       *codec.Keyring
	PayloadEncryption bool
	CodecAddr         string
	CodecCORSOrigins  []string
	CodecAuthToken    string
	// Stripe Connect and modes: which events the receiver processes
	// (Acceptance). Livemode is webhook.LivemodeLive, LivemodeTest or
	// LivemodeAny; AllAccounts is STRIPE_ACCOUNTS=*, Accounts the listed
	// connected accounts.
	Livemode    string
	AllAccounts bool
	Accounts    []string
	// Tracing: OpenTelemetry traces (OTEL_*, tracing.go).
	Tracing Tracing
	// Temporal is the resolved Temporal connection (ResolveTemporal,
	// temporal.go) when the caller resolved it; Print shows it. Load
	// leaves it nil: it reads no file.
	Temporal *TemporalConnection
}

// Load reads the configuration through getenv (os.Getenv in production).
// Every problem is reported, each naming its variable.
func Load(getenv func(string) string) (Config, error) {
	get := func(name, def string) string {
		if v := strings.TrimSpace(getenv(name)); v != "" {
			return v
		}
		return def
	}
	var errs []error
	bad := func(name, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", name, fmt.Sprintf(format, args...)))
	}
	dur := func(name, def string) time.Duration {
		d, err := time.ParseDuration(get(name, def))
		if err != nil || d < 0 {
			bad(name, "want a non-negative Go duration such as 72h or 30s, got %q", get(name, def))
		}
		return d
	}
	c := Config{
		WebhookSecrets:     webhook.ParseSecrets(getenv("STRIPE_WEBHOOK_SECRET")),
		StripeAPIKey:       get("STRIPE_API_KEY", ""),
		StripeAPIBase:      get("STRIPE_API_BASE", ""),
		SendGridAPIKey:     get("SENDGRID_API_KEY", ""),
		SendGridAPIBase:    get("SENDGRID_API_BASE", "https://api.sendgrid.com"),
		EmailFrom:          get("EMAIL_FROM", "payflow@example.com"),
		AlertEmail:         get("ALERT_EMAIL", ""),
		DatabaseURL:        get("DATABASE_URL", "./.payflow/payflow.db"),
		TemporalAddress:    get("TEMPORAL_ADDRESS", "localhost:7233"),
		TemporalNamespace:  get("TEMPORAL_NAMESPACE", "default"),
		TaskQueue:          get("TEMPORAL_TASK_QUEUE", "payflow"),
		Addr:               get("PAYFLOW_ADDR", ":4242"),
		MetricsAddr:        get("PAYFLOW_METRICS_ADDR", ":9464"),
		ProvisioningURL:    get("PROVISIONING_WEBHOOK_URL", ""),
		ProvisioningSecret: get("PROVISIONING_WEBHOOK_SECRET", ""),
		LogFormat:          get("LOG_FORMAT", ""),
	}
	errs = append(errs, c.loadConnect(get)...)
	errs = append(errs, c.Email.load(get)...)
	errs = append(errs, c.loadPayload(getenv, get)...)
	errs = append(errs, c.loadTracing(get)...)
	// PAYFLOW_LINK_SECRET is taken as given (not trimmed): it is a key.
	c.PublicURL = strings.TrimRight(get("PAYFLOW_PUBLIC_URL", ""), "/")
	c.LinkSecret = getenv("PAYFLOW_LINK_SECRET")
	c.PortalReturnURL = get("STRIPE_BILLING_PORTAL_RETURN_URL", "")
	c.PortalConfiguration = get("STRIPE_BILLING_PORTAL_CONFIGURATION", "")
	c.PortalLinkTTL = dur("PAYFLOW_PORTAL_LINK_TTL", "720h")
	if d, err := time.ParseDuration(get("PAYFLOW_PORTAL_LINK_TTL", "720h")); err == nil && d == 0 {
		bad("PAYFLOW_PORTAL_LINK_TTL", "want a positive Go duration such as 720h, got %q", get("PAYFLOW_PORTAL_LINK_TTL", ""))
	}
	errs = append(errs, c.checkPortal()...)
	c.WebhookTolerance = dur("WEBHOOK_TOLERANCE", "300s")
	if n, err := strconv.Atoi(get("WEBHOOK_MAX_BODY", "1048576")); err != nil || n < 1024 {
		bad("WEBHOOK_MAX_BODY", "want a byte count of at least 1024, got %q", get("WEBHOOK_MAX_BODY", ""))
	} else {
		c.WebhookMaxBody = n
	}
	if n, err := strconv.Atoi(get("WEBHOOK_MAX_CONNECTIONS", "512")); err != nil || n < 1 {
		bad("WEBHOOK_MAX_CONNECTIONS", "want a positive number of connections, got %q", get("WEBHOOK_MAX_CONNECTIONS", ""))
	} else {
		c.WebhookMaxConns = n
	}
	for _, s := range c.WebhookSecrets {
		if !strings.HasPrefix(s, "whsec_") {
			bad("STRIPE_WEBHOOK_SECRET", "each secret starts with whsec_ (got one starting %q)", mask(s))
		}
	}
	for name, v := range map[string]string{"STRIPE_API_BASE": c.StripeAPIBase, "SENDGRID_API_BASE": c.SendGridAPIBase, "PROVISIONING_WEBHOOK_URL": c.ProvisioningURL} {
		if v != "" && !strings.HasPrefix(v, "http://") && !strings.HasPrefix(v, "https://") {
			bad(name, "want an http(s) URL, got %q", v)
		}
	}
	if c.ProvisioningURL != "" && c.ProvisioningSecret == "" {
		bad("PROVISIONING_WEBHOOK_SECRET", "required when PROVISIONING_WEBHOOK_URL is set")
	}
	if c.SendGridAPIKey != "" && !strings.Contains(c.EmailFrom, "@") {
		bad("EMAIL_FROM", "want an email address, got %q", c.EmailFrom)
	}
	delays, err := billing.ParseDelays(get("DUNNING_RETRY_DELAYS", "72h,120h,168h"))
	if err != nil {
		bad("DUNNING_RETRY_DELAYS", "%v", err)
	}
	schedules, serr := billing.ParseSchedules(get("DUNNING_SCHEDULE", billing.FormatSchedules(billing.DefaultSchedules())))
	if serr != nil {
		bad("DUNNING_SCHEDULE", "%v", serr)
	}
	c.Dunning = billing.Policy{
		Mode: get("DUNNING_MODE", billing.ModePayflow), RetryDelays: delays,
		Grace: dur("DUNNING_GRACE", "144h"), FinalAction: get("DUNNING_FINAL_ACTION", billing.FinalCancel),
		HardDeclines: billing.DefaultHardDeclines(), Schedules: schedules,
	}
	if err == nil && serr == nil {
		if perr := c.Dunning.Validate(); perr != nil {
			errs = append(errs, perr)
		}
	}
	if err := c.LogLevel.UnmarshalText([]byte(get("LOG_LEVEL", "info"))); err != nil {
		bad("LOG_LEVEL", "want debug, info, warn or error, got %q", get("LOG_LEVEL", ""))
	}
	if c.LogFormat != "" && c.LogFormat != "json" && c.LogFormat != "text" {
		bad("LOG_FORMAT", "want json or text, got %q", c.LogFormat)
	}
	return c, errors.Join(errs...)
}

// keyMode is the mode of a Stripe secret or restricted key by its prefix
// (sk_live_, rk_live_ → live; sk_test_, rk_test_ → test), "" when it names
// none.
func keyMode(key string) string {
	switch {
	case strings.HasPrefix(key, "sk_live_"), strings.HasPrefix(key, "rk_live_"):
		return webhook.LivemodeLive
	case strings.HasPrefix(key, "sk_test_"), strings.HasPrefix(key, "rk_test_"):
		return webhook.LivemodeTest
	}
	return ""
}

// loadConnect reads STRIPE_LIVEMODE and STRIPE_ACCOUNTS (after
// STRIPE_API_KEY). Unset, the mode is the key's; without a key (dev) any
// mode is accepted. A key of one mode with STRIPE_LIVEMODE of the other is
// an error: every API call would act on the other mode's objects.
func (c *Config) loadConnect(get func(name, def string) string) []error {
	var errs []error
	bad := func(name, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", name, fmt.Sprintf(format, args...)))
	}
	km := keyMode(c.StripeAPIKey)
	c.Livemode = strings.ToLower(get("STRIPE_LIVEMODE", ""))
	switch c.Livemode {
	case "":
		c.Livemode = km
		if c.Livemode == "" {
			c.Livemode = webhook.LivemodeAny
		}
	case webhook.LivemodeLive, webhook.LivemodeTest:
		if km != "" && km != c.Livemode {
			bad("STRIPE_LIVEMODE", "%s, but STRIPE_API_KEY is a %s-mode key (%s): use a %s key, or STRIPE_LIVEMODE=%s",
				c.Livemode, km, mask(c.StripeAPIKey), c.Livemode, km)
		}
	case webhook.LivemodeAny:
	default:
		bad("STRIPE_LIVEMODE", "want live, test or any, got %q", c.Livemode)
	}
	raw := get("STRIPE_ACCOUNTS", "")
	if raw == "*" {
		c.AllAccounts = true
		return errs
	}
	for _, a := range strings.Split(raw, ",") {
		a = strings.TrimSpace(a)
		switch {
		case a == "":
		case a == "*":
			bad("STRIPE_ACCOUNTS", "* (every connected account) stands alone, not in a list")
		case !validAccount(a):
			bad("STRIPE_ACCOUNTS", "want connected account IDs acct_… (letters and digits), comma-separated, or *; got %q", a)
		case !slices.Contains(c.Accounts, a):
			c.Accounts = append(c.Accounts, a)
		}
	}
	return errs
}

// validAccount: acct_ and letters or digits, as Stripe's account IDs are.
func validAccount(a string) bool {
	rest, ok := strings.CutPrefix(a, "acct_")
	if !ok || rest == "" || len(a) > webhook.MaxIDLen {
		return false
	}
	for _, r := range rest {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9') {
			return false
		}
	}
	return true
}

// Acceptance is which events the receiver (and reconcile, and a quarantine
// replay) processes; any other is quarantined.
func (c Config) Acceptance() webhook.Acceptance {
	return webhook.Acceptance{Livemode: c.Livemode, AllAccounts: c.AllAccounts, Accounts: slices.Clone(c.Accounts)}
}

// accountsString is STRIPE_ACCOUNTS as `payflow config` prints it.
func (c Config) accountsString() string {
	switch {
	case c.AllAccounts:
		return "* (every connected account, and the platform)"
	case len(c.Accounts) == 0:
		return "(the platform's own events only)"
	}
	return strings.Join(c.Accounts, ",")
}

// PortalLinks reports whether dunning emails carry billing portal links
// and the receiver serves them: PAYFLOW_PUBLIC_URL, PAYFLOW_LINK_SECRET and
// STRIPE_BILLING_PORTAL_RETURN_URL are all set (Load refuses a part of
// them).
func (c Config) PortalLinks() bool {
	return c.PublicURL != "" && c.LinkSecret != "" && c.PortalReturnURL != ""
}

// checkPortal validates the billing portal variables: all three required
// ones or none, each of the right shape. No message contains the secret.
func (c Config) checkPortal() []error {
	var errs []error
	bad := func(name, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", name, fmt.Sprintf(format, args...)))
	}
	required := []struct{ name, value string }{
		{"PAYFLOW_PUBLIC_URL", c.PublicURL},
		{"PAYFLOW_LINK_SECRET", c.LinkSecret},
		{"STRIPE_BILLING_PORTAL_RETURN_URL", c.PortalReturnURL},
	}
	var set, missing []string
	for _, r := range required {
		if r.value != "" {
			set = append(set, r.name)
		} else {
			missing = append(missing, r.name)
		}
	}
	if c.PortalConfiguration != "" {
		set = append(set, "STRIPE_BILLING_PORTAL_CONFIGURATION")
	}
	if len(set) > 0 && len(missing) > 0 {
		for _, name := range missing {
			bad(name, "required for billing portal links in dunning emails (%s set): set all of PAYFLOW_PUBLIC_URL, PAYFLOW_LINK_SECRET and STRIPE_BILLING_PORTAL_RETURN_URL, or none",
				strings.Join(set, " and "))
		}
	}
	for _, u := range []struct{ name, value string }{
		{"PAYFLOW_PUBLIC_URL", c.PublicURL}, {"STRIPE_BILLING_PORTAL_RETURN_URL", c.PortalReturnURL},
	} {
		if u.value == "" {
			continue
		}
		p, err := url.Parse(u.value)
		if err != nil || (p.Scheme != "http" && p.Scheme != "https") || p.Host == "" {
			bad(u.name, "want an absolute http(s) URL, got %q", u.value)
		} else if u.name == "PAYFLOW_PUBLIC_URL" && (p.RawQuery != "" || p.Fragment != "" || p.User != nil) {
			bad(u.name, "want a base URL without query, fragment or credentials, got %q", u.value)
		}
	}
	if c.LinkSecret != "" && len(c.LinkSecret) < portallink.MinSecretLen {
		bad("PAYFLOW_LINK_SECRET", "too short: want at least %d bytes (e.g. openssl rand -hex 32)", portallink.MinSecretLen)
	}
	if c.PortalConfiguration != "" && !strings.HasPrefix(c.PortalConfiguration, "bpc_") {
		bad("STRIPE_BILLING_PORTAL_CONFIGURATION", "want a portal configuration ID bpc_…, got %q", c.PortalConfiguration)
	}
	return errs
}

// FromEnv loads from the process environment.
func FromEnv() (Config, error) { return Load(os.Getenv) }

// mask keeps a secret's prefix (whsec_, sk_test_) so an operator can tell
// which one is set, and hides the rest.
func mask(s string) string {
	if s == "" {
		return ""
	}
	keep := 0
	if i := strings.LastIndex(s, "_"); i >= 0 && i < 12 {
		keep = i + 1
	}
	tail := s[keep:]
	if len(tail) > 4 {
		return s[:keep] + "…" + tail[len(tail)-4:]
	}
	return s[:keep] + "…"
}

// isSet shows only whether a secret with no recognisable prefix is set.
func isSet(s string) string {
	if s == "" {
		return ""
	}
	return "(set)"
}

// maskURL hides a password in a database URL.
func maskURL(u string) string {
	at := strings.LastIndex(u, "@")
	scheme := strings.Index(u, "://")
	if at < 0 || scheme < 0 || at < scheme {
		return u
	}
	creds := u[scheme+3 : at]
	if user, _, ok := strings.Cut(creds, ":"); ok {
		return u[:scheme+3] + user + ":****" + u[at:]
	}
	return u
}

// Print writes the effective configuration, secrets masked.
func (c Config) Print(w io.Writer) {
	secrets := make([]string, len(c.WebhookSecrets))
	for i, s := range c.WebhookSecrets {
		secrets[i] = mask(s)
	}
	delays := make([]string, len(c.Dunning.RetryDelays))
	for i, d := range c.Dunning.RetryDelays {
		delays[i] = d.String()
	}
	rows := [][2]string{
		{"STRIPE_WEBHOOK_SECRET", strings.Join(secrets, ",")},
		{"STRIPE_API_KEY", mask(c.StripeAPIKey)},
		{"STRIPE_API_BASE", c.StripeAPIBase},
		{"STRIPE_LIVEMODE", c.Livemode},
		{"STRIPE_ACCOUNTS", c.accountsString()},
		{"SENDGRID_API_KEY", mask(c.SendGridAPIKey)},
		{"SENDGRID_API_BASE", c.SendGridAPIBase},
		{"EMAIL_FROM", c.EmailFrom},
		{"EMAIL_BRAND_NAME", c.Email.BrandName},
		{"EMAIL_REPLY_TO", c.Email.ReplyTo},
		{"SENDGRID_TEMPLATES", FormatTemplates(c.Email.Templates)},
		{"ALERT_EMAIL", c.AlertEmail},
		{"PAYFLOW_PUBLIC_URL", c.PublicURL},
		{"PAYFLOW_LINK_SECRET", isSet(c.LinkSecret)},
		{"STRIPE_BILLING_PORTAL_RETURN_URL", c.PortalReturnURL},
		{"STRIPE_BILLING_PORTAL_CONFIGURATION", c.PortalConfiguration},
		{"PAYFLOW_PORTAL_LINK_TTL", c.PortalLinkTTL.String()},
		{"DATABASE_URL", maskURL(c.DatabaseURL)},
		{"TEMPORAL_ADDRESS", c.temporalAddress()},
		{"TEMPORAL_NAMESPACE", c.temporalNamespace()},
		{"TEMPORAL_TASK_QUEUE", c.TaskQueue},
		{"PAYFLOW_PAYLOAD_KEYS", c.payloadKeysString()},
		{"PAYFLOW_PAYLOAD_ENCRYPTION", onOff(c.PayloadEncryption)},
		{"PAYFLOW_CODEC_ADDR", c.CodecAddr},
		{"PAYFLOW_CODEC_CORS_ORIGIN", strings.Join(c.CodecCORSOrigins, ",")},
		{"PAYFLOW_CODEC_AUTH_TOKEN", isSet(c.CodecAuthToken)},
		{"PAYFLOW_ADDR", c.Addr},
		{"PAYFLOW_METRICS_ADDR", c.MetricsAddr},
		{"WEBHOOK_TOLERANCE", c.WebhookTolerance.String()},
		{"WEBHOOK_MAX_BODY", strconv.Itoa(c.WebhookMaxBody)},
		{"WEBHOOK_MAX_CONNECTIONS", strconv.Itoa(c.WebhookMaxConns)},
		{"PROVISIONING_WEBHOOK_URL", c.ProvisioningURL},
		{"PROVISIONING_WEBHOOK_SECRET", mask(c.ProvisioningSecret)},
		{"DUNNING_MODE", c.Dunning.Mode},
		{"DUNNING_RETRY_DELAYS", strings.Join(delays, ",")},
		{"DUNNING_SCHEDULE", billing.FormatSchedules(c.Dunning.Schedules)},
		{"DUNNING_GRACE", c.Dunning.Grace.String()},
		{"DUNNING_FINAL_ACTION", c.Dunning.FinalAction},
		{"LOG_LEVEL", c.LogLevel.String()},
		{"LOG_FORMAT", c.LogFormat},
	}
	rows = append(rows, c.Tracing.rows()...)
	for _, r := range rows {
		fmt.Fprintf(w, "%-28s %s\n", r[0], r[1])
	}
	if c.Temporal != nil {
		c.Temporal.PrintTemporal(w)
	}
	fmt.Fprintf(w, "\nTraces: %s\n", c.Tracing.Summary())
	PrintDunning(w, c.Dunning)
}

// PrintDunning writes the timeline a failed renewal follows under p (day 0
// failure, each retry, the suspension, the final action, with the email
// each sends) and a warning for each pair of steps that coincide.
func PrintDunning(w io.Writer, p billing.Policy) {
	fmt.Fprintf(w, "\nDunning timeline (%s mode; from the failed payment):\n", p.Mode)
	printPlan(w, p.Plan())
	if p.Mode == billing.ModePayflow {
		// The other decline categories, when their timeline differs from
		// a soft decline's.
		soft := fmt.Sprint(p.Plan())
		for _, cat := range append(billing.ScheduledCategories[1:], billing.DeclineHard) {
			plan := p.PlanFor(cat)
			if fmt.Sprint(plan) == soft {
				fmt.Fprintf(w, "\nWhen the decline is %s: the same timeline.\n", cat)
				continue
			}
			fmt.Fprintf(w, "\nWhen the decline is %s (retries: %s):\n", cat, billing.FormatDelays(p.DelaysFor(cat)))
			printPlan(w, plan)
		}
		fmt.Fprintln(w, "\nA new payment method (card updated) retries every open campaign at once, whatever the category.")
	}
	for _, warn := range p.Warnings() {
		fmt.Fprintf(w, "WARNING: %s\n", warn)
	}
}

func printPlan(w io.Writer, steps []billing.PlanStep) {
	for _, s := range steps {
		when := "when Stripe says"
		if s.Known {
			when = billing.FormatAfter(s.After)
		}
		line := fmt.Sprintf("  %-18s %s", when, s.What)
		if s.Email != "" {
			line += " → email " + s.Email
		}
		fmt.Fprintln(w, line)
	}
}

// Logger builds the slog logger: JSON by default, text when asked.
func (c Config) Logger(w io.Writer, defaultFormat string) *slog.Logger {
	format := c.LogFormat
	if format == "" {
		format = defaultFormat
	}
	opts := &slog.HandlerOptions{Level: c.LogLevel}
	// tracelog: a line logged with the context of a span (a webhook
	// request, an activity) carries trace_id and span_id.
	if format == "text" {
		return slog.New(tracelog.Handler(slog.NewTextHandler(w, opts)))
	}
	return slog.New(tracelog.Handler(slog.NewJSONHandler(w, opts)))
}
