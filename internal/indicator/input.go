package indicator

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// checkInput applies the checks every value must pass before any parsing:
// a byte limit on the raw input, UTF-8 validity, non-emptiness once
// surrounding whitespace is trimmed, and no control characters inside.
// Offsets in messages are bytes into raw, which is what the client sent.
func checkInput(raw string) (string, error) {
	if len(raw) > MaxLen {
		return "", &parseError{kind: ErrTooLong,
			msg: fmt.Sprintf("is too long: %d bytes, limit is %d", len(raw), MaxLen)}
	}
	if !utf8.ValidString(raw) {
		return "", &parseError{kind: ErrInvalidUTF8,
			msg: fmt.Sprintf("is not valid UTF-8 at byte %d", invalidUTF8At(raw))}
	}
	// A trailing newline from a copy-paste is whitespace, not an attack:
	// trim first, then refuse control characters that remain inside.
	s := strings.TrimSpace(raw)
	if s == "" {
		return "", &parseError{kind: ErrEmpty, msg: "is empty"}
	}
	lead := len(raw) - len(strings.TrimLeftFunc(raw, unicode.IsSpace))
	for i, r := range s {
		if isControl(r) {
			return "", &parseError{kind: ErrControlChar,
				msg: fmt.Sprintf("contains a control character at byte %d", lead+i)}
		}
	}
	return s, nil
}

// isControl reports characters we never accept inside an indicator: Unicode
// Cc (C0, DEL, C1), the line and paragraph separators (they split log lines
// just like LF), and bidirectional formatting controls, which can make a
// value display differently from what it is ("Trojan Source").
func isControl(r rune) bool {
	return unicode.IsControl(r) || r == '\u2028' || r == '\u2029' || unicode.Is(unicode.Bidi_Control, r)
}

// invalidUTF8At returns the byte offset of the first invalid UTF-8 sequence.
func invalidUTF8At(s string) int {
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size <= 1 {
			return i
		}
		i += size
	}
	return -1
}

// CheckInput applies only the input checks every indicator passes (size,
// UTF-8, control characters, not empty) and returns raw with surrounding
// whitespace trimmed. Pass-through endpoints use it where the upstream, not
// intelgate, decides what a query means.
func CheckInput(raw string) (string, error) { return checkInput(raw) }
