package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	htmltemplate "html/template"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/payflow/payflow/activities"
	"github.com/payflow/payflow/billing"
	"github.com/payflow/payflow/config"
)

const emailsUsage = `Usage: payflow emails preview [-purpose P] [-currency C] [-out DIR]

  preview   render every email payflow sends (or one purpose) with realistic
            sample values: its HTML part (<purpose>.html), its text part
            (<purpose>.txt) and the dynamic_template_data a SendGrid template
            would get (<purpose>.json), with an index.html linking them all.
            EMAIL_BRAND_NAME, EMAIL_REPLY_TO and SENDGRID_TEMPLATES are read
            from the environment; without a brand the samples use one.
`

// emailSettings are the worker's email settings from the configuration.
func emailSettings(e config.Email) activities.EmailSettings {
	return activities.EmailSettings{Brand: billing.Brand{Name: e.BrandName, SupportEmail: e.ReplyTo}, Templates: e.Templates}
}

func runEmails(ctx context.Context, args []string, stdout io.Writer) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprint(os.Stderr, emailsUsage)
		if len(args) == 0 {
			return errors.New("missing command: preview")
		}
		return flag.ErrHelp
	}
	if args[0] != "preview" {
		fmt.Fprint(os.Stderr, emailsUsage)
		return fmt.Errorf("unknown command %q: preview", args[0])
	}
	fs := newFlags("emails preview", "emails preview [-purpose P] [-currency C] [-out DIR]")
	purpose := fs.String("purpose", "", "only this purpose ("+strings.Join(billing.Purposes(), ", ")+")")
	currency := fs.String("currency", "", "every message in this currency ("+strings.Join(billing.SampleCurrencies(), ", ")+"); default: the three in turn")
	out := fs.String("out", filepath.Join(".payflow", "email-preview"), "directory to write into (created)")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments: %s", strings.Join(fs.Args(), " "))
	}
	cfg, err := config.LoadEmail(os.Getenv)
	if err != nil {
		return fmt.Errorf("configuration:\n%w", err)
	}
	p := emailPreview{settings: emailSettings(cfg), currency: strings.ToLower(*currency)}
	if p.currency != "" && !slices.Contains(billing.SampleCurrencies(), p.currency) {
		return fmt.Errorf("-currency %q: the samples are in %s", *currency, strings.Join(billing.SampleCurrencies(), ", "))
	}
	purposes := billing.Purposes()
	if *purpose != "" {
		if !slices.Contains(purposes, *purpose) {
			return fmt.Errorf("unknown purpose %q (known: %s)", *purpose, strings.Join(purposes, ", "))
		}
		purposes = []string{*purpose}
	}
	sample := ""
	if p.settings.Brand.Name == "" {
		p.settings.Brand, sample = billing.SampleBrand(), " (sample brand: EMAIL_BRAND_NAME is not set)"
	}
	written, err := p.write(*out, purposes)
	if err != nil {
		return err
	}
	noun := "emails"
	if written == 1 {
		noun = "email"
	}
	fmt.Fprintf(stdout, "wrote %d %s for %s%s\nopen %s\n", written, noun, p.settings.Brand.Name, sample, filepath.Join(*out, "index.html"))
	return nil
}

// emailPreview renders sample emails into files.
type emailPreview struct {
	settings activities.EmailSettings
	currency string // "": the sample currencies in turn
}

// previewEntry is one purpose's row of index.html.
type previewEntry struct {
	Purpose, Audience, Currency, Subject, TemplateID string
	HTML, Text, JSON                                 string // file names
}

func (p emailPreview) write(dir string, purposes []string) (int, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return 0, err
	}
	var entries []previewEntry
	for _, purpose := range purposes {
		cur := p.currency
		if cur == "" {
			i := slices.Index(billing.Purposes(), purpose)
			cur = billing.SampleCurrencies()[i%len(billing.SampleCurrencies())]
		}
		m, err := billing.RenderEmail(purpose, billing.EmailSample(purpose, cur), p.settings.Brand)
		if err != nil {
			return 0, err
		}
		e := previewEntry{Purpose: purpose, Audience: "customer", Currency: strings.ToUpper(cur), Subject: m.Subject,
			TemplateID: p.settings.Templates[purpose], HTML: purpose + ".html", Text: purpose + ".txt", JSON: purpose + ".json"}
		if billing.IsOperatorPurpose(purpose) {
			e.Audience = "operator (ALERT_EMAIL)"
		}
		data, err := json.MarshalIndent(struct {
			Purpose    string               `json:"purpose"`
			TemplateID string               `json:"template_id,omitempty"`
			Data       billing.TemplateData `json:"dynamic_template_data"`
		}{purpose, e.TemplateID, m.Data}, "", "  ")
		if err != nil {
			return 0, err
		}
		text := "Subject: " + m.Subject + "\n\n" + m.Text + "\n"
		for name, body := range map[string]string{e.HTML: m.HTML, e.Text: text, e.JSON: string(data) + "\n"} {
			if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
				return 0, err
			}
		}
		entries = append(entries, e)
	}
	f, err := os.Create(filepath.Join(dir, "index.html"))
	if err != nil {
		return 0, err
	}
	if err := previewIndex.Execute(f, struct {
		Brand   billing.Brand
		Entries []previewEntry
	}{p.settings.Brand, entries}); err != nil {
		f.Close()
		return 0, err
	}
	return len(entries), f.Close()
}

var previewIndex = htmltemplate.Must(htmltemplate.New("index").Parse(`<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>payflow emails: {{.Brand.Name}}</title>
<style>
body { font-family: -apple-system, BlinkMacSystemFont, 'Segoe UI', Roboto, Helvetica, Arial, sans-serif; margin: 32px; color: #1a1f36; }
table { border-collapse: collapse; }
th, td { text-align: left; padding: 8px 12px; border-bottom: 1px solid #e3e8ee; vertical-align: top; }
th { color: #697386; font-weight: normal; }
code { font-size: 13px; }
</style>
</head>
<body>
<h1>payflow emails</h1>
<p>Every email payflow sends, rendered with sample values for {{.Brand.Name}}{{if .Brand.SupportEmail}} (replies to {{.Brand.SupportEmail}}){{end}}. Times are UTC.</p>
<table>
<tr><th>purpose</th><th>to</th><th>currency</th><th>subject</th><th>parts</th><th>SendGrid template</th></tr>
{{range .Entries}}<tr><td><code>{{.Purpose}}</code></td><td>{{.Audience}}</td><td>{{.Currency}}</td><td>{{.Subject}}</td>
<td><a href="{{.HTML}}">HTML</a> · <a href="{{.Text}}">text</a> · <a href="{{.JSON}}">template data</a></td>
<td>{{if .TemplateID}}<code>{{.TemplateID}}</code> (sent instead of the HTML and text){{else}}none: payflow's own HTML and text{{end}}</td></tr>
{{end}}</table>
</body>
</html>
`))
