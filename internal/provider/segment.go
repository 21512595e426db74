package provider

import (
	"net/url"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// UnsafeIndicatorError is ErrUnsafeIndicator with the rule the value broke,
// so the client learns what to change. Reason is one of a fixed set of short
// phrases ("contains '/'") and never quotes the value: the value is the
// indicator, and error details reach clients and logs.
type UnsafeIndicatorError struct {
	Reason string
}

func (e *UnsafeIndicatorError) Error() string {
	return "indicator cannot be placed in a path segment: it " + e.Reason
}

// Is makes errors.Is(err, ErrUnsafeIndicator) hold, so callers that only
// need the class (the pipeline's refund, the gateway's 400) need not know
// the type.
func (e *UnsafeIndicatorError) Is(target error) bool { return target == ErrUnsafeIndicator }

// segmentRunes are the characters an indicator placed in a path segment
// must not contain, with why. Percent-encoding them is not enough, because
// the request does not end at the first server that reads it: a proxy in
// front of the API (nginx with a URI in proxy_pass, most CDNs and API
// gateways) decodes the path, resolves dot segments and re-encodes what it
// forwards, and a backend may decode once more. Whatever depth of encoding we
// chose, one more decoder in the chain than we planned for turns the
// indicator back into syntax, with the provider's key attached.
var segmentRunes = map[rune]string{
	'/':  "contains '/', a path separator",
	'\\': "contains '\\', which many servers read as a path separator",
	'%':  "contains '%', which a server that decodes twice would read as an escape",
	'?':  "contains '?', which ends the path once decoded",
	'#':  "contains '#', which ends the path once decoded",
	';':  "contains ';', which starts path parameters on Java servers ('..;' acts as '..')",
	// Compatibility look-alikes that NFKC keeps, but that Windows "best fit"
	// code-page conversion (and some WAF normalisers) map to a separator.
	'\u2215': "contains a character that some servers map to '/'",  // DIVISION SLASH
	'\u2044': "contains a character that some servers map to '/'",  // FRACTION SLASH
	'\u29f8': "contains a character that some servers map to '/'",  // BIG SOLIDUS
	'\u2216': "contains a character that some servers map to '\\'", // SET MINUS
	'\u29f5': "contains a character that some servers map to '\\'", // REVERSE SOLIDUS OPERATOR
	'\u29f9': "contains a character that some servers map to '\\'", // BIG REVERSE SOLIDUS
	'\u00a5': "contains a character that some servers map to '\\'", // YEN SIGN: 0x5C in code page 932
	'\u20a9': "contains a character that some servers map to '\\'", // WON SIGN: 0x5C in code page 949
}

// segmentUnsafe reports why value cannot be the whole or part of one path
// segment, or "" when it can. It checks the value as sent and its NFKC
// form, because servers and WAFs that normalise Unicode turn a full-width
// solidus (U+FF0F) into '/' and a two dot leader (U+2025) into "..".
//
// The rule, documented in docs/providers.md: refused when the value (or its
// NFKC form) is not valid UTF-8, contains a control character, one of
// segmentRunes, or consists only of dots (".", "..", "..." — Windows servers
// also drop trailing dots and spaces, so spaces among the dots count too).
func segmentUnsafe(value string) string {
	if value == "" {
		return "is empty"
	}
	if !utf8.ValidString(value) {
		// Go would percent-encode the bytes as sent, and a lenient decoder
		// reads an overlong form such as C0 AF as '/'.
		return "is not valid UTF-8"
	}
	if reason := segmentRuneReason(value); reason != "" {
		return reason
	}
	if onlyDots(value) {
		return "is a dot segment ('.' or '..'), which servers resolve"
	}
	nfkc := norm.NFKC.String(value)
	if nfkc == value {
		return ""
	}
	if reason := segmentRuneReason(nfkc); reason != "" {
		return reason + " once Unicode-normalised (NFKC)"
	}
	if onlyDots(nfkc) {
		return "is a dot segment ('.' or '..') once Unicode-normalised (NFKC)"
	}
	return ""
}

func segmentRuneReason(s string) string {
	for _, r := range s {
		if reason, ok := segmentRunes[r]; ok {
			return reason
		}
		switch {
		case unicode.IsControl(r):
			return "contains a control character"
		case unicode.In(r, unicode.Cf, unicode.Zl, unicode.Zp):
			// Soft hyphen, zero-width space, BOM, tag characters: invisible,
			// and deleted by the normalisers some WAFs and servers apply
			// ("..\u00ad" would become "..").
			return "contains an invisible formatting character, which some normalisers delete"
		}
	}
	return ""
}

// dots are the characters that read as '.' to some server on the way:
// '.', and the ideographic and half-width full stops IDNA-style mappings
// turn into one.
const dots = ".\u3002\uff61"

// onlyDots reports whether s is made of dots and spaces and has a dot:
// Windows servers drop trailing dots and spaces, so ". ." is ".." to them.
func onlyDots(s string) bool {
	return strings.ContainsAny(s, dots) && strings.Trim(s, dots+" ") == ""
}

// dotSegment reports whether a segment of the escaped path — the value
// together with the template's literal text around it — reads as a dot
// segment once unescaped, normalised (NFKC) and trimmed as onlyDots does.
func dotSegment(escaped string) bool {
	for seg := range strings.SplitSeq(escaped, "/") {
		raw, err := url.PathUnescape(seg)
		if err != nil {
			return true
		}
		if onlyDots(raw) || onlyDots(norm.NFKC.String(raw)) {
			return true
		}
	}
	return false
}
