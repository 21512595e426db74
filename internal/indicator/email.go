package indicator

import (
	"errors"
	"fmt"
	"strings"
	"unicode"
)

// RFC 5321 limits.
const (
	maxLocalLen = 64
	maxEmailLen = 254
)

// normEmail accepts local@domain where the local part is an RFC 5322
// dot-atom (ASCII atext, plus any non-ASCII character as RFC 6531 allows)
// and the domain passes normDomain. Quoted local parts and address literals
// are not accepted: they are vanishingly rare in threat data and mostly
// used to smuggle odd characters. The domain is lowercased (it is a DNS
// name); the local part keeps its case, because RFC 5321 leaves its
// interpretation to the receiving host and some hosts do distinguish it.
func normEmail(s string) (string, error) {
	i := strings.LastIndexByte(s, '@')
	if i < 0 {
		return "", errors.New("want local-part@domain")
	}
	local, dom := s[:i], s[i+1:]
	if err := checkLocal(local); err != nil {
		return "", fmt.Errorf("local part %w", err)
	}
	d, err := normDomain(dom)
	if err != nil {
		return "", fmt.Errorf("domain: %w", err)
	}
	v := s // already local@d: nothing to build
	if d != dom {
		v = local + "@" + d
	}
	if len(v) > maxEmailLen {
		return "", fmt.Errorf("longer than %d bytes", maxEmailLen)
	}
	return v, nil
}

// checkLocal checks a dot-atom local part; errors read after "local part".
func checkLocal(l string) error {
	switch {
	case l == "":
		return errors.New("is empty")
	case len(l) > maxLocalLen:
		return fmt.Errorf("is longer than %d bytes", maxLocalLen)
	case l[0] == '.' || l[len(l)-1] == '.' || strings.Contains(l, ".."):
		return errors.New("has a leading, trailing or doubled dot")
	}
	for _, r := range l {
		if r < 0x80 && !isAtext(byte(r)) && r != '.' {
			return errors.New("contains a character not allowed unquoted")
		}
		if r >= 0x80 && unicode.IsSpace(r) {
			return errors.New("contains whitespace")
		}
	}
	return nil
}

// isAtext reports RFC 5322 atext: letters, digits and !#$%&'*+-/=?^_`{|}~.
func isAtext(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
		strings.IndexByte("!#$%&'*+-/=?^_`{|}~", c) >= 0
}
