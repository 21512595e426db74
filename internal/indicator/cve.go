package indicator

import (
	"errors"
	"strings"
)

var (
	errNotCVE     = errors.New("want CVE-YYYY-NNNN: a four-digit year from 1999 and a sequence of at least four digits")
	errCVESeqZero = errors.New("a sequence number of five or more digits never starts with 0")
	errCVETooLong = errors.New("the sequence number is longer than 19 digits")
)

// maxCVESeqDigits bounds the sequence number; today's are up to 7 digits.
const maxCVESeqDigits = 19

// normCVE accepts a CVE identifier in any case and returns it uppercase,
// the form the CVE program publishes: "cve-2024-3094" → "CVE-2024-3094".
// The syntax is the program's: a year of four digits (the first ids are
// from 1999) and a sequence of four digits, zero-padded, or more without
// padding ("CVE-2021-44228").
func normCVE(s string) (string, error) {
	if len(s) < len("CVE-1999-0001") || !strings.EqualFold(s[:4], "CVE-") || s[8] != '-' {
		return "", errNotCVE
	}
	year, seq := s[4:8], s[9:]
	if !allDigits(year) || year < "1999" || len(seq) < 4 || !allDigits(seq) {
		return "", errNotCVE
	}
	if len(seq) > 4 && seq[0] == '0' {
		return "", errCVESeqZero
	}
	if len(seq) > maxCVESeqDigits {
		return "", errCVETooLong
	}
	return "CVE-" + year + "-" + seq, nil
}

// looksLikeCVE reports a value starting "CVE-" in any case: nothing else
// does, so Auto detection reports a malformed id instead of calling it a
// username.
func looksLikeCVE(s string) bool {
	return len(s) > 4 && strings.EqualFold(s[:4], "CVE-")
}
