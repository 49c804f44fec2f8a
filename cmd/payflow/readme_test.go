package main

import (
	"os"
	"strings"
	"testing"

	"github.com/payflow/payflow/billing"
	"github.com/payflow/payflow/config"
	"github.com/payflow/payflow/routing"
)

// The README's event list is the routing table, and its configuration
// table lists every variable payflow reads.
func TestReadmeInStep(t *testing.T) {
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	readme := string(b)
	_, rest, _ := strings.Cut(readme, "<!-- handled-types:begin -->\n```\n")
	list, _, _ := strings.Cut(rest, "```\n<!-- handled-types:end -->")
	if got, want := strings.TrimSpace(list), strings.Join(routing.HandledTypes(), "\n"); got != want {
		t.Errorf("README event list is stale; replace it with:\n%s", want)
	}
	for _, v := range config.Vars {
		if !strings.Contains(readme, "`"+v.Name+"`") {
			t.Errorf("README configuration table lacks %s", v.Name)
		}
	}
	for _, code := range billing.DefaultHardDeclines() {
		if !strings.Contains(readme, "`"+code+"`") {
			t.Errorf("README hard-decline list lacks %s", code)
		}
	}
	if !strings.HasPrefix(strings.SplitN(readme, "```sh\n", 2)[1], "make dev") {
		t.Error("README must open with `make dev` and `make test`")
	}
}

func TestParseInterspersed(t *testing.T) {
	fs := newFlags("t", "t")
	c := fs.String("customer", "", "")
	p := fs.Bool("print", false, "")
	pos, err := parseInterspersed(fs, []string{"invoice.paid", "-customer", "cus_1", "extra", "-print"})
	if err != nil || len(pos) != 2 || pos[0] != "invoice.paid" || pos[1] != "extra" || *c != "cus_1" || !*p {
		t.Fatalf("pos %v err %v customer %q print %v", pos, err, *c, *p)
	}
}
