package check

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
)

// PayflowVars are the environment variables payflow reads, derived from its
// source rather than listed here, so the chart's check cannot drift from
// the binary.
type PayflowVars struct {
	// Known: every variable name payflow's config package names.
	Known map[string]bool
	// Secret: the variables that must only ever come from a Secret.
	Secret map[string]bool
}

// envName is the shape of an environment variable name with at least one
// underscore (STRIPE_API_KEY, TEMPORAL_TLS): what payflow's variables all
// look like, and what ordinary words and messages never are.
var envName = regexp.MustCompile(`^[A-Z][A-Z0-9]*(_[A-Z0-9]+)+$`)

// temporalSecrets are Temporal's own credential variables, read by the
// SDK's envconfig rather than listed in config.Vars (whose comment says
// so); config/temporal.go names them (the API key's source, tlsEnvVars).
var temporalSecrets = []string{"TEMPORAL_API_KEY", "TEMPORAL_TLS_CLIENT_KEY_DATA"}

// LoadPayflowVars parses the config package's Go source (tests excluded)
// with go/parser, which is how the list is derived robustly:
//
//   - Known is every string literal in that package shaped like a variable
//     name. The package is where payflow reads its environment: config.Vars
//     (the table the README and the compose test are held to, one entry
//     per variable) and, for Temporal's client variables that the SDK's
//     envconfig reads, the names config/temporal.go looks up (tlsEnvVars,
//     TEMPORAL_API_KEY, TEMPORAL_PROFILE, TEMPORAL_CONFIG_FILE). Comments
//     do not count: only code does. A variable the chart sets that is not
//     here is one payflow never reads — a typo, or a renamed variable.
//   - Secret is every config.Vars entry whose Secret field is true, plus
//     temporalSecrets.
//
// Importing the config package instead would pull payflow's whole
// dependency tree (Temporal's SDK, gRPC, …) into this module and its build.
func LoadPayflowVars(configDir string) (PayflowVars, error) {
	pv := PayflowVars{Known: map[string]bool{}, Secret: map[string]bool{}}
	files, err := filepath.Glob(filepath.Join(configDir, "*.go"))
	if err != nil {
		return pv, err
	}
	fset := token.NewFileSet()
	sawVars := false
	for _, path := range files {
		if strings.HasSuffix(path, "_test.go") {
			continue
		}
		src, err := os.ReadFile(path)
		if err != nil {
			return pv, err
		}
		f, err := parser.ParseFile(fset, path, src, parser.SkipObjectResolution)
		if err != nil {
			return pv, err
		}
		ast.Inspect(f, func(n ast.Node) bool {
			switch n := n.(type) {
			case *ast.BasicLit:
				if n.Kind == token.STRING {
					if s, err := strconv.Unquote(n.Value); err == nil && envName.MatchString(s) {
						pv.Known[s] = true
					}
				}
			case *ast.ValueSpec:
				for i, name := range n.Names {
					if name.Name == "Vars" && i < len(n.Values) {
						sawVars = true
						collectSecrets(n.Values[i], pv.Secret)
					}
				}
			}
			return true
		})
	}
	// A change of shape (Vars renamed, made keyed, moved) must fail loudly
	// rather than leave the check with nothing to hold the chart to.
	if !sawVars || len(pv.Known) < 20 || len(pv.Secret) < 3 {
		return pv, fmt.Errorf("%s: found %d variable names and %d secrets (config.Vars found: %v); the check's parser no longer matches config.Vars: update LoadPayflowVars",
			configDir, len(pv.Known), len(pv.Secret), sawVars)
	}
	for _, s := range temporalSecrets {
		if !pv.Known[s] {
			return pv, fmt.Errorf("%s no longer names %s: update temporalSecrets", configDir, s)
		}
		pv.Secret[s] = true
	}
	return pv, nil
}

// collectSecrets reads config.Vars' entries, {"NAME", "default", "help",
// secret}, and adds the names whose fourth field is true.
func collectSecrets(e ast.Expr, secret map[string]bool) {
	list, ok := e.(*ast.CompositeLit)
	if !ok {
		return
	}
	for _, elt := range list.Elts {
		entry, ok := elt.(*ast.CompositeLit)
		if !ok || len(entry.Elts) != 4 {
			continue
		}
		lit, ok := entry.Elts[0].(*ast.BasicLit)
		if !ok || lit.Kind != token.STRING {
			continue
		}
		name, err := strconv.Unquote(lit.Value)
		if err != nil {
			continue
		}
		if id, ok := entry.Elts[3].(*ast.Ident); ok && id.Name == "true" {
			secret[name] = true
		}
	}
}
