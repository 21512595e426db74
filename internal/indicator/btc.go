package indicator

import (
	"crypto/sha256"
	"errors"
	"strings"
)

var (
	errNotBTC      = errors.New("want a bitcoin mainnet address: base58check starting with 1 or 3, or bech32 starting with bc1")
	errBTCChecksum = errors.New("the checksum does not match: a character is wrong or missing")
	errBech32Case  = errors.New("mixes upper and lower case, which bech32 forbids")
)

// normBTC accepts a bitcoin mainnet address and verifies its checksum, so
// a mistyped address is refused instead of looked up: a legacy base58check
// address (P2PKH "1…", P2SH "3…"; 4 bytes of double SHA-256) or a segwit
// address (BIP 173 bech32 for version 0, BIP 350 bech32m for versions 1
// to 16, as taproot's "bc1p…"). Base58 is case sensitive and kept as is;
// bech32 is lowercased, the form BIP 173 recommends. Testnet and other
// chains' addresses are not accepted.
func normBTC(s string) (string, error) {
	if len(s) > 3 && strings.EqualFold(s[:3], "bc1") {
		return normSegwit(s)
	}
	if len(s) < 26 || len(s) > 35 || (s[0] != '1' && s[0] != '3') {
		return "", errNotBTC
	}
	b, ok := base58Decode(s)
	if !ok || len(b) != 25 {
		return "", errNotBTC
	}
	if (s[0] == '1') != (b[0] == 0x00) || (s[0] == '3') != (b[0] == 0x05) {
		return "", errNotBTC
	}
	sum := sha256.Sum256(b[:21])
	sum = sha256.Sum256(sum[:])
	if string(sum[:4]) != string(b[21:]) {
		return "", errBTCChecksum
	}
	return s, nil
}

// detectBTC reports a value Auto should take as a bitcoin address: the
// bech32 shape ("bc1" and only the bech32 alphabet, which nothing else
// has), or a legacy address whose checksum holds — the base58 shape
// alone is too loose to claim a value that fails it.
func detectBTC(s string) bool {
	if shape, _ := segwitShape(s); shape {
		return true // a mixed-case one is reported, not taken for a username
	}
	if len(s) < 26 || len(s) > 35 || (s[0] != '1' && s[0] != '3') {
		return false
	}
	_, err := normBTC(s)
	return err == nil
}

const base58Alphabet = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"

// base58Decode decodes bitcoin's base58; each leading '1' is a zero byte.
// Inputs are at most 35 characters, so the quadratic big-number loop is
// cheaper than anything cleverer.
func base58Decode(s string) ([]byte, bool) {
	zeros := 0
	for zeros < len(s) && s[zeros] == '1' {
		zeros++
	}
	var buf [64]byte // big-endian, grows from the end
	n := 0           // bytes in use
	for i := zeros; i < len(s); i++ {
		carry := strings.IndexByte(base58Alphabet, s[i])
		if carry < 0 {
			return nil, false
		}
		for j := len(buf) - 1; j >= len(buf)-n; j-- {
			carry += int(buf[j]) * 58
			buf[j] = byte(carry)
			carry >>= 8
		}
		for ; carry > 0; carry >>= 8 {
			if n == len(buf) {
				return nil, false
			}
			n++
			buf[len(buf)-n] = byte(carry)
		}
	}
	out := make([]byte, zeros+n)
	copy(out[zeros:], buf[len(buf)-n:])
	return out, true
}

// bech32 (BIP 173, BIP 350).
const (
	bech32Charset  = "qpzry9x8gf2tvdw0s3jn54khce6mua7l"
	bech32Const    = 1
	bech32mConst   = 0x2bc830a3
	bech32MaxLen   = 90
	bech32Checksum = 6
)

// segwitShape reports whether s is "bc1" and bech32 characters in either
// case, and whether it mixes cases.
func segwitShape(s string) (shape, mixed bool) {
	if len(s) < 3+1+bech32Checksum || len(s) > bech32MaxLen || !strings.EqualFold(s[:3], "bc1") {
		return false, false
	}
	lower, upper := false, false
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'A' <= c && c <= 'Z':
			upper, c = true, c+'a'-'A'
		case 'a' <= c && c <= 'z':
			lower = true
		}
		if i >= 3 && strings.IndexByte(bech32Charset, c) < 0 {
			return false, false
		}
	}
	return true, lower && upper
}

// normSegwit checks a bech32/bech32m segwit address on mainnet ("bc").
func normSegwit(s string) (string, error) {
	shape, mixed := segwitShape(s)
	switch {
	case !shape:
		return "", errNotBTC
	case mixed:
		return "", errBech32Case
	}
	s = strings.ToLower(s)
	data := make([]byte, len(s)-3)
	for i := range data {
		data[i] = byte(strings.IndexByte(bech32Charset, s[3+i]))
	}
	ver := data[0]
	if ver > 16 {
		return "", errNotBTC
	}
	want := uint32(bech32mConst)
	if ver == 0 {
		want = bech32Const
	}
	if bech32Polymod("bc", data) != want {
		return "", errBTCChecksum
	}
	prog, ok := convertBits(data[1:len(data)-bech32Checksum], 5, 8)
	if !ok || len(prog) < 2 || len(prog) > 40 || ver == 0 && len(prog) != 20 && len(prog) != 32 {
		return "", errNotBTC
	}
	return s, nil
}

// bech32Polymod is BIP 173's checksum over the expanded human-readable
// part and the 5-bit data values (checksum included).
func bech32Polymod(hrp string, data []byte) uint32 {
	gen := [5]uint32{0x3b6a57b2, 0x26508e6d, 0x1ea119fa, 0x3d4233dd, 0x2a1462b3}
	chk := uint32(1)
	step := func(v byte) {
		top := chk >> 25
		chk = (chk&0x1ffffff)<<5 ^ uint32(v)
		for i := range gen {
			if top>>i&1 == 1 {
				chk ^= gen[i]
			}
		}
	}
	for i := 0; i < len(hrp); i++ {
		step(hrp[i] >> 5)
	}
	step(0)
	for i := 0; i < len(hrp); i++ {
		step(hrp[i] & 31)
	}
	for _, v := range data {
		step(v)
	}
	return chk
}

// convertBits regroups from-bit values into to-bit values without padding,
// as segwit programs are decoded: leftover bits must be fewer than from
// and zero.
func convertBits(in []byte, from, to uint) ([]byte, bool) {
	var acc, bits uint
	out := make([]byte, 0, len(in)*int(from)/int(to))
	maxv := uint(1)<<to - 1
	for _, v := range in {
		acc = acc<<from | uint(v)
		bits += from
		for bits >= to {
			bits -= to
			out = append(out, byte(acc>>bits&maxv))
		}
	}
	if bits >= from || acc<<(to-bits)&maxv != 0 {
		return nil, false
	}
	return out, true
}
