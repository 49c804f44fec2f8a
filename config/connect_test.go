package config

import (
	"bytes"
	"strings"
	"testing"

	"github.com/payflow/payflow/webhook"
)

// STRIPE_LIVEMODE follows the API key unless set; a key of one mode with
// the other mode set is refused at startup.
func TestLivemodeFromTheKey(t *testing.T) {
	for _, tc := range []struct {
		name, key, mode, want, err string
	}{
		{"no key (dev)", "", "", webhook.LivemodeAny, ""},
		{"live secret key", "sk_live_abc", "", webhook.LivemodeLive, ""},
		{"live restricted key", "rk_live_abc", "", webhook.LivemodeLive, ""},
		{"test secret key", "sk_test_abc", "", webhook.LivemodeTest, ""},
		{"test restricted key", "rk_test_abc", "", webhook.LivemodeTest, ""},
		{"unknown key shape", "sk_integration", "", webhook.LivemodeAny, ""},
		{"explicit any with a live key", "sk_live_abc", "any", webhook.LivemodeAny, ""},
		{"explicit test without a key", "", "test", webhook.LivemodeTest, ""},
		{"explicit, same as the key", "sk_live_abc", "live", webhook.LivemodeLive, ""},
		{"upper case", "", "LIVE", webhook.LivemodeLive, ""},
		{"live key, test mode", "sk_live_abcdefgh1234", "test", "", "STRIPE_LIVEMODE: test, but STRIPE_API_KEY is a live-mode key"},
		{"test key, live mode", "rk_test_abc", "live", "", "STRIPE_LIVEMODE: live, but STRIPE_API_KEY is a test-mode key"},
		{"nonsense", "", "production", "", `STRIPE_LIVEMODE: want live, test or any, got "production"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := Load(env(map[string]string{"STRIPE_API_KEY": tc.key, "STRIPE_LIVEMODE": tc.mode}))
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("error %v, want …%s…", err, tc.err)
				}
				if strings.Contains(err.Error(), "abcdefgh") {
					t.Errorf("the error shows the key: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if c.Livemode != tc.want || c.Acceptance().Livemode != tc.want {
				t.Fatalf("livemode %q (acceptance %q), want %q", c.Livemode, c.Acceptance().Livemode, tc.want)
			}
		})
	}
}

func TestStripeAccounts(t *testing.T) {
	for _, tc := range []struct {
		name, value string
		all         bool
		accounts    string
		err         string
	}{
		{"unset: platform only", "", false, "", ""},
		{"every account", "*", true, "", ""},
		{"every account, spaces", " * ", true, "", ""},
		{"a list", "acct_1A, acct_1B,acct_1A,", false, "acct_1A,acct_1B", ""},
		{"not an account", "acct_1A,cus_1", false, "", `STRIPE_ACCOUNTS: want connected account IDs acct_…`},
		{"bare prefix", "acct_", false, "", "STRIPE_ACCOUNTS"},
		{"a slash", "acct_1/x", false, "", "STRIPE_ACCOUNTS"},
		{"star in a list", "acct_1A,*", false, "", "STRIPE_ACCOUNTS: * (every connected account) stands alone"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := Load(env(map[string]string{"STRIPE_ACCOUNTS": tc.value}))
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("error %v, want …%s…", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			a := c.Acceptance()
			if a.AllAccounts != tc.all || strings.Join(a.Accounts, ",") != tc.accounts {
				t.Fatalf("acceptance %+v, want all %v accounts %q", a, tc.all, tc.accounts)
			}
		})
	}
}

// payflow config shows both.
func TestPrintShowsConnect(t *testing.T) {
	for _, tc := range []struct {
		env        map[string]string
		mode, acct string
	}{
		{map[string]string{}, "any", "(the platform's own events only)"},
		{map[string]string{"STRIPE_API_KEY": "sk_live_x", "STRIPE_ACCOUNTS": "*"}, "live", "* (every connected account, and the platform)"},
		{map[string]string{"STRIPE_LIVEMODE": "test", "STRIPE_ACCOUNTS": "acct_1A,acct_1B"}, "test", "acct_1A,acct_1B"},
	} {
		c, err := Load(env(tc.env))
		if err != nil {
			t.Fatal(err)
		}
		var b bytes.Buffer
		c.Print(&b)
		for _, want := range []string{"STRIPE_LIVEMODE", " " + tc.mode + "\n", "STRIPE_ACCOUNTS", " " + tc.acct + "\n"} {
			if !strings.Contains(b.String(), want) {
				t.Errorf("%v: config lacks %q:\n%s", tc.env, want, b.String())
			}
		}
	}
}
