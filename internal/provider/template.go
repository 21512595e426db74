package provider

import (
	"errors"
	"fmt"
	"strings"
)

// Placeholders a request template may use.
const (
	placeholderIndicator = "indicator"
	placeholderType      = "type"
	// placeholderBase64URL is the indicator as unpadded base64url, the
	// form of VirusTotal's URL identifiers.
	placeholderBase64URL = "indicator_base64url"
)

// template is a string with {indicator} and {type} placeholders, parsed once
// at startup so a typo such as {indicater} is a config error rather than a
// literal sent to the upstream on every call.
type template []templatePart

type templatePart struct {
	literal     string
	placeholder string // "" for a literal part
}

func parseTemplate(s string) (template, error) {
	var t template
	for s != "" {
		open := strings.IndexAny(s, "{}")
		if open < 0 {
			t = append(t, templatePart{literal: s})
			break
		}
		if s[open] == '}' {
			return nil, errors.New(`unmatched "}"`)
		}
		if open > 0 {
			t = append(t, templatePart{literal: s[:open]})
		}
		end := strings.IndexByte(s[open:], '}')
		if end < 0 {
			return nil, errors.New(`unmatched "{"`)
		}
		name := s[open+1 : open+end]
		if name != placeholderIndicator && name != placeholderType && name != placeholderBase64URL {
			return nil, fmt.Errorf("unknown placeholder {%s}; use {indicator}, {indicator_base64url} or {type}", name)
		}
		t = append(t, templatePart{placeholder: name})
		s = s[open+end+1:]
	}
	return t, nil
}

// has reports whether the template uses the placeholder name.
func (t template) has(name string) bool {
	for _, p := range t {
		if p.placeholder == name {
			return true
		}
	}
	return false
}

// placeholders are the values a request's placeholders stand for.
type placeholders struct{ indicator, typ, b64 string }

func (v placeholders) of(name string) string {
	switch name {
	case placeholderType:
		return v.typ
	case placeholderBase64URL:
		return v.b64
	}
	return v.indicator
}

// expand substitutes placeholders; escape is applied to substituted values
// only, never to literals, which the config author wrote already escaped.
func (t template) expand(vals placeholders, escape func(string) string) string {
	if len(t) == 1 {
		// The usual query value, "{indicator}" or a constant: nothing to join.
		if t[0].placeholder == "" {
			return t[0].literal
		}
		return escape(vals.of(t[0].placeholder))
	}
	var b strings.Builder
	t.writeTo(&b, vals, escape)
	return b.String()
}

// writeTo appends the expansion (see expand) to b.
func (t template) writeTo(b *strings.Builder, vals placeholders, escape func(string) string) {
	n := 0
	for _, p := range t {
		if p.placeholder == "" {
			n += len(p.literal)
		} else {
			n += len(vals.of(p.placeholder)) // escaping may need more
		}
	}
	b.Grow(n)
	for _, p := range t {
		if p.placeholder == "" {
			b.WriteString(p.literal)
			continue
		}
		b.WriteString(escape(vals.of(p.placeholder)))
	}
}

// validPathLiteral reports whether s uses only characters a URL path may
// carry unescaped (RFC 3986 pchar and "/") plus well-formed %XX escapes.
// Anything else (spaces, "?", "#", "\") would change how the URL is read.
func validPathLiteral(s string) error {
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '%':
			if i+2 >= len(s) || !isHex(s[i+1]) || !isHex(s[i+2]) {
				return fmt.Errorf("bad escape at byte %d", i)
			}
			i += 2
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case strings.IndexByte("-._~!$&'()*+,;=:@/", c) >= 0:
		default:
			return fmt.Errorf("character %q must be percent-encoded", c)
		}
	}
	return nil
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

// checkSegments refuses empty and dot segments in an escaped path. Servers
// and proxies resolve "." and ".." (and their %2E spellings), so such a
// segment would address a different resource than the template names; an
// empty one ("//") is how a path is made to look like an authority. Only a
// trailing slash may leave the last segment empty (some APIs want "/host/").
func checkSegments(escaped string) error {
	if escaped == "" {
		return nil
	}
	if !strings.HasPrefix(escaped, "/") {
		return errors.New(`must start with "/"`)
	}
	for rest, more := escaped[1:], true; more; {
		var seg string
		seg, rest, more = strings.Cut(rest, "/") // more: seg is not the last
		switch strings.ReplaceAll(strings.ToLower(seg), "%2e", ".") {
		case "":
			if more {
				return errors.New("empty path segment")
			}
		case ".", "..":
			return fmt.Errorf("dot segment %q", seg)
		}
	}
	return nil
}
