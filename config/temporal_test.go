package config

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.temporal.io/sdk/contrib/envconfig"
)

// mapEnv is an environment for envconfig: set-but-empty is a value.
type mapEnv map[string]string

func (m mapEnv) Environ() []string {
	var kv []string
	for k, v := range m {
		kv = append(kv, k+"="+v)
	}
	return kv
}

func (m mapEnv) LookupEnv(k string) (string, bool) { v, ok := m[k]; return v, ok }

func writeProfile(t *testing.T, toml string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "temporal.toml")
	if err := os.WriteFile(p, []byte(toml), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

const twoProfiles = `
[profile.default]
address = "127.0.0.1:7999"
namespace = "payments"

[profile.cloud]
address = "payments.a1b2c.tmprl.cloud:7233"
namespace = "payments.a1b2c"
api_key = "sekrit-api-key-value"
`

func defaults(t *testing.T) Config {
	t.Helper()
	c, err := Load(env(nil))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// The resolver gives what the SDK's envconfig gives — the profile file,
// every set TEMPORAL_* variable over it (set but empty too) — and payflow's
// default only where that leaves nothing, with the source of each.
func TestResolveTemporalMirrorsEnvconfig(t *testing.T) {
	t.Setenv("XDG_CONFIG_HOME", t.TempDir()) // the default file: none
	file := writeProfile(t, twoProfiles)
	missing := filepath.Join(t.TempDir(), "none.toml")
	profile := `profile "default" in ` + file
	cases := []struct {
		name                 string
		env                  mapEnv
		addr, addrFrom       string
		ns, nsFrom           string
		profileFound, tlsOn  bool
		apiKey               bool
		apiKeyFrom, tlsFromC string
	}{
		{"no file: payflow defaults", mapEnv{"TEMPORAL_CONFIG_FILE": missing},
			"localhost:7233", PayflowDefault, "default", PayflowDefault, false, false, false, "", ""},
		{"profile file", mapEnv{"TEMPORAL_CONFIG_FILE": file},
			"127.0.0.1:7999", profile, "payments", profile, true, false, false, "", ""},
		{"env over the profile", mapEnv{"TEMPORAL_CONFIG_FILE": file, "TEMPORAL_ADDRESS": "10.0.0.5:7233"},
			"10.0.0.5:7233", "env TEMPORAL_ADDRESS", "payments", profile, true, false, false, "", ""},
		{"namespace from env, address from the profile", mapEnv{"TEMPORAL_CONFIG_FILE": file, "TEMPORAL_NAMESPACE": "other"},
			"127.0.0.1:7999", profile, "other", "env TEMPORAL_NAMESPACE", true, false, false, "", ""},
		// envconfig's ApplyEnvVars overrides with any set variable: set but
		// empty erases the profile's address, and payflow's default fills in.
		{"set but empty erases the profile's value", mapEnv{"TEMPORAL_CONFIG_FILE": file, "TEMPORAL_ADDRESS": ""},
			"localhost:7233", PayflowDefault + " (TEMPORAL_ADDRESS is set but empty", "payments", profile, true, false, false, "", ""},
		{"TEMPORAL_PROFILE, an API key turns TLS on", mapEnv{"TEMPORAL_CONFIG_FILE": file, "TEMPORAL_PROFILE": "cloud"},
			"payments.a1b2c.tmprl.cloud:7233", `profile "cloud" in ` + file, "payments.a1b2c", `profile "cloud" in ` + file, true, true, true,
			`profile "cloud" in ` + file, "the API key"},
		{"TEMPORAL_TLS=false keeps the key and turns TLS off", mapEnv{"TEMPORAL_CONFIG_FILE": file, "TEMPORAL_PROFILE": "cloud", "TEMPORAL_TLS": "false"},
			"payments.a1b2c.tmprl.cloud:7233", `profile "cloud" in ` + file, "payments.a1b2c", `profile "cloud" in ` + file, true, false, true,
			`profile "cloud" in ` + file, "env TEMPORAL_TLS"},
		{"API key from env", mapEnv{"TEMPORAL_CONFIG_FILE": file, "TEMPORAL_API_KEY": "from-env"},
			"127.0.0.1:7999", profile, "payments", profile, true, true, true, "env TEMPORAL_API_KEY", "the API key"},
		{"empty TEMPORAL_CONFIG_FILE counts as unset", mapEnv{"TEMPORAL_CONFIG_FILE": "", "TEMPORAL_ADDRESS": "10.0.0.6:7233"},
			"10.0.0.6:7233", "env TEMPORAL_ADDRESS", "", "", false, false, false, "", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ResolveTemporal(defaults(t), tc.env)
			if err != nil {
				t.Fatal(err)
			}
			// The SDK's own answer for the same environment.
			sdk, err := envconfig.LoadClientOptions(envconfig.LoadClientOptionsRequest{EnvLookup: tc.env})
			if err != nil {
				t.Fatal(err)
			}
			if sdk.HostPort != "" && sdk.HostPort != got.Address() || sdk.HostPort == "" && got.Address() != "localhost:7233" {
				t.Errorf("address %q, envconfig says %q", got.Address(), sdk.HostPort)
			}
			if sdk.Namespace != "" && sdk.Namespace != got.Namespace() || sdk.Namespace == "" && got.Namespace() != "default" {
				t.Errorf("namespace %q, envconfig says %q", got.Namespace(), sdk.Namespace)
			}
			if got.Address() != tc.addr || !strings.HasPrefix(got.AddressFrom, tc.addrFrom) {
				t.Errorf("address %q from %q, want %q from %q", got.Address(), got.AddressFrom, tc.addr, tc.addrFrom)
			}
			if tc.ns != "" && (got.Namespace() != tc.ns || got.NamespaceFrom != tc.nsFrom) {
				t.Errorf("namespace %q from %q, want %q from %q", got.Namespace(), got.NamespaceFrom, tc.ns, tc.nsFrom)
			}
			if got.TLS() != tc.tlsOn || tc.tlsFromC != "" && !strings.Contains(got.TLSFrom, tc.tlsFromC) || tc.tlsFromC == "" && got.TLSFrom != "" {
				t.Errorf("TLS %v from %q, want %v from %q", got.TLS(), got.TLSFrom, tc.tlsOn, tc.tlsFromC)
			}
			if got.APIKey() != tc.apiKey || got.APIKeyFrom != tc.apiKeyFrom {
				t.Errorf("API key %v from %q, want %v from %q", got.APIKey(), got.APIKeyFrom, tc.apiKey, tc.apiKeyFrom)
			}
			if tc.ns != "" && got.ProfileFound != tc.profileFound {
				t.Errorf("profile found %v, want %v", got.ProfileFound, tc.profileFound)
			}
			// The SDK's TLS decision: an explicit configuration or an API
			// key (which the client turns into TLS unless disabled).
			sdkTLS := !sdk.ConnectionOptions.TLSDisabled && (sdk.ConnectionOptions.TLS != nil || sdk.Credentials != nil)
			if got.TLS() != sdkTLS {
				t.Errorf("TLS %v, envconfig's options say %v", got.TLS(), sdkTLS)
			}
		})
	}
}

// A TEMPORAL_PROFILE the file lacks is an error, as in envconfig.
func TestResolveTemporalMissingProfile(t *testing.T) {
	file := writeProfile(t, twoProfiles)
	_, err := ResolveTemporal(defaults(t), mapEnv{"TEMPORAL_CONFIG_FILE": file, "TEMPORAL_PROFILE": "staging"})
	if err == nil || !strings.Contains(err.Error(), "staging") {
		t.Fatalf("missing profile: %v", err)
	}
}

// mTLS from the profile plus a server name from the environment: both
// sources named, the certificate seen, nothing secret printed.
func TestResolveTemporalMTLSAndPrint(t *testing.T) {
	dir := t.TempDir()
	certPath, keyPath := writeCert(t, dir)
	file := writeProfile(t, `
[profile.default]
address = "temporal.internal:7233"
namespace = "payments"
api_key = "sekrit-api-key-value"
[profile.default.tls]
client_cert_path = "`+certPath+`"
client_key_path = "`+keyPath+`"
[profile.default.grpc_meta]
x-tenant = "sekrit-meta-value"
`)
	e := mapEnv{"TEMPORAL_CONFIG_FILE": file, "TEMPORAL_TLS_SERVER_NAME": "temporal.example.com"}
	c := defaults(t)
	got, err := ResolveTemporal(c, e)
	if err != nil {
		t.Fatal(err)
	}
	if !got.TLS() || !got.ClientCert() || got.ServerName() != "temporal.example.com" {
		t.Fatalf("TLS %v cert %v server name %q", got.TLS(), got.ClientCert(), got.ServerName())
	}
	if want := `profile "default" in ` + file + ", env TEMPORAL_TLS_SERVER_NAME"; got.TLSFrom != want {
		t.Errorf("TLS from %q, want %q", got.TLSFrom, want)
	}
	c.Temporal = &got
	var b bytes.Buffer
	c.Print(&b)
	out := b.String()
	for _, want := range []string{
		"TEMPORAL_ADDRESS             temporal.internal:7233\n",
		"TEMPORAL_NAMESPACE           payments\n",
		"  address      temporal.internal:7233     (from profile \"default\" in " + file + ")",
		"Temporal connection",
		"on, client certificate (mTLS), server name temporal.example.com",
		"API key      set",
		"x-tenant (values not shown)",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("payflow config lacks %q:\n%s", want, out)
		}
	}
	for _, secret := range []string{"sekrit-api-key-value", "sekrit-meta-value"} {
		if strings.Contains(out, secret) {
			t.Errorf("payflow config prints a secret %q:\n%s", secret, out)
		}
	}
}

func writeCert(t *testing.T, dir string) (certPath, keyPath string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "payflow-worker"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certPath, keyPath = filepath.Join(dir, "client.pem"), filepath.Join(dir, "client.key")
	if err := os.WriteFile(certPath, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyPath, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), 0o600); err != nil {
		t.Fatal(err)
	}
	return certPath, keyPath
}
