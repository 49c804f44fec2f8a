package sendgridapi_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sendgrid/rest"
	"github.com/sendgrid/sendgrid-go"
	"github.com/sendgrid/sendgrid-go/helpers/mail"

	"github.com/payflow/payflow/fakes/sendgridapi"
)

const key = "SG.fake-key.for-payflow"

func start(t *testing.T) (*sendgridapi.Server, string) {
	t.Helper()
	srv := sendgridapi.New(key)
	url, stop := srv.Start()
	t.Cleanup(stop)
	return srv, url
}

// rawSend posts body with sendgrid-go's request builder pointed at the fake.
func rawSend(t *testing.T, url, apiKey, body string) *rest.Response {
	t.Helper()
	req := sendgrid.GetRequest(apiKey, "/v3/mail/send", url)
	req.Method = rest.Post
	req.Body = []byte(body)
	res, err := sendgrid.API(req)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

type sgErrors struct {
	Errors []struct {
		Message string  `json:"message"`
		Field   *string `json:"field"`
		Help    *string `json:"help"`
	} `json:"errors"`
}

func decodeErrors(t *testing.T, res *rest.Response) sgErrors {
	t.Helper()
	var e sgErrors
	if err := json.Unmarshal([]byte(res.Body), &e); err != nil {
		t.Fatalf("error body %q: %v", res.Body, err)
	}
	return e
}

func fields(e sgErrors) []string {
	var out []string
	for _, x := range e.Errors {
		f := "<null>"
		if x.Field != nil {
			f = *x.Field
		}
		out = append(out, f)
	}
	return out
}

func TestSendWithClient(t *testing.T) {
	srv, url := start(t)
	c := sendgrid.NewSendClient(key)
	c.BaseURL = url + "/v3/mail/send"

	m := mail.NewSingleEmail(mail.NewEmail("Payflow", "billing@payflow.example"), "Your receipt",
		mail.NewEmail("Jenny Rosen", "jenny@example.com"), "Thanks for your payment.", "<p>Thanks for your payment.</p>")
	m.SetCustomArg("dedupe_key", "receipt/pi_123")
	m.AddCategories("receipt")
	m.SetReplyTo(mail.NewEmail("", "support@payflow.example"))
	res, err := c.Send(m)
	if err != nil {
		t.Fatal(err)
	}
	id := res.Headers["X-Message-Id"]
	if res.StatusCode != http.StatusAccepted || res.Body != "" || len(id) != 1 || len(id[0]) != 22 {
		t.Fatalf("response %d %q headers %v", res.StatusCode, res.Body, res.Headers)
	}
	msgs := srv.Messages()
	if len(msgs) != 1 {
		t.Fatalf("%d messages", len(msgs))
	}
	got := msgs[0]
	if got.MessageID != id[0] || !slices.Equal(got.To, []string{"jenny@example.com"}) || got.From != "billing@payflow.example" || got.FromName != "Payflow" ||
		got.Subject != "Your receipt" || got.Text != "Thanks for your payment." || got.HTML != "<p>Thanks for your payment.</p>" ||
		got.CustomArgs["dedupe_key"] != "receipt/pi_123" || !slices.Equal(got.Categories, []string{"receipt"}) || got.ReplyTo != "support@payflow.example" {
		t.Errorf("message %+v", got)
	}
}

func TestSendWithGetRequest(t *testing.T) {
	srv, url := start(t)
	m := mail.NewV3Mail()
	m.SetFrom(mail.NewEmail("", "billing@payflow.example"))
	m.SetTemplateID(templateID) // a template supplies subject and content
	p := mail.NewPersonalization()
	p.AddTos(mail.NewEmail("", "a@example.com"), mail.NewEmail("", "b@example.com"))
	p.SetDynamicTemplateData("amount", "$20.00")
	p.SetCustomArg("purpose", "dunning")
	m.AddPersonalizations(p)

	req := sendgrid.GetRequest(key, "/v3/mail/send", url)
	req.Method = rest.Post
	req.Body = mail.GetRequestBody(m)
	res, err := sendgrid.API(req)
	if err != nil || res.StatusCode != http.StatusAccepted {
		t.Fatalf("%v %d %s", err, res.StatusCode, res.Body)
	}
	got := srv.Messages()[0]
	if !slices.Equal(got.To, []string{"a@example.com", "b@example.com"}) || got.TemplateID != templateID || got.TemplateData["amount"] != "$20.00" || got.CustomArgs["purpose"] != "dunning" {
		t.Errorf("message %+v", got)
	}
}

func TestAuth(t *testing.T) {
	srv, url := start(t)
	body := `{"personalizations":[{"to":[{"email":"a@example.com"}]}],"from":{"email":"b@example.com"},"subject":"s","content":[{"type":"text/plain","value":"v"}]}`
	res := rawSend(t, url, "SG.wrong", body)
	e := decodeErrors(t, res)
	if res.StatusCode != 401 || len(e.Errors) != 1 || e.Errors[0].Message != "The provided authorization grant is invalid, expired, or revoked" || e.Errors[0].Field != nil {
		t.Errorf("wrong key: %d %s", res.StatusCode, res.Body)
	}
	hres, err := http.Post(url+"/v3/mail/send", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	hres.Body.Close()
	if hres.StatusCode != 401 {
		t.Errorf("no key: %d", hres.StatusCode)
	}
	if n := len(srv.Messages()); n != 0 || srv.Attempts() != 0 {
		t.Errorf("unauthenticated requests recorded: %d messages, %d attempts", n, srv.Attempts())
	}
}

func TestValidation(t *testing.T) {
	srv, url := start(t)
	cases := []struct {
		name, body string
		fields     []string
		message    string
	}{
		{"empty", `{}`, []string{"from.email", "personalizations", "subject", "content"}, "The from object must be provided for every email send"},
		{"bad json", `{"personalizations": [`, []string{"<null>"}, "Bad Request"},
		{"wrong type", `{"from": ["x"]}`, []string{"from"}, "Invalid type. Expected: object, given: array."},
		{"no to", `{"personalizations":[{"to":[]}],"from":{"email":"b@example.com"},"subject":"s","content":[{"type":"text/plain","value":"v"}]}`,
			[]string{"personalizations.0.to"}, "The to array is required"},
		{"bad to", `{"personalizations":[{"to":[{"email":"a@example.com"},{"email":"not-an-address"}]}],"from":{"email":"b@example.com"},"subject":"s","content":[{"type":"text/plain","value":"v"}]}`,
			[]string{"personalizations.0.to.1.email"}, "Does not contain a valid address."},
		{"bad from", `{"personalizations":[{"to":[{"email":"a@example.com"}]}],"from":{"email":"billing"},"subject":"s","content":[{"type":"text/plain","value":"v"}]}`,
			[]string{"from.email"}, "The from email does not contain a valid address."},
		{"duplicate", `{"personalizations":[{"to":[{"email":"a@example.com"}],"cc":[{"email":"A@example.com"}]}],"from":{"email":"b@example.com"},"subject":"s","content":[{"type":"text/plain","value":"v"}]}`,
			[]string{"personalizations.0."}, "Each email address in the personalization block should be unique"},
		{"empty content", `{"personalizations":[{"to":[{"email":"a@example.com"}]}],"from":{"email":"b@example.com"},"subject":"s","content":[{"type":"text/plain","value":""}]}`,
			[]string{"content.0.value"}, "The content value must be a string at least one character in length."},
		{"content order", `{"personalizations":[{"to":[{"email":"a@example.com"}]}],"from":{"email":"b@example.com"},"subject":"s","content":[{"type":"text/html","value":"<p>v</p>"},{"type":"text/plain","value":"v"}]}`,
			[]string{"content"}, "If present, text/plain content must be first"},
	}
	for _, c := range cases {
		res := rawSend(t, url, key, c.body)
		if res.StatusCode != http.StatusBadRequest {
			t.Errorf("%s: status %d %s", c.name, res.StatusCode, res.Body)
			continue
		}
		e := decodeErrors(t, res)
		if got := fields(e); !slices.Equal(got, c.fields) || !strings.HasPrefix(e.Errors[0].Message, c.message) {
			t.Errorf("%s: fields %v first message %q; want %v, %q", c.name, got, e.Errors[0].Message, c.fields, c.message)
		}
		if c.name == "empty" && (e.Errors[0].Help == nil || !strings.HasPrefix(*e.Errors[0].Help, "http://sendgrid.com/docs/API_Reference/Web_API_v3/Mail/errors.html#message.from")) {
			t.Errorf("help link %v", e.Errors[0].Help)
		}
	}
	// Every personalization has a subject: no top-level subject needed.
	res := rawSend(t, url, key, `{"personalizations":[{"to":[{"email":"a@example.com"}],"subject":"Hi"}],"from":{"email":"b@example.com"},"content":[{"type":"text/plain","value":"v"}]}`)
	if res.StatusCode != http.StatusAccepted {
		t.Errorf("per-personalization subject: %d %s", res.StatusCode, res.Body)
	}
	if msgs := srv.Messages(); len(msgs) != 1 || msgs[0].Subject != "Hi" {
		t.Errorf("messages %+v", msgs)
	}
}

func TestFailNext(t *testing.T) {
	srv, url := start(t)
	body := `{"personalizations":[{"to":[{"email":"a@example.com"}]}],"from":{"email":"b@example.com"},"subject":"s","content":[{"type":"text/plain","value":"v"}]}`
	srv.FailNext(2, http.StatusServiceUnavailable)
	for i := range 2 {
		res := rawSend(t, url, key, body)
		if e := decodeErrors(t, res); res.StatusCode != 503 || len(e.Errors) != 1 {
			t.Errorf("attempt %d: %d %s", i, res.StatusCode, res.Body)
		}
	}
	if res := rawSend(t, url, key, body); res.StatusCode != http.StatusAccepted {
		t.Errorf("after the failures: %d", res.StatusCode)
	}

	// sendgrid-go's retrying sender waits out a 429 and succeeds.
	srv.FailNext(1, http.StatusTooManyRequests)
	req := sendgrid.GetRequest(key, "/v3/mail/send", url)
	req.Method = rest.Post
	req.Body = []byte(body)
	res, err := sendgrid.MakeRequestRetry(req)
	if err != nil || res.StatusCode != http.StatusAccepted {
		t.Fatalf("retry after 429: %v %v", err, res)
	}
	if n, a := len(srv.Messages()), srv.Attempts(); n != 2 || a != 5 {
		t.Errorf("%d messages, %d attempts; want 2 and 5", n, a)
	}
}

func TestConcurrentSends(t *testing.T) {
	srv, url := start(t)
	var wg sync.WaitGroup
	for i := range 25 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := sendgrid.NewSendClient(key)
			c.BaseURL = url + "/v3/mail/send"
			m := mail.NewSingleEmailPlainText(mail.NewEmail("", "b@example.com"), "s", mail.NewEmail("", fmt.Sprintf("u%d@example.com", i)), "v")
			if res, err := c.Send(m); err != nil || res.StatusCode != http.StatusAccepted {
				t.Errorf("send %d: %v %v", i, err, res)
			}
		}()
	}
	wg.Wait()
	ids := map[string]bool{}
	for _, m := range srv.Messages() {
		ids[m.MessageID] = true
	}
	if len(ids) != 25 {
		t.Errorf("%d distinct message IDs, want 25", len(ids))
	}
}

