package sendgridapi_test

import (
	"net/http"
	"slices"
	"testing"
)

// A dynamic transactional template's ID, as SendGrid shows them.
const templateID = "d-13b8f94fbcae4ec6b75a2e0b3b8a0d2a"

// A dynamic template message is checked like Mail Send checks it:
// template_id is a d-… ID, the values travel in each personalization's
// dynamic_template_data (an object), no content beside the template, and
// no dynamic_template_data without a template. The accepted message is
// recorded with its template ID and data, and needs no subject.
func TestDynamicTemplateShape(t *testing.T) {
	const head = `{"from":{"email":"billing@payflow.example","name":"Northwind Studio"},"reply_to":{"email":"support@northwind.example"},`
	cases := []struct {
		name   string
		body   string
		fields []string // the refused fields; nil: accepted
	}{
		{"template with its data", head + `"template_id":"` + templateID + `","personalizations":[{"to":[{"email":"jenny@example.com"}],
			"dynamic_template_data":{"amount":"$19.00","amount_minor":1900,"customer_name":"Jenny Rosen","nothing_to_pay":false}}]}`, nil},
		{"template without data", head + `"template_id":"` + templateID + `","personalizations":[{"to":[{"email":"jenny@example.com"}]}]}`, nil},
		{"legacy template ID", head + `"template_id":"13b8f94f-bcae-4ec6-b75a-2e0b3b8a0d2a","personalizations":[{"to":[{"email":"jenny@example.com"}],"dynamic_template_data":{"a":"b"}}]}`,
			[]string{"template_id"}},
		{"short template ID", head + `"template_id":"d-123","personalizations":[{"to":[{"email":"jenny@example.com"}]}]}`, []string{"template_id"}},
		{"content beside the template", head + `"template_id":"` + templateID + `","personalizations":[{"to":[{"email":"jenny@example.com"}],"dynamic_template_data":{"a":"b"}}],
			"content":[{"type":"text/plain","value":"Thanks"},{"type":"text/html","value":"<p>Thanks</p>"}]}`, []string{"content"}},
		{"data without a template", head + `"subject":"s","personalizations":[{"to":[{"email":"jenny@example.com"}],"dynamic_template_data":{"a":"b"}}],
			"content":[{"type":"text/plain","value":"v"}]}`, []string{"template_id"}},
		{"data not an object", head + `"template_id":"` + templateID + `","personalizations":[{"to":[{"email":"jenny@example.com"}],"dynamic_template_data":"amount=19"}]}`,
			[]string{"personalizations.dynamic_template_data"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			srv, url := start(t)
			res := rawSend(t, url, key, tc.body)
			if tc.fields == nil {
				if res.StatusCode != http.StatusAccepted {
					t.Fatalf("status %d %s", res.StatusCode, res.Body)
				}
				m := srv.Messages()[0]
				if m.TemplateID != templateID || m.Subject != "" || m.Text != "" || m.HTML != "" || m.ReplyTo != "support@northwind.example" || m.FromName != "Northwind Studio" {
					t.Errorf("recorded %+v", m)
				}
				return
			}
			if res.StatusCode != http.StatusBadRequest {
				t.Fatalf("status %d %s, want 400", res.StatusCode, res.Body)
			}
			if got := fields(decodeErrors(t, res)); !slices.Equal(got, tc.fields) {
				t.Errorf("refused fields %v, want %v (%s)", got, tc.fields, res.Body)
			}
			if n := len(srv.Messages()); n != 0 {
				t.Errorf("%d messages recorded", n)
			}
		})
	}
	// The values are recorded as sent: numbers, booleans, text.
	srv, url := start(t)
	rawSend(t, url, key, cases[0].body)
	d := srv.Messages()[0].TemplateData
	if d["amount"] != "$19.00" || d["amount_minor"] != float64(1900) || d["customer_name"] != "Jenny Rosen" || d["nothing_to_pay"] != false {
		t.Errorf("template data %v", d)
	}
}
