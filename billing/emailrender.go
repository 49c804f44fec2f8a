package billing

import (
	"embed"
	"fmt"
	htmltemplate "html/template"
	"io/fs"
	"path"
	"strings"
	"sync"
	"text/template"
	"unicode/utf8"
)

// The built-in messages live in billing/emails: one file per purpose
// (<purpose>.tmpl) defining its "subject", "preheader", "body.text" and
// "body.html", beside _base.tmpl with the layouts and the pieces they
// share (greeting, facts, buttons, sign-off). Each file is parsed twice:
// with text/template for the subject, the preheader and the plain-text
// part, and with html/template, which escapes every value for its
// context, for the HTML part. The words of both parts sit side by side,
// so they say the same thing.
//
//go:embed emails/*.tmpl
var emailFiles embed.FS

// RenderedEmail is one message in both parts, with the data it was
// rendered from (what a SendGrid dynamic template receives instead).
type RenderedEmail struct {
	Subject string
	Text    string // the text/plain part (and the email ledger's body)
	HTML    string // the text/html part: a whole document
	Data    TemplateData
}

// RenderEmail renders a purpose's built-in message from the command's vars
// and the brand. It is pure: the same input gives the same bytes.
func RenderEmail(purpose string, vars map[string]string, brand Brand) (RenderedEmail, error) {
	sets, err := emailTemplates()
	if err != nil {
		return RenderedEmail{}, err
	}
	set, ok := sets[purpose]
	if !ok {
		return RenderedEmail{}, fmt.Errorf("no email text for purpose %q", purpose)
	}
	d := EmailData(purpose, vars, brand)
	text := func(name string) (string, error) {
		var b strings.Builder
		if err := set.text.ExecuteTemplate(&b, name, d); err != nil {
			return "", fmt.Errorf("email %s: %w", purpose, err)
		}
		return b.String(), nil
	}
	subject, err := text("subject")
	if err != nil {
		return RenderedEmail{}, err
	}
	d.Subject = oneLine(subject)
	preheader, err := text("preheader")
	if err != nil {
		return RenderedEmail{}, err
	}
	d.Preheader = oneLine(preheader)
	body, err := text("text")
	if err != nil {
		return RenderedEmail{}, err
	}
	var h strings.Builder
	if err := set.html.ExecuteTemplate(&h, "html", d); err != nil {
		return RenderedEmail{}, fmt.Errorf("email %s: %w", purpose, err)
	}
	return RenderedEmail{Subject: d.Subject, Text: tidy(body), HTML: tidy(h.String()) + "\n", Data: d}, nil
}

type emailSet struct {
	text *template.Template
	html *htmltemplate.Template
}

// emailTemplates parses the embedded templates once; they are read-only
// afterwards (safe for concurrent use).
var emailTemplates = sync.OnceValues(func() (map[string]emailSet, error) {
	base, err := fs.ReadFile(emailFiles, "emails/_base.tmpl")
	if err != nil {
		return nil, err
	}
	sets := map[string]emailSet{}
	for _, p := range Purposes() {
		file := "emails/" + p + ".tmpl"
		src, err := fs.ReadFile(emailFiles, file)
		if err != nil {
			return nil, fmt.Errorf("email %s: %w", p, err)
		}
		tt, err := template.New(p).Funcs(template.FuncMap(emailFuncs)).Option("missingkey=error").Parse(string(base))
		if err == nil {
			tt, err = tt.Parse(string(src))
		}
		if err != nil {
			return nil, fmt.Errorf("%s (text): %w", path.Base(file), err)
		}
		ht, err := htmltemplate.New(p).Funcs(htmltemplate.FuncMap(emailFuncs)).Option("missingkey=error").Parse(string(base))
		if err == nil {
			ht, err = ht.Parse(string(src))
		}
		if err != nil {
			return nil, fmt.Errorf("%s (html): %w", path.Base(file), err)
		}
		sets[p] = emailSet{text: tt, html: ht}
	}
	return sets, nil
})

// fact is one line of a message's summary table ("Amount paid  $19.00");
// Pad aligns the values in the text part.
type fact struct{ Label, Value, Pad string }

// link is a labelled URL: a button in the HTML part, "Label: URL" in text.
type link struct{ Label, URL string }

var emailFuncs = map[string]any{
	// facts "Label" value "Label" value …: the pairs whose value is set.
	"facts": func(pairs ...string) []fact {
		var out []fact
		width := 0
		for i := 0; i+1 < len(pairs); i += 2 {
			if pairs[i+1] != "" {
				out = append(out, fact{Label: pairs[i], Value: pairs[i+1]})
				width = max(width, utf8.RuneCountInString(pairs[i]))
			}
		}
		for i := range out {
			out[i].Pad = strings.Repeat(" ", width-utf8.RuneCountInString(out[i].Label))
		}
		return out
	},
	// link "Label" url; links "Label" url "Label" url …: those with a URL.
	"link": func(label, url string) link { return link{Label: label, URL: url} },
	"links": func(pairs ...string) []link {
		var out []link
		for i := 0; i+1 < len(pairs); i += 2 {
			if pairs[i+1] != "" {
				out = append(out, link{Label: pairs[i], URL: pairs[i+1]})
			}
		}
		return out
	},
}

// oneLine collapses a subject or preheader to one line; no-break spaces
// (between an amount and its symbol) stay.
func oneLine(s string) string {
	return strings.Join(strings.FieldsFunc(s, func(r rune) bool { return r == ' ' || r == '\n' || r == '\r' || r == '\t' }), " ")
}

// tidy trims trailing blanks from every line and keeps at most one empty
// line in a row, so templates can be laid out for people to read.
func tidy(s string) string {
	lines := strings.Split(s, "\n")
	out := lines[:0]
	blank := false
	for _, l := range lines {
		l = strings.TrimRight(l, " \t\r")
		if l == "" {
			if blank {
				continue
			}
			blank = true
		} else {
			blank = false
		}
		out = append(out, l)
	}
	return strings.TrimSpace(strings.Join(out, "\n"))
}
