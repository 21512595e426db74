// Package leak finds credential material in upstream answers before they
// reach a client or the cache.
//
// An upstream — or a debug endpoint, error page or misconfigured proxy in
// front of it — may reflect the request it received, Authorization header
// included, in its body. A gateway that returns a validated JSON object
// byte for byte would then hand the provider's key to every client. The
// Detector is built once from every secret a provider holds and checks a
// body in one pass over its bytes (Aho-Corasick over every spelling a
// reflecting server could produce), plus one pass over the decoded value of
// each JSON string that uses escapes, since "\u0041" and "A" are the same
// text to whoever reads the JSON.
package leak

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"strings"
	"unicode/utf16"
	"unicode/utf8"

	ahocorasick "github.com/BobuSumisu/aho-corasick"

	"github.com/intelgate/intelgate/internal/secret"
)

// minDerivedLen is the shortest derived spelling (a base64 middle, say)
// worth matching: shorter ones would match innocent text. A secret's raw
// form is always matched, whatever its length.
const minDerivedLen = 8

// Detector reports whether a body holds any of a fixed set of secrets, in
// any of the encodings Forms lists. It is immutable and safe for concurrent
// use; a changed key pool builds a new one.
type Detector struct {
	trie *ahocorasick.Trie // nil: no secrets, nothing to find
	// spaced: some secret holds a space, which a form body or query
	// string spells '+'; only then is '+' also read as a space.
	spaced bool
}

// New builds a Detector for secrets; zero values are skipped.
func New(secrets ...secret.Value) *Detector {
	var patterns []string
	seen := map[string]bool{}
	spaced := false
	for _, s := range secrets {
		if s.IsZero() {
			continue
		}
		spaced = spaced || strings.Contains(s.Reveal(), " ")
		for _, f := range Forms(s.Reveal()) {
			if !seen[f] {
				seen[f] = true
				patterns = append(patterns, f)
			}
		}
	}
	if len(patterns) == 0 {
		return &Detector{}
	}
	return &Detector{trie: ahocorasick.NewTrieBuilder().AddStrings(patterns).Build(), spaced: spaced}
}

// Forms are the spellings of s matched directly: raw (which covers
// "Bearer s" and any text around it), base64 and base64url at each of the
// three byte alignments it can have inside a longer encoded text (padded
// or not: only the characters that depend on s alone are matched), and
// hex in both cases. Percent-encoding and JSON string escapes are not
// listed: encoders disagree on what they escape (Go, Python's quote and a
// URL nested in a query parameter each differ), so Contains decodes them
// instead and matches these forms in the result.
func Forms(s string) []string {
	if s == "" {
		return nil
	}
	forms := []string{s}
	add := func(f string) {
		if len(f) >= minDerivedLen && f != s {
			forms = append(forms, f)
		}
	}
	for _, enc := range []*base64.Encoding{base64.RawStdEncoding, base64.RawURLEncoding} {
		for offset := range 3 {
			add(base64Middle(enc, s, offset))
		}
	}
	h := hex.EncodeToString([]byte(s))
	add(h)
	add(strings.ToUpper(h))
	return forms
}

// base64Middle is the part of the encoding of s that is the same wherever
// s sits in a longer text, when offset bytes of that text precede it within
// a 3-byte group: the characters whose six bits all come from s.
func base64Middle(enc *base64.Encoding, s string, offset int) string {
	buf := make([]byte, offset+len(s))
	copy(buf[offset:], s)
	full := enc.EncodeToString(buf)
	startBit, endBit := 8*offset, 8*(offset+len(s))
	first := (startBit + 5) / 6 // first character wholly inside s
	last := endBit / 6          // one past the last such character
	if first >= last || last > len(full) {
		return ""
	}
	return full[first:last]
}

// Contains reports whether body holds any secret in any of its Forms: in
// the raw bytes, inside a JSON string once that string's escapes are
// decoded, or in either once percent-escapes are decoded (twice, for a URL
// nested in a query parameter). body need not be JSON; when it is, it
// should already be known valid.
func (d *Detector) Contains(body []byte) bool {
	if d == nil || d.trie == nil {
		return false
	}
	if d.matchDecoded(body) {
		return true
	}
	found := false
	escapedStrings(body, func(decoded []byte) bool {
		found = d.matchDecoded(decoded)
		return !found
	})
	return found
}

// matchDecoded matches b, then b percent-decoded once and twice (a URL
// nested in a query parameter). When a secret holds a space, each level is
// also read with '+' as a space (how a form body or query string spells
// it, at the level it was written at). At most seven matches, and more
// than one only for text that holds '%' or, with such a secret, '+'.
func (d *Detector) matchDecoded(b []byte) bool { return d.matchLevels(b, 2) }

