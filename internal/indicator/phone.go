package indicator

import (
	"errors"
	"fmt"
	"strings"
)

// E.164 numbers are at most 15 digits; fewer than 8 is not a plausible
// subscriber number with its country code.
const (
	minPhoneDigits = 8
	maxPhoneDigits = 15
)

// normPhone accepts an E.164 number as people write it — "+1 (415)
// 555-0100", "+44 (0)20 7946 0958" — and returns "+" and the digits. The
// "(0)" some countries print is the national trunk prefix that is dropped
// when dialling internationally, so it is removed, not kept as a digit.
func normPhone(s string) (string, error) {
	rest, ok := strings.CutPrefix(s, "+")
	if !ok {
		return "", errors.New("want + and the country code (E.164)")
	}
	rest = strings.Replace(rest, "(0)", "", 1)
	var b strings.Builder
	b.Grow(1 + len(rest)) // at most: the separators are dropped
	b.WriteByte('+')
	n := 0
	for i := 0; i < len(rest); i++ {
		c := rest[i]
		switch {
		case '0' <= c && c <= '9':
			b.WriteByte(c)
			n++
		case isPhoneSeparator(c):
		default:
			return "", errors.New("only digits and the separators space - . ( ) may follow the +")
		}
	}
	if n < minPhoneDigits || n > maxPhoneDigits {
		return "", fmt.Errorf("want %d to %d digits after the +, got %d", minPhoneDigits, maxPhoneDigits, n)
	}
	v := b.String()
	if v[1] == '0' {
		return "", errors.New("country codes never start with 0")
	}
	return v, nil
}

// looksLikePhone reports "+" followed only by digits and separators, with
// at least one digit: a shape that is a phone number or a mistake.
func looksLikePhone(s string) bool {
	rest, ok := strings.CutPrefix(s, "+")
	if !ok || !strings.ContainsAny(rest, "0123456789") {
		return false
	}
	for i := 0; i < len(rest); i++ {
		if c := rest[i]; (c < '0' || c > '9') && !isPhoneSeparator(c) {
			return false
		}
	}
	return true
}

func isPhoneSeparator(c byte) bool {
	return c == ' ' || c == '-' || c == '.' || c == '(' || c == ')'
}
