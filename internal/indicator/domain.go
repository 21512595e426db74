package indicator

import (
	"errors"
	"fmt"
	"strings"

	"golang.org/x/net/idna"
	"golang.org/x/net/publicsuffix"
)

// DNS limits (RFC 1035): a name of at most 253 characters in presentation
// form, labels of at most 63.
const (
	maxDomainLen = 253
	maxLabelLen  = 63
)

// idnaProfile converts Unicode names to their ASCII (punycode) form, the
// form DNS and every provider use; homograph names such as "аpple.com"
// (Cyrillic а) are exactly what threat intel is about, so they must be
// looked up as what they really are: "xn--pple-43d.com". The profile is the
// UTS #46 lookup mapping (lowercase, width folding, "。" as a dot) with two
// relaxations that real names need: underscores (STD3 off; our own label
// check below still allows only letters, digits, '-' and '_'), and "--" at
// positions 3-4 of non-punycode labels ("r3---sn-abc.googlevideo.com"), as
// WHATWG URL parsing also allows.
var idnaProfile = idna.New(
	idna.MapForLookup(),
	idna.BidiRule(),
	idna.Transitional(false),
	idna.StrictDomainName(false),
	idna.CheckHyphens(false),
)

// normDomain validates and normalises a domain name by syntax alone: IDNA
// to lowercase ASCII, one trailing root dot dropped, at least two labels,
// each 1-63 of [a-z0-9_-] not starting or ending with '-', 253 bytes in
// all, and a top-level label of letters, digits and '-' that is not
// all-numeric (so it can never be mistaken for an IPv4 address).
func normDomain(s string) (string, error) {
	s = strings.TrimSuffix(s, ".")
	a, err := idnaProfile.ToASCII(s)
	if err != nil {
		return "", errNotIDNA
	}
	if len(a) > maxDomainLen {
		return "", errDomainTooLong
	}
	if !strings.Contains(a, ".") {
		return "", errOneLabel
	}
	// The labels where they stand, in order (strings.Split's list, with
	// no slice made).
	n, tld := 0, ""
	for l := range strings.SplitSeq(a, ".") {
		n++
		if err := checkLabel(l); err != nil {
			return "", fmt.Errorf("label %d %w", n, err)
		}
		tld = l
	}
	if strings.Trim(tld, "0123456789") == "" {
		return "", errNumericTLD
	}
	if strings.Contains(tld, "_") {
		return "", errUnderscoreTLD
	}
	return a, nil
}

// normDomain's and checkLabel's fixed reasons, made once: in Auto
// detection every username is first tried as a domain.
var (
	errNotIDNA       = errors.New("not a valid internationalised domain name (IDNA)")
	errDomainTooLong = fmt.Errorf("longer than %d bytes", maxDomainLen)
	errOneLabel      = errors.New("want at least two labels separated by a dot")
	errNumericTLD    = errors.New("the top-level label is all-numeric")
	errUnderscoreTLD = errors.New("the top-level label contains '_'")

	errLabelEmpty   = errors.New("is empty")
	errLabelTooLong = fmt.Errorf("is longer than %d bytes", maxLabelLen)
	errLabelHyphen  = errors.New("starts or ends with '-'")
	errLabelCharset = errors.New("contains a character other than a-z, 0-9, '-' and '_'")
)

// checkLabel checks one ASCII label; errors read after "label N".
func checkLabel(l string) error {
	switch {
	case l == "":
		return errLabelEmpty
	case len(l) > maxLabelLen:
		return errLabelTooLong
	case l[0] == '-' || l[len(l)-1] == '-':
		return errLabelHyphen
	}
	for i := 0; i < len(l); i++ {
		c := l[i]
		if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
			return errLabelCharset
		}
	}
	return nil
}

// knownTLD reports whether the top-level label of an ASCII domain is an
// ICANN top-level domain in the Public Suffix List shipped with x/net.
// Auto detection requires it so that dotted usernames such as "jane.doe"
// are not taken for domains; an explicit type=domain does not.
func knownTLD(domain string) bool {
	tld := domain[strings.LastIndexByte(domain, '.')+1:]
	suffix, icann := publicsuffix.PublicSuffix(tld)
	return icann && suffix == tld
}
