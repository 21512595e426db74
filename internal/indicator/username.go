package indicator

import (
	"errors"
	"strings"
	"unicode"
)

// normUsername keeps case (many platforms display it, some match on it) and
// drops leading '@' characters ("@alice" and "alice" are one handle). It
// repeats strip-and-refang until nothing changes so that the result parses
// back to itself: "@hxxp:x" would otherwise become "hxxp:x" and then, on a
// second parse, "http:x".
func normUsername(s string) (string, error) {
	for {
		t := refang(strings.TrimLeft(s, "@"))
		if t == s {
			break
		}
		s = t
	}
	if s == "" {
		return "", errors.New("nothing is left after the leading @")
	}
	if strings.IndexFunc(s, unicode.IsSpace) >= 0 {
		return "", errors.New("contains whitespace")
	}
	return s, nil
}