func TestFailFor(t *testing.T) {
	srv, url := start(t)
	to := func(addr string) string {
		return `{"personalizations":[{"to":[{"email":"` + addr + `"}]}],"from":{"email":"b@example.com"},"subject":"s","content":[{"type":"text/plain","value":"v"}]}`
	}
	srv.FailFor("Slow@Example.com", 2, http.StatusServiceUnavailable)
	if res := rawSend(t, url, key, to("other@example.com")); res.StatusCode != http.StatusAccepted {
		t.Fatalf("another recipient: %d %s", res.StatusCode, res.Body)
	}
	for i := range 2 {
		if res := rawSend(t, url, key, to("slow@example.com")); res.StatusCode != http.StatusServiceUnavailable {
			t.Errorf("attempt %d: %d %s", i, res.StatusCode, res.Body)
		}
	}
	if res := rawSend(t, url, key, to("slow@example.com")); res.StatusCode != http.StatusAccepted {
		t.Errorf("after the failures: %d", res.StatusCode)
	}
	if n, a := len(srv.Messages()), srv.AttemptsTo("slow@example.com"); n != 2 || a != 3 {
		t.Errorf("%d messages, %d attempts to slow@; want 2 and 3", n, a)
	}
}

func TestFailUntil(t *testing.T) {
	srv, url := start(t)
	body := `{"personalizations":[{"to":[{"email":"a@example.com"}]}],"from":{"email":"b@example.com"},"subject":"s","content":[{"type":"text/plain","value":"v"}]}`
	srv.FailUntil(time.Now().Add(time.Hour), http.StatusServiceUnavailable)
	for i := range 3 {
		res := rawSend(t, url, key, body)
		if e := decodeErrors(t, res); res.StatusCode != http.StatusServiceUnavailable || len(e.Errors) != 1 {
			t.Errorf("attempt %d during the outage: %d %s", i, res.StatusCode, res.Body)
		}
	}
	srv.FailUntil(time.Now(), http.StatusServiceUnavailable) // the outage ends
	if res := rawSend(t, url, key, body); res.StatusCode != http.StatusAccepted {
		t.Errorf("after the outage: %d %s", res.StatusCode, res.Body)
	}
	if n, a := len(srv.Messages()), srv.Attempts(); n != 1 || a != 4 {
		t.Errorf("%d messages, %d attempts; want 1 and 4", n, a)
	}
}

