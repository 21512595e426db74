package indicator

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// TestRefangForms covers the defanged spellings the common extractors
// (iocextract, ioc-finder, ioc-extractor) undo, and the look-alikes that
// must stay as written.
func TestRefangForms(t *testing.T) {
	t.Parallel()
	cases := map[string]string{
		// slashes and backslash-dots
		"https://example[.]com[/]path": "https://example.com/path",
		"http://x(/)y{/}z":             "http://x/y/z",
		`evil\.example\.com`:           "evil.example.com",
		`a\\.b`:                        "a.b",
		`a\b`:                          `a\b`,
		// spaces around bracketed dots and ats
		"example [.] com":            "example.com",
		"example [ . ] com":          "example.com",
		"example (dot) com":          "example.com",
		"alice [at] example [.] com": "alice@example.com",
		"alice [ @ ] example.com":    "alice@example.com",
		"[ [.] ]":                    ".",
		"x [:] 80":                   "x : 80", // only dots and ats take their spaces
		// spaced-out IPv4 addresses
		"192.168 . 1 . 1":   "192.168.1.1",
		"192 .168.1.1":      "192.168.1.1",
		"1 . 2 . 3 . 4":     "1.2.3.4",
		"1  .  2.3.4":       "1.2.3.4",
		"1 . 2 . 3":         "1 . 2 . 3", // not an address once joined
		"1 2.3.4.5":         "1 2.3.4.5", // a space between digits
		"1.2.3.4 5":         "1.2.3.4 5",
		"version 1 . 2 . 3": "version 1 . 2 . 3",
		// schemes
		"hxxp://x":   "http://x",
		"hXXp://x":   "http://x",
		"h**p://x":   "http://x",
		"h**ps://x":  "https://x",
		"h__p://x":   "http://x",
		"hxtp://x":   "http://x",
		"HTXPS://x":  "https://x",
		"fxp://x":    "ftp://x",
		"ftx://x":    "ftp://x",
		"fxps://x":   "ftps://x",
		"hxxp[:]//x": "http://x",
		"http[://]x": "http://x",
		"http://x":   "http://x",
		"hxxx://x":   "hxxx://x",
		"hp://x":     "hp://x",
		"h**pster":   "h**pster",
		"x h**p://y": "x h**p://y",
		// prose and look-alikes stay
		"example dot com":      "example dot com",
		"the quick. brown fox": "the quick. brown fox",
		"meet at noon":         "meet at noon",
		"[2001:db8::1]:443":    "[2001:db8::1]:443",
		"1.2.3":                "1.2.3",
	}
	for in, want := range cases {
		t.Run(in, func(t *testing.T) {
			t.Parallel()
			got := refang(in)
			require.Equal(t, want, got)
			require.Equal(t, got, refang(got), "refang is not a fixed point")
		})
	}
}

func TestParseDefanged(t *testing.T) {
	t.Parallel()
	runParseCases(t, []parseCase{
		{name: "url h**ps and [/]", raw: "h**ps://evil[.]com[/]login", wantType: URL, wantValue: "https://evil.com/login"},
		{name: "url fxp", raw: "fxp://files[.]example[.]com/a.zip", wantType: URL, wantValue: "ftp://files.example.com/a.zip"},
		{name: "url backslash dots", raw: `http://evil\.example\.com/`, wantType: URL, wantValue: "http://evil.example.com/"},
		{name: "domain spaced brackets", raw: "evil [.] example [dot] com", wantType: Domain, wantValue: "evil.example.com"},
		{name: "domain backslash dot", raw: `evil\.com`, wantType: Domain, wantValue: "evil.com"},
		{name: "email spaced", raw: "alice [at] example [.] com", wantType: Email, wantValue: "alice@example.com"},
		{name: "ipv4 spaced", raw: "192.168 . 1 . 1", wantType: IPv4, wantValue: "192.168.1.1"},
		{name: "ipv4 spaced before dot", raw: "192 .168.1.1", wantType: IPv4, wantValue: "192.168.1.1"},
		{name: "ipv4 backslash", raw: `10\.0\.0\.1`, wantType: IPv4, wantValue: "10.0.0.1"},
		{name: "cidr defanged", raw: "10[.]0[.]0[.]0[/]8", wantType: CIDR, wantValue: "10.0.0.0/8"},
		{name: "ipv4 with defanged port", raw: "1(.)2(.)3(.)4[:]443", wantType: IPv4, wantValue: "1.2.3.4", wantPort: 443},
		{name: "spaced version stays an error", raw: "1 . 2 . 3", wantErr: ErrTypeMismatch,
			wantMsg: "value is not a valid username: contains whitespace"},
	})
}

// TestNonIndicators pins values that must never become one of the
// indicator types with a shape of their own: prose, version numbers, file
// names, times. They stay errors or fall to username, the catch-all.
func TestNonIndicators(t *testing.T) {
	t.Parallel()
	runParseCases(t, []parseCase{
		{name: "version", raw: "1.2.3", wantErr: ErrTypeMismatch},
		{name: "v version", raw: "v2.0.1", wantType: Username, wantValue: "v2.0.1"},
		{name: "file name", raw: "setup.exe", wantType: Username, wantValue: "setup.exe"},
		{name: "dll", raw: "kernel32.dll", wantType: Username, wantValue: "kernel32.dll"},
		{name: "prose", raw: "hello world", wantErr: ErrTypeMismatch},
		{name: "prose with a dot", raw: "the quick. brown fox", wantErr: ErrTypeMismatch},
		{name: "prose with dot", raw: "example dot com", wantErr: ErrTypeMismatch},
		{name: "prose with at", raw: "alice at example dot com", wantErr: ErrTypeMismatch},
		{name: "word dot", raw: "evildotcom", wantType: Username, wantValue: "evildotcom"},
		{name: "time", raw: "12:30:45", wantType: Username, wantValue: "12:30:45"},
		{name: "short time", raw: "3:30:45", wantType: Username, wantValue: "3:30:45"},
		{name: "ratio", raw: "16:9", wantType: Username, wantValue: "16:9"},
		{name: "date", raw: "2024-03-29", wantType: Username, wantValue: "2024-03-29"},
		{name: "handle as", raw: "as2020", wantType: Username, wantValue: "as2020"},
		{name: "asn.1", raw: "ASN.1", wantType: Username, wantValue: "ASN.1"},
		{name: "hex word", raw: "0xdeadbeef", wantType: Username, wantValue: "0xdeadbeef"},
		{name: "wildcard alone", raw: "*", wantType: Username, wantValue: "*"},
		{name: "markdown file is a domain (.md is Moldova)", raw: "README.md", wantType: Domain, wantValue: "readme.md"},
	})
}
