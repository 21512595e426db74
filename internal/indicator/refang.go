package indicator

import "strings"

// Defanging is how analysts share indicators without making them clickable:
// "hxxps://evil[.]example(.)com". refang undoes the bracketed forms only —
// the word "dot" or "at" alone is left alone, since it may simply be part of
// a username.

// brackets are the pairs a defanged token may sit in.
var brackets = [...]struct{ open, close byte }{{'[', ']'}, {'(', ')'}, {'{', '}'}}

// fangs are the bracketed tokens and what they stand for, longest first so
// "[://]" is not read as "[:" followed by junk. Matched without case.
var fangs = [...]struct{ from, to string }{
	{"://", "://"},
	{"dot", "."},
	{"at", "@"},
	{".", "."},
	{"@", "@"},
	{":", ":"},
}

// refang undoes defanging. Bracketed forms are replaced until none remain,
// so nested forms such as "[[.]]" end as "." and the result is a fixed
// point (Parse(Value) must give Value back). Then a leading hxxp/hxxps
// scheme, in any case, becomes http/https; it is only a scheme when it
// starts the value and is followed by ':', so "hxxpster" stays as it is.
func refang(s string) string {
	for {
		t := refangBrackets(s)
		if t == s {
			break
		}
		s = t // each pass shortens s, so this ends
	}
	return refangScheme(s)
}

// refangBrackets makes one left-to-right pass over s.
func refangBrackets(s string) string {
	if !strings.ContainsAny(s, "[({") {
		return s
	}
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); {
		if to, n := fangAt(s[i:]); n > 0 {
			b.WriteString(to)
			i += n
			continue
		}
		b.WriteByte(s[i])
		i++
	}
	return b.String()
}

// fangAt reports the replacement for a bracketed token at the start of s and
// how many bytes it spans, or n == 0 when there is none.
func fangAt(s string) (to string, n int) {
	for _, br := range brackets {
		if s[0] != br.open {
			continue
		}
		for _, f := range fangs {
			end := 1 + len(f.from)
			if len(s) > end && s[end] == br.close && strings.EqualFold(s[1:end], f.from) {
				return f.to, end + 1
			}
		}
	}
	return "", 0
}

// refangScheme turns a leading hxxp:/hxxps: (any case) into http:/https:.
func refangScheme(s string) string {
	if len(s) < 5 {
		return s
	}
	head := strings.ToLower(s[:min(len(s), 6)])
	switch {
	case strings.HasPrefix(head, "hxxps:"):
		return "https" + s[5:]
	case strings.HasPrefix(head, "hxxp:"):
		return "http" + s[4:]
	}
	return s
}