func TestHangUntil(t *testing.T) {
	srv, url := start(t)
	body := `{"personalizations":[{"to":[{"email":"a@example.com"}]}],"from":{"email":"b@example.com"},"subject":"s","content":[{"type":"text/plain","value":"v"}]}`
	post := func(timeout time.Duration) (*http.Response, error) {
		req, _ := http.NewRequest(http.MethodPost, url+"/v3/mail/send", strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+key)
		req.Header.Set("Content-Type", "application/json")
		return (&http.Client{Timeout: timeout}).Do(req)
	}
	until := time.Now().Add(400 * time.Millisecond)
	srv.HangUntil(until)

	// A client that gives up gets no answer.
	if res, err := post(100 * time.Millisecond); err == nil {
		res.Body.Close()
		t.Fatalf("a hanging send answered %d", res.StatusCode)
	}
	// A patient client waits until the hang ends and then loses the
	// connection, still without an answer.
	res, err := post(5 * time.Second)
	if err == nil {
		res.Body.Close()
		t.Fatalf("a hanging send answered %d", res.StatusCode)
	}
	if early := time.Until(until); early > 50*time.Millisecond {
		t.Errorf("the connection dropped %s before the hang ended (%v)", early, err)
	}
	if res, err := post(5 * time.Second); err != nil || res.StatusCode != http.StatusAccepted {
		t.Fatalf("after the hang: %v %v", res, err)
	} else {
		res.Body.Close()
	}
	if n, a := len(srv.Messages()), srv.Attempts(); n != 1 || a != 3 {
		t.Errorf("%d messages, %d attempts; want 1 and 3", n, a)
	}
}
