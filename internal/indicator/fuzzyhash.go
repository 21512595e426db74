package indicator

import (
	"errors"
	"strconv"
	"strings"
)

// ssdeep limits: block sizes are 3·2^k for k up to 30 (ssdeep's 31 block
// hashes), and each part of the digest is at most 64 characters.
const (
	ssdeepMinBlock = 3
	ssdeepMaxShift = 30
	ssdeepMaxPart  = 64
	tlshHexDigits  = 70
)

var (
	errNotSSDEEP   = errors.New("want blocksize:hash:hash, each hash at most 64 base64 characters")
	errSSDEEPBlock = errors.New("the block size is not 3 times a power of two")
	errNotTLSH     = errors.New("want T1 and 70 hexadecimal digits")
)

// normSSDEEP accepts an ssdeep (spamsum) digest, "blocksize:hash:hash", as
// ssdeep prints it, without the file name some tools append. It is case
// sensitive (base64), so the value is the input itself once checked.
func normSSDEEP(s string) (string, error) {
	bs, h1, h2, ok := splitSSDEEP(s)
	if !ok {
		return "", errNotSSDEEP
	}
	n, err := strconv.ParseUint(bs, 10, 64)
	if err != nil || strconv.FormatUint(n, 10) != bs || !ssdeepBlock(n) {
		return "", errSSDEEPBlock
	}
	if !isSSDEEPPart(h1) || !isSSDEEPPart(h2) {
		return "", errNotSSDEEP
	}
	return s, nil
}

// splitSSDEEP cuts s into its three colon-separated parts.
func splitSSDEEP(s string) (bs, h1, h2 string, ok bool) {
	bs, rest, ok1 := strings.Cut(s, ":")
	h1, h2, ok2 := strings.Cut(rest, ":")
	if !ok1 || !ok2 || bs == "" || len(bs) > 11 || !allDigits(bs) {
		return "", "", "", false
	}
	return bs, h1, h2, true
}

func ssdeepBlock(n uint64) bool {
	if n < ssdeepMinBlock || n%3 != 0 {
		return false
	}
	q := n / 3
	return q&(q-1) == 0 && q <= 1<<ssdeepMaxShift
}

// isSSDEEPPart reports at most 64 characters of the base64 alphabet.
func isSSDEEPPart(p string) bool {
	if len(p) > ssdeepMaxPart {
		return false
	}
	for i := 0; i < len(p); i++ {
		if !isBase64(p[i]) {
			return false
		}
	}
	return true
}

func isBase64(c byte) bool {
	return 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '+' || c == '/'
}

// detectSSDEEP reports whether Auto should take s as an ssdeep digest:
// it must be a valid one, and its hashes must hold a character other than
// a digit, so that a time of day ("3:30:45") is not taken for a digest
// (real digests of anything but empty input hold letters).
func detectSSDEEP(s string) bool {
	if s == "" || s[0] < '1' || s[0] > '9' || strings.Count(s, ":") != 2 {
		return false
	}
	if _, err := normSSDEEP(s); err != nil {
		return false
	}
	_, h1, h2, _ := splitSSDEEP(s)
	return !allDigits(h1 + h2)
}

// normTLSH accepts a TLSH digest: "T1" and 70 hex digits, as TLSH 4 and
// later print it, or the 70 hex digits alone of older versions (the same
// digest without its version tag). It returns "T1" and the digits in
// uppercase, the form tlsh prints and MalwareBazaar and VirusTotal use.
// Auto detection only takes the tagged form: 70 bare hex digits would be
// a guess.
func normTLSH(s string) (string, error) {
	if len(s) == 2+tlshHexDigits && (s[0] == 'T' || s[0] == 't') && s[1] == '1' {
		s = s[2:]
	}
	if len(s) != tlshHexDigits || !isHex(s) {
		return "", errNotTLSH
	}
	return "T1" + strings.ToUpper(s), nil
}

// looksLikeTLSH reports the tagged form.
func looksLikeTLSH(s string) bool {
	return len(s) == 2+tlshHexDigits && (s[0] == 'T' || s[0] == 't') && s[1] == '1' && isHex(s[2:])
}
