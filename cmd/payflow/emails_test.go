package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/payflow/payflow/billing"
)

// `payflow emails preview` writes, for every purpose, an HTML file a
// browser opens, the text part and the template data, and an index.html
// linking each; the brand comes from the environment, SENDGRID_TEMPLATES
// shows in the index and the JSON, and the three sample currencies appear
// across the set.
func TestEmailsPreview(t *testing.T) {
	t.Setenv("EMAIL_BRAND_NAME", "Acme <Widgets>")
	t.Setenv("EMAIL_REPLY_TO", "help@acme.example")
	t.Setenv("SENDGRID_TEMPLATES", "receipt=d-5f1c0e3a9b2d4c6e8f0a1b2c3d4e5f60")
	dir := filepath.Join(t.TempDir(), "preview")
	var out bytes.Buffer
	if err := runEmails(context.Background(), []string{"preview", "-out", dir}, &out); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "wrote 19 emails for Acme <Widgets>") || !strings.Contains(out.String(), filepath.Join(dir, "index.html")) {
		t.Errorf("output %q", out.String())
	}
	index := readFileT(t, filepath.Join(dir, "index.html"))
	currencies := map[string]bool{}
	for _, p := range billing.Purposes() {
		html := readFileT(t, filepath.Join(dir, p+".html"))
		if !strings.HasPrefix(html, "<!DOCTYPE html>") || !strings.Contains(html, "</html>") || !strings.Contains(html, "Acme &lt;Widgets&gt;") {
			t.Errorf("%s.html is no branded HTML page:\n%.300s", p, html)
		}
		if text := readFileT(t, filepath.Join(dir, p+".txt")); !strings.HasPrefix(text, "Subject: ") {
			t.Errorf("%s.txt: %.100q", p, text)
		}
		var j struct {
			Purpose    string         `json:"purpose"`
			TemplateID string         `json:"template_id"`
			Data       map[string]any `json:"dynamic_template_data"`
		}
		if err := json.Unmarshal([]byte(readFileT(t, filepath.Join(dir, p+".json"))), &j); err != nil || j.Purpose != p || j.Data["purpose"] != p {
			t.Errorf("%s.json: %+v %v", p, j, err)
		}
		if (j.TemplateID != "") != (p == billing.PurposeReceipt) {
			t.Errorf("%s.json template_id %q", p, j.TemplateID)
		}
		if c, ok := j.Data["currency"].(string); ok {
			currencies[c] = true
		}
		for _, f := range []string{p + ".html", p + ".txt", p + ".json"} {
			if !strings.Contains(index, `href="`+f+`"`) {
				t.Errorf("index.html does not link %s", f)
			}
		}
	}
	if len(currencies) != 3 {
		t.Errorf("currencies across the set: %v, want three", currencies)
	}
	if !strings.Contains(index, "d-5f1c0e3a9b2d4c6e8f0a1b2c3d4e5f60") {
		t.Error("index.html does not show the configured template")
	}

	// One purpose, one currency.
	one := filepath.Join(t.TempDir(), "one")
	if err := runEmails(context.Background(), []string{"preview", "-purpose", "dunning_first_failure", "-currency", "jpy", "-out", one}, &out); err != nil {
		t.Fatal(err)
	}
	entries, _ := os.ReadDir(one)
	if len(entries) != 4 || !strings.Contains(readFileT(t, filepath.Join(one, "dunning_first_failure.txt")), "¥2,980") {
		t.Errorf("-purpose wrote %d files", len(entries))
	}
	for _, args := range [][]string{{"preview", "-purpose", "nope"}, {"preview", "-currency", "gbp"}, {"send"}, {}} {
		if err := runEmails(context.Background(), append(args, "-out", t.TempDir()), &out); err == nil {
			t.Errorf("%v: no error", args)
		}
	}
}

// A bad SENDGRID_TEMPLATES is named before anything is written.
func TestEmailsPreviewRefusesBadConfiguration(t *testing.T) {
	t.Setenv("SENDGRID_TEMPLATES", "receipt=d-123")
	err := runEmails(context.Background(), []string{"preview", "-out", t.TempDir()}, &bytes.Buffer{})
	if err == nil || !strings.Contains(err.Error(), "SENDGRID_TEMPLATES") {
		t.Errorf("err %v", err)
	}
}

// The README documents every field of the dynamic template data, the
// preview command and the variables.
func TestReadmeDocumentsTemplateData(t *testing.T) {
	readme := readFileT(t, "../../README.md")
	typ := reflect.TypeOf(billing.TemplateData{})
	for i := range typ.NumField() {
		name, _, _ := strings.Cut(typ.Field(i).Tag.Get("json"), ",")
		if !strings.Contains(readme, "| `"+name+"` |") {
			t.Errorf("README's template data table lacks %s", name)
		}
	}
	for _, p := range billing.Purposes() {
		if !strings.Contains(readme, "`"+p+"`") {
			t.Errorf("README does not name the purpose %s", p)
		}
	}
	if !strings.Contains(readme, "payflow emails preview") {
		t.Error("README does not show payflow emails preview")
	}
}

func readFileT(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
