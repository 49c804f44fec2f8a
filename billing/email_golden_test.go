package billing

import (
	"encoding/json"
	"flag"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite testdata/emails/*.golden from the current templates")

// goldenEmail is what a golden file pins of one rendered message: subject,
// preheader, both parts and the dynamic template data.
func goldenEmail(t *testing.T, m RenderedEmail) string {
	t.Helper()
	data, err := json.MarshalIndent(m.Data, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	return "Subject: " + m.Subject + "\nPreheader: " + m.Data.Preheader +
		"\n\n--- text/plain ---\n" + m.Text +
		"\n\n--- text/html ---\n" + m.HTML +
		"\n--- dynamic_template_data ---\n" + string(data) + "\n"
}

// Every purpose, in USD, EUR and JPY, both parts and the template data,
// as the sample values render them with the sample brand. After changing
// a template: go test ./billing -run Golden -update, and read the diff.
func TestEmailGolden(t *testing.T) {
	dir := filepath.Join("testdata", "emails")
	if *update {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	want := map[string]bool{}
	for _, p := range Purposes() {
		for _, cur := range SampleCurrencies() {
			name := p + "." + cur + ".golden"
			want[name] = true
			t.Run(p+"/"+cur, func(t *testing.T) {
				m, err := RenderEmail(p, EmailSample(p, cur), SampleBrand())
				if err != nil {
					t.Fatal(err)
				}
				got := goldenEmail(t, m)
				path := filepath.Join(dir, name)
				if *update {
					if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
						t.Fatal(err)
					}
					return
				}
				b, err := os.ReadFile(path)
				if err != nil {
					t.Fatalf("%v (run go test ./billing -run Golden -update)", err)
				}
				if string(b) != got {
					t.Errorf("%s differs from the rendering (go test ./billing -run Golden -update rewrites it):\n%s", path, firstDiff(string(b), got))
				}
			})
		}
	}
	// No golden file outlives its purpose.
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if !want[e.Name()] {
			t.Errorf("%s is no purpose's golden file", filepath.Join(dir, e.Name()))
		}
	}
}

// firstDiff shows the first line where two texts differ.
func firstDiff(a, b string) string {
	al, bl := strings.Split(a, "\n"), strings.Split(b, "\n")
	for i := range max(len(al), len(bl)) {
		var x, y string
		if i < len(al) {
			x = al[i]
		}
		if i < len(bl) {
			y = bl[i]
		}
		if x != y {
			return "line " + strconv.Itoa(i+1) + ":\n  golden:    " + x + "\n  rendered:  " + y
		}
	}
	return ""
}

// Each purpose has exactly one template file, and every template renders
// with no vars at all (an older command, a field the core left out)
// without error and without Go's "<no value>".
func TestEveryPurposeHasItsTemplate(t *testing.T) {
	files, err := fs.Glob(emailFiles, "emails/*.tmpl")
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, f := range files {
		if n := strings.TrimSuffix(filepath.Base(f), ".tmpl"); n != "_base" {
			names = append(names, n)
		}
	}
	if !slices.Equal(names, Purposes()) {
		t.Errorf("template files %v, purposes %v", names, Purposes())
	}
	for _, p := range Purposes() {
		for _, vars := range []map[string]string{nil, EmailSample(p, "usd")} {
			m, err := RenderEmail(p, vars, Brand{})
			if err != nil {
				t.Fatalf("%s: %v", p, err)
			}
			all := m.Subject + m.Text + m.HTML
			if m.Subject == "" || m.Text == "" || !strings.HasPrefix(m.HTML, "<!DOCTYPE html>") || strings.Contains(all, "no value") {
				t.Errorf("%s: subject %q text %q", p, m.Subject, m.Text)
			}
			if strings.Contains(m.Subject, "\n") || strings.Contains(m.Data.Preheader, "\n") {
				t.Errorf("%s: subject or preheader spans lines", p)
			}
		}
	}
}
