package upstream

import (
	"bytes"
	"strconv"
	"sync"
	"unicode/utf16"
	"unicode/utf8"
)

// checkIJSON enforces RFC 7493 (I-JSON) on a body already known to be
// syntactically valid JSON: no object with two members of the same name
// (compared after unescaping), only valid UTF-8 (including what \u escapes
// spell: a lone surrogate is not a character), and no number beyond the
// range of an IEEE 754 double. Parsers disagree on all three — which
// duplicate wins, what replaces a bad byte, whether 1e400 is an error, Inf
// or a big number — so a body that relies on them reads one way to the
// gateway's checks and another way to the client.
func checkIJSON(body []byte) *Error {
	w := walkerPool.Get().(*ijsonWalker)
	w.body, w.pos = body, 0
	reason := w.value()
	w.release()
	if reason != "" {
		return &Error{Kind: KindMalformed, Detail: "response body is not I-JSON (RFC 7493): " + reason}
	}
	return nil
}

// walkerPool keeps walkers with their scratch space, so checking a typical
// answer allocates nothing.
var walkerPool = sync.Pool{New: func() any {
	return &ijsonWalker{names: make([][]byte, 0, 64), buf: make([]byte, 0, 512)}
}}

// release forgets the body (names point into it, and a pooled walker must
// not keep an answer alive) and returns w to the pool unless it grew for an
// unusual answer.
func (w *ijsonWalker) release() {
	clear(w.names[:cap(w.names)])
	if cap(w.names) > 1024 || cap(w.buf) > 64<<10 {
		return
	}
	*w = ijsonWalker{names: w.names[:0], buf: w.buf[:0]}
	walkerPool.Put(w)
}

type ijsonWalker struct {
	body []byte
	pos  int
	// names holds the member names of every object being walked, innermost
	// last (each object remembers where its own start), so checking for
	// duplicates allocates nothing for the usual small object.
	names [][]byte
	buf   []byte // scratch for unescaping string values
}

func (w *ijsonWalker) skipSpace() {
	for w.pos < len(w.body) {
		switch w.body[w.pos] {
		case ' ', '\t', '\r', '\n':
			w.pos++
		default:
			return
		}
	}
}

// value checks the value at pos and moves past it; "" means it is I-JSON.
// The body is valid JSON, so the walker only needs to find token ends.
// Recursion depth is bounded by encoding/json's nesting limit, which
// json.Valid has already enforced.
func (w *ijsonWalker) value() string {
	w.skipSpace()
	if w.pos >= len(w.body) {
		return ""
	}
	switch c := w.body[w.pos]; {
	case c == '{':
		return w.object()
	case c == '[':
		w.pos++
		for {
			w.skipSpace()
			if w.body[w.pos] == ']' {
				w.pos++
				return ""
			}
			if r := w.value(); r != "" {
				return r
			}
			w.skipSpace()
			if w.body[w.pos] == ',' {
				w.pos++
			}
		}
	case c == '"':
		_, r := w.str(false)
		return r
	case c == 't':
		w.pos += len("true")
	case c == 'f':
		w.pos += len("false")
	case c == 'n':
		w.pos += len("null")
	default:
		return w.number()
	}
	return ""
}

// object checks members for duplicate names. Small objects compare names
// pairwise; large ones switch to a set.
func (w *ijsonWalker) object() string {
	w.pos++ // '{'
	base := len(w.names)
	defer func() { w.names = w.names[:base] }()
	var set map[string]struct{}
	for {
		w.skipSpace()
		if w.body[w.pos] == '}' {
			w.pos++
			return ""
		}
		name, r := w.str(true)
		if r != "" {
			return r
		}
		switch own := w.names[base:]; {
		case set == nil && len(own) < 16:
			for _, n := range own {
				if bytes.Equal(n, name) {
					return "duplicate member name in an object"
				}
			}
			w.names = append(w.names, name)
		default:
			if set == nil {
				set = make(map[string]struct{}, 2*len(own))
				for _, n := range own {
					set[string(n)] = struct{}{}
				}
			}
			if _, dup := set[string(name)]; dup {
				return "duplicate member name in an object"
			}
			set[string(name)] = struct{}{}
		}
		w.skipSpace()
		w.pos++ // ':'
		if r := w.value(); r != "" {
			return r
		}
		w.skipSpace()
		if w.body[w.pos] == ',' {
			w.pos++
		}
	}
}

