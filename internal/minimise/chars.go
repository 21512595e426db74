package minimise

import (
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/intelgate/intelgate/internal/indicator"
)

// Character classes and small scanners the readings share.

// isPunctSep reports the characters besides whitespace that free text
// is cut at: ',', ';', '|' and '=' ("ip=10.0.0.1"), and their full-width
// and ideographic forms.
func isPunctSep(r rune) bool {
	switch r {
	case ',', ';', '|', '=', '\uff0c', '\uff1b', '\uff5c', '\uff1d', '\u3001', '\ufe50':
		return true
	}
	return false
}

func isSep(r rune) bool { return isPunctSep(r) || unicode.IsSpace(r) }

// sepIndex finds the first rune of t that sep reports: its index and
// length, or -1.
func sepIndex(t string, sep func(rune) bool) (int, int) {
	for i := 0; i < len(t); {
		c := t[i]
		if c < utf8.RuneSelf {
			if sep(rune(c)) {
				return i, 1
			}
			i++
			continue
		}
		r, n := utf8.DecodeRuneInString(t[i:])
		if sep(r) {
			return i, n
		}
		i += n
	}
	return -1, 0
}

func hasSep(t string) bool {
	i, _ := sepIndex(t, isSep)
	return i >= 0
}

func hasSpace(t string) bool { return strings.IndexFunc(t, unicode.IsSpace) >= 0 }

// canonDomain brings a name to the indicator package's domain form, but
// for ASCII case, which lookupSuffix folds. The values Parse makes already
// are (the fast path, no copy), and so is a plain ASCII name; anything
// else goes through Parse itself, and a name Parse refuses is still
// compared: refusing to look is not an option for a rule that withholds.
func canonDomain(d string) string {
	d = strings.TrimRight(d, ".")
	if isPlainName(d) {
		return d
	}
	if ind, err := indicator.Parse(d, indicator.Domain); err == nil {
		return ind.Value
	}
	return d
}

// isPlainName reports a name made only of what normalised domains hold,
// in either case: letters, digits, '-', '_' and '.'.
func isPlainName(d string) bool {
	if d == "" {
		return false
	}
	for i := 0; i < len(d); i++ {
		c := d[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_' || c == '.') {
			return false
		}
	}
	return true
}

func hashLen(t indicator.Type) int {
	switch t {
	case indicator.MD5:
		return 32
	case indicator.SHA1:
		return 40
	}
	return 64
}

func isHex(s string) bool {
	for i := 0; i < len(s); i++ {
		if !isHexDigit(s[i]) {
			return false
		}
	}
	return s != ""
}

func isHexDigit(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

func unhex(c byte) byte {
	switch {
	case c <= '9':
		return c - '0'
	case c >= 'a':
		return c - 'a' + 10
	}
	return c - 'A' + 10
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// scanHost reports whether h is all ASCII and whether it holds a tab, CR
// or LF, in one pass.
func scanHost(h string) (ascii, tabs bool) {
	ascii = true
	for i := 0; i < len(h); i++ {
		switch c := h[i]; {
		case c >= utf8.RuneSelf:
			ascii = false
		case c == '\t' || c == '\n' || c == '\r':
			tabs = true
		}
	}
	return ascii, tabs
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}
