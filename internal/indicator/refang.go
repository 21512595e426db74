package indicator

import "strings"

// Defanging is how analysts share indicators without making them clickable:
// "hxxps://evil[.]example(.)com". refang undoes what the widely used
// extractors (InQuest iocextract, ioc-finder's ioc-fanger, ioc-extractor)
// undo, but only in forms that cannot be ordinary text: a bracketed token,
// a backslash before a dot, a defanged scheme at the very start, spaces in
// a value that is otherwise an IPv4 address. The bare words "dot" and "at"
// are left alone, since they may simply be part of a username, and so is
// prose ("the quick. brown fox" keeps its spaces and fails as a username).

// brackets are the pairs a defanged token may sit in.
var brackets = [...]struct{ open, close byte }{{'[', ']'}, {'(', ')'}, {'{', '}'}}

// fangs are the bracketed tokens and what they stand for, longest first so
// "[://]" is not read as "[:" followed by junk. Matched without case. A
// dot or an at may have spaces around it, inside or outside the brackets
// ("example [.] com", "alice [ at ] example.com"), and those go with it.
var fangs = [...]struct {
	from, to string
	spaced   bool
}{
	{"://", "://", false},
	{"dot", ".", true},
	{"at", "@", true},
	{".", ".", true},
	{"@", "@", true},
	{":", ":", false},
	{"/", "/", false},
}

// refang undoes defanging. Bracketed forms and "\." are replaced until
// none remain, so nested forms such as "[[.]]" end as "." and the result
// is a fixed point (Parse(Value) must give Value back). Then spaces are
// dropped from what is otherwise an IPv4 address, and a defanged scheme at
// the start becomes http, https or ftp.
func refang(s string) string {
	for {
		t := refangBrackets(s)
		if t == s {
			break
		}
		s = t // each pass shortens s, so this ends
	}
	return refangScheme(refangSpacedIPv4(s))
}

// refangBrackets makes one left-to-right pass over s.
func refangBrackets(s string) string {
	if !strings.ContainsAny(s, "[({\\") {
		return s
	}
	b := make([]byte, 0, len(s))
	for i := 0; i < len(s); {
		if s[i] == '\\' && i+1 < len(s) && s[i+1] == '.' {
			b = append(b, '.')
			i += 2
			continue
		}
		if to, n, spaced := fangAt(s[i:]); n > 0 {
			if spaced {
				for len(b) > 0 && b[len(b)-1] == ' ' {
					b = b[:len(b)-1]
				}
				for i+n < len(s) && s[i+n] == ' ' {
					n++
				}
			}
			b = append(b, to...)
			i += n
			continue
		}
		b = append(b, s[i])
		i++
	}
	return string(b)
}

// fangAt reports the replacement for a bracketed token at the start of s,
// how many bytes it spans and whether spaces around it go with it, or
// n == 0 when there is none.
func fangAt(s string) (to string, n int, spaced bool) {
	for _, br := range brackets {
		if s[0] != br.open {
			continue
		}
		for _, f := range fangs {
			start := 1
			if f.spaced {
				start = skipSpaces(s, start)
			}
			end := start + len(f.from)
			if len(s) <= end || !strings.EqualFold(s[start:end], f.from) {
				continue
			}
			if f.spaced {
				end = skipSpaces(s, end)
			}
			if end < len(s) && s[end] == br.close {
				return f.to, end + 1, f.spaced
			}
		}
	}
	return "", 0, false
}

func skipSpaces(s string, i int) int {
	for i < len(s) && s[i] == ' ' {
		i++
	}
	return i
}

// refangSpacedIPv4 drops the spaces from "192.168 . 1 . 1" or
// "192 .168.1.1": a value of only digits, dots and spaces, with a space
// next to a dot, that is an IPv4 address once they are gone. Anything
// else keeps its spaces (and then fails, as whitespace inside a value
// does), so prose and version lists are never joined into an address.
func refangSpacedIPv4(s string) string {
	if strings.IndexByte(s, ' ') < 0 || strings.IndexByte(s, '.') < 0 {
		return s
	}
	b := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == ' ':
			if !(i > 0 && s[i-1] == '.' || i+1 < len(s) && s[i+1] == '.' || spaceRunNextToDot(s, i)) {
				return s
			}
		case c == '.' || '0' <= c && c <= '9':
			b = append(b, c)
		default:
			return s
		}
	}
	t := string(b)
	if _, err := normIPv4(t); err != nil {
		return s
	}
	return t
}

// spaceRunNextToDot reports whether the run of spaces around s[i] touches
// a dot at either end ("1  .  2").
func spaceRunNextToDot(s string, i int) bool {
	l, r := i, i
	for l > 0 && s[l-1] == ' ' {
		l--
	}
	for r+1 < len(s) && s[r+1] == ' ' {
		r++
	}
	return l > 0 && s[l-1] == '.' || r+1 < len(s) && s[r+1] == '.'
}

// refangScheme turns a defanged scheme at the very start, followed by ':',
// into http, https or ftp, in any case: "hxxp" and "hXXp", "h**p", "h__p"
// and the other spellings that keep the h and the p but hide the tt
// ("hxtp", "htxp"), and "fxp" or "ftx" for ftp, each with an optional "s"
// (iocextract's rules, kept to the start of the value and to a following
// ':' so "hxxpster" stays as it is).
func refangScheme(s string) string {
	i := strings.IndexByte(s, ':')
	if i < 3 || i > 5 {
		return s
	}
	if to := fangScheme(s[:i]); to != "" {
		return to + s[i:]
	}
	return s
}

// fangScheme returns the scheme a defanged one stands for, or "".
func fangScheme(sc string) string {
	sc = strings.ToLower(sc)
	secure := ""
	if strings.HasSuffix(sc, "s") {
		sc, secure = sc[:len(sc)-1], "s"
	}
	switch {
	case sc == "fxp" || sc == "ftx":
		return "ftp" + secure
	case len(sc) == 4 && sc[0] == 'h' && sc[3] == 'p' && sc != "http" &&
		hidesT(sc[1]) && hidesT(sc[2]):
		return "http" + secure
	}
	return ""
}

// hidesT reports a character defangers put in place of the t of http.
func hidesT(c byte) bool { return c == 't' || c == 'x' || c == '*' || c == '_' }
