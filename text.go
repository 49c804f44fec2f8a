package payflow

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// OneLine makes s one line of printable text of at most max characters:
// control characters, line breaks and other spaces become one space, and
// leading and trailing space goes. Text from Stripe that people typed (a
// customer's name) passes through it before it reaches an email.
func OneLine(s string, max int) string {
	if s == "" {
		return ""
	}
	if !utf8.ValidString(s) {
		s = strings.ToValidUTF8(s, "")
	}
	var b strings.Builder
	space, n := false, 0
	for _, r := range s {
		if unicode.IsSpace(r) || !unicode.IsPrint(r) || r == utf8.RuneError {
			space = b.Len() > 0
			continue
		}
		if n >= max {
			break
		}
		if space {
			if n+1 >= max {
				break
			}
			b.WriteByte(' ')
			n++
			space = false
		}
		b.WriteRune(r)
		n++
	}
	return b.String()
}

// MaxNameLen bounds a customer's name in events and emails.
const MaxNameLen = 100

// CleanName is a customer's name as payflow keeps it: OneLine, at most
// MaxNameLen characters.
func CleanName(s string) string { return OneLine(s, MaxNameLen) }