func (d *Detector) matchLevels(b []byte, levels int) bool {
	if d.trie.MatchFirst(b) != nil {
		return true
	}
	if d.spaced && bytes.IndexByte(b, '+') >= 0 {
		spaced := bytes.ReplaceAll(b, []byte("+"), []byte(" "))
		if d.trie.MatchFirst(spaced) != nil {
			return true
		}
		if levels > 0 && bytes.IndexByte(spaced, '%') >= 0 && d.matchLevels(percentDecode(spaced), levels-1) {
			return true
		}
	}
	if levels == 0 || bytes.IndexByte(b, '%') < 0 {
		return false
	}
	return d.matchLevels(percentDecode(b), levels-1)
}

// percentDecode decodes every %XX (either hex case) and leaves anything
// else, a malformed escape included, as it is: what a lenient server
// would read.
func percentDecode(b []byte) []byte {
	out := make([]byte, 0, len(b))
	for i := 0; i < len(b); i++ {
		if b[i] == '%' && i+2 < len(b) {
			if hi, ok := unhex(b[i+1]); ok {
				if lo, ok := unhex(b[i+2]); ok {
					out = append(out, hi<<4|lo)
					i += 2
					continue
				}
			}
		}
		out = append(out, b[i])
	}
	return out
}

func unhex(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

// ContainsString is Contains for text such as an error message.
func (d *Detector) ContainsString(s string) bool { return d.Contains([]byte(s)) }

// escapedStrings calls fn with the decoded value of every JSON string in
// body that contains a backslash escape (the others are matched as raw
// bytes already), until fn returns false. Outside strings valid JSON has
// no quote characters, so a scan for quotes that skips escaped characters
// finds every string. The decoded value is only valid during the call.
func escapedStrings(body []byte, fn func(decoded []byte) bool) {
	var buf []byte
	for i := 0; i < len(body); i++ {
		if body[i] != '"' {
			continue
		}
		start, escaped := i+1, false
		for i++; i < len(body) && body[i] != '"'; i++ {
			if body[i] == '\\' {
				escaped = true
				i++
			}
		}
		if i >= len(body) {
			return // unterminated: not JSON, and its raw bytes were scanned
		}
		if !escaped {
			continue
		}
		buf = unescape(buf[:0], body[start:i])
		if !fn(buf) {
			return
		}
	}
}

// unescape appends the value of the JSON string content s (between its
// quotes) to dst. Malformed escapes are kept as written and a lone
// surrogate becomes U+FFFD, as encoding/json decodes them: the point is
// what a client's decoder would read.
func unescape(dst, s []byte) []byte {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c != '\\' || i+1 >= len(s) {
			dst = append(dst, c)
			continue
		}
		i++
		switch s[i] {
		case 'b':
			dst = append(dst, '\b')
		case 'f':
			dst = append(dst, '\f')
		case 'n':
			dst = append(dst, '\n')
		case 'r':
			dst = append(dst, '\r')
		case 't':
			dst = append(dst, '\t')
		case 'u':
			r, ok := hex4(s[i+1:])
			if !ok {
				dst = append(dst, '\\', 'u')
				continue
			}
			i += 4
			if utf16.IsSurrogate(r) {
				if r2, ok := lowSurrogate(s[i+1:]); ok {
					if d := utf16.DecodeRune(r, r2); d != utf8.RuneError {
						r = d
						i += 6
					}
				}
				if utf16.IsSurrogate(r) {
					r = utf8.RuneError
				}
			}
			dst = utf8.AppendRune(dst, r)
		default: // '"', '\\', '/'
			dst = append(dst, s[i])
		}
	}
	return dst
}

// lowSurrogate reads a "\uXXXX" at the start of s.
func lowSurrogate(s []byte) (rune, bool) {
	if len(s) < 6 || s[0] != '\\' || s[1] != 'u' {
		return 0, false
	}
	return hex4(s[2:])
}

func hex4(s []byte) (rune, bool) {
	if len(s) < 4 {
		return 0, false
	}
	var r rune
	for _, c := range s[:4] {
		var v byte
		switch {
		case '0' <= c && c <= '9':
			v = c - '0'
		case 'a' <= c && c <= 'f':
			v = c - 'a' + 10
		case 'A' <= c && c <= 'F':
			v = c - 'A' + 10
		default:
			return 0, false
		}
		r = r<<4 | rune(v)
	}
	return r, true
}