// str reads the string at pos and returns its decoded value. Without
// escapes the value is a subslice of the body; with them, a fresh copy
// for a name (names are kept for duplicate checks) or the scratch buffer
// for a value (valid until the next string).
func (w *ijsonWalker) str(name bool) ([]byte, string) {
	w.pos++ // opening quote
	start := w.pos
	for w.pos < len(w.body) && w.body[w.pos] != '"' && w.body[w.pos] != '\\' {
		w.pos++
	}
	if w.pos < len(w.body) && w.body[w.pos] == '"' {
		raw := w.body[start:w.pos]
		w.pos++
		if !utf8.Valid(raw) {
			return nil, "invalid UTF-8 in a string"
		}
		if hasNoncharacter(raw) {
			return nil, "a Unicode noncharacter in a string"
		}
		return raw, ""
	}
	var out []byte
	if !name {
		out = w.buf[:0]
	}
	out = append(out, w.body[start:w.pos]...)
	defer func() {
		if !name {
			w.buf = out[:0]
		}
	}()
	for w.pos < len(w.body) && w.body[w.pos] != '"' {
		c := w.body[w.pos]
		if c != '\\' {
			out = append(out, c)
			w.pos++
			continue
		}
		esc := w.body[w.pos+1]
		w.pos += 2
		switch esc {
		case 'u':
			r1 := hex4(w.body[w.pos : w.pos+4])
			w.pos += 4
			switch {
			case utf16.IsSurrogate(r1) && r1 < 0xDC00:
				if w.pos+6 > len(w.body) || w.body[w.pos] != '\\' || w.body[w.pos+1] != 'u' {
					return nil, "lone surrogate in a \\u escape"
				}
				r2 := hex4(w.body[w.pos+2 : w.pos+6])
				dec := utf16.DecodeRune(r1, r2)
				if dec == utf8.RuneError {
					return nil, "lone surrogate in a \\u escape"
				}
				w.pos += 6
				out = utf8.AppendRune(out, dec)
			case utf16.IsSurrogate(r1):
				return nil, "lone surrogate in a \\u escape"
			default:
				out = utf8.AppendRune(out, r1)
			}
		case 'b':
			out = append(out, '\b')
		case 'f':
			out = append(out, '\f')
		case 'n':
			out = append(out, '\n')
		case 'r':
			out = append(out, '\r')
		case 't':
			out = append(out, '\t')
		default: // '"', '\\', '/'
			out = append(out, esc)
		}
	}
	w.pos++ // closing quote
	if !utf8.Valid(out) {
		return nil, "invalid UTF-8 in a string"
	}
	if hasNoncharacter(out) {
		return nil, "a Unicode noncharacter in a string"
	}
	return out, ""
}

// hasNoncharacter reports whether valid UTF-8 b holds a noncharacter
// (U+FDD0–U+FDEF, or U+xFFFE/U+xFFFF in any plane), which I-JSON forbids
// with the surrogates. Every one of them is encoded with a lead byte of
// 0xEF or 0xF0–0xF4, so text without those bytes is passed at once.
func hasNoncharacter(b []byte) bool {
	for i := 0; i < len(b); {
		c := b[i]
		if c < 0xEF {
			i++
			continue
		}
		r, n := utf8.DecodeRune(b[i:])
		if r >= 0xFDD0 && r <= 0xFDEF || r&0xFFFE == 0xFFFE {
			return true
		}
		i += n
	}
	return false
}

func hex4(b []byte) rune {
	var r rune
	for _, c := range b {
		r <<= 4
		switch {
		case '0' <= c && c <= '9':
			r |= rune(c - '0')
		case 'a' <= c && c <= 'f':
			r |= rune(c - 'a' + 10)
		default:
			r |= rune(c - 'A' + 10)
		}
	}
	return r
}

// number checks that the number at pos fits a double. Without an exponent
// a number under 309 characters cannot exceed 1.8e308, so only the rare
// long or exponent form is parsed.
func (w *ijsonWalker) number() string {
	start, exp := w.pos, false
	for w.pos < len(w.body) {
		c := w.body[w.pos]
		if c == 'e' || c == 'E' {
			exp = true
		} else if !(c >= '0' && c <= '9' || c == '-' || c == '+' || c == '.') {
			break
		}
		w.pos++
	}
	num := w.body[start:w.pos]
	if !exp && len(num) < 309 {
		return ""
	}
	if _, err := strconv.ParseFloat(string(num), 64); err != nil {
		// ErrRange: beyond ±1.8e308. Underflow is not an error here: it
		// rounds to zero, a precision loss I-JSON accepts.
		return "number out of the range of an IEEE 754 double"
	}
	return ""
}
