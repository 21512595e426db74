package indicator

import (
	"encoding/hex"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// Test values for the types added with indicator breadth. The bitcoin
// addresses are the genesis block's, the bitcoin wiki's P2SH example and
// the BIP 173 and BIP 350 examples; the ethereum ones are EIP-55's.
const (
	sha512Hex = "a4abd4448c49562d828115d13a1fccea927f52b4d5459297f8b43e42da89238b" +
		"c13626e43dcb38ddb082488927ec904fb42057443983e88585179d50551afe62"
	tlshHex   = "BBA06746283AF29B65BFFDE20141A8A461D5C1E36E7F8B178D9ECE20898A98B6BD9F84"
	ssdeepSig = "96:s4Ud1Lj96tHHlZDrwciQmA+4uy1I0G4HYuL8N3TzS8QsO/wqWXLcMSx:sF1LjEtHHlZDrJzrhuyZvHYm8tKp/RWO"
	ja4Print  = "t13d1516h2_8daaf6152771_b186095e22b6"
	ja3Print  = "6407eab466f27556146fdaefcf768231"
	btcP2PKH  = "1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa"
	btcP2SH   = "3J98t1WpEZ73CNmQviecrnyiWrnqRhWNLy"
	btcP2WPKH = "bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4"
	btcP2WSH  = "bc1qrp33g0q5c5txsp9arysrx4k6zdkfs4nce4xj0gdcccefvpysxf3qccfmv3"
	btcP2TR   = "bc1p0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7vqzk5jj0"
	ethEIP55  = "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed"
)

func TestParseCIDR(t *testing.T) {
	t.Parallel()
	runParseCases(t, []parseCase{
		{name: "ipv4", raw: "10.0.0.0/8", wantType: CIDR, wantValue: "10.0.0.0/8"},
		{name: "ipv4 host bits cleared", raw: "10.1.2.3/8", wantType: CIDR, wantValue: "10.0.0.0/8"},
		{name: "ipv4 /32 stays a prefix", raw: "192.0.2.1/32", wantType: CIDR, wantValue: "192.0.2.1/32"},
		{name: "ipv4 /0", raw: "0.0.0.0/0", wantType: CIDR, wantValue: "0.0.0.0/0"},
		{name: "ipv4 defanged", raw: "10[.]0[.]0[.]0/8", wantType: CIDR, wantValue: "10.0.0.0/8"},
		{name: "ipv6 lowercased and compressed", raw: "2001:DB8:0:0::/32", wantType: CIDR, wantValue: "2001:db8::/32"},
		{name: "ipv6 host bits cleared", raw: "2001:db8::1/64", wantType: CIDR, wantValue: "2001:db8::/64"},
		{name: "ipv4-mapped stays ipv6", raw: "::ffff:10.0.0.0/104", wantType: CIDR, wantValue: "::ffff:10.0.0.0/104"},
		{name: "ipv4 length over 32", raw: "10.0.0.0/33", wantErr: ErrTypeMismatch,
			wantMsg: "value is not a valid cidr prefix: want an address, '/' and a prefix length, such as 10.0.0.0/8 or 2001:db8::/32"},
		{name: "ipv6 length over 128", raw: "2001:db8::/129", wantErr: ErrTypeMismatch},
		{name: "length with leading zero", raw: "10.0.0.0/08", wantErr: ErrTypeMismatch},
		{name: "octet with leading zero", raw: "010.0.0.0/8", wantErr: ErrTypeMismatch,
			wantMsg: "value is not a valid cidr prefix: leading zeros are ambiguous (octal or decimal); write each octet without them"},
		{name: "three octets", raw: "10.0.0/8", wantErr: ErrTypeMismatch},
		{name: "zone", raw: "fe80::%eth0/64", wantErr: ErrTypeMismatch},
		{name: "hint", raw: " 10.1.2.3/8 ", hint: CIDR, wantType: CIDR, wantValue: "10.0.0.0/8"},
		{name: "hint needs a length", raw: "10.0.0.1", hint: CIDR, wantErr: ErrTypeMismatch},
		{name: "hint refuses a zone", raw: "fe80::%eth0/64", hint: CIDR, wantErr: ErrTypeMismatch},
		{name: "path after an address is not a prefix", raw: "192.0.2.1/x", wantErr: ErrTypeMismatch,
			wantMsg: "value is not a valid url: the scheme is missing; add http:// or https://"},
	})
}

func TestParseASN(t *testing.T) {
	t.Parallel()
	runParseCases(t, []parseCase{
		{name: "AS", raw: "AS13335", wantType: ASN, wantValue: "AS13335"},
		{name: "ASN", raw: "ASN13335", wantType: ASN, wantValue: "AS13335"},
		{name: "leading zeros dropped", raw: "AS0013335", wantType: ASN, wantValue: "AS13335"},
		{name: "32-bit max", raw: "AS4294967295", wantType: ASN, wantValue: "AS4294967295"},
		{name: "over 32 bits", raw: "AS4294967296", wantErr: ErrTypeMismatch,
			wantMsg: "value is not a valid autonomous system number: the number is not between 0 and 4294967295 (32 bits)"},
		{name: "lowercase is a username under auto", raw: "as13335", wantType: Username, wantValue: "as13335"},
		{name: "letters after AS are a username", raw: "ASUS", wantType: Username, wantValue: "ASUS"},
		{name: "AS alone is a username", raw: "AS", wantType: Username, wantValue: "AS"},
		{name: "hint lowercase", raw: "as13335", hint: ASN, wantType: ASN, wantValue: "AS13335"},
		{name: "hint asn lowercase", raw: "asn13335", hint: ASN, wantType: ASN, wantValue: "AS13335"},
		{name: "hint bare number", raw: "13335", hint: ASN, wantType: ASN, wantValue: "AS13335"},
		{name: "hint asdot", raw: "AS1.10", hint: ASN, wantType: ASN, wantValue: "AS65546"},
		{name: "asdot under auto is a username", raw: "AS1.10", wantType: Username, wantValue: "AS1.10"},
		{name: "hint asdot half over 16 bits", raw: "65536.1", hint: ASN, wantErr: ErrTypeMismatch},
		{name: "hint junk", raw: "AS13335x", hint: ASN, wantErr: ErrTypeMismatch,
			wantMsg: "value is not a valid autonomous system number: want AS and a number, such as AS13335"},
		{name: "hint empty number", raw: "ASN", hint: ASN, wantErr: ErrTypeMismatch},
	})
}

func TestParseCVE(t *testing.T) {
	t.Parallel()
	runParseCases(t, []parseCase{
		{name: "cve", raw: "CVE-2024-3094", wantType: CVE, wantValue: "CVE-2024-3094"},
		{name: "lowercase", raw: "cve-2021-44228", wantType: CVE, wantValue: "CVE-2021-44228"},
		{name: "padded four digits", raw: "CVE-2014-0160", wantType: CVE, wantValue: "CVE-2014-0160"},
		{name: "seven digits", raw: "CVE-2024-1234567", wantType: CVE, wantValue: "CVE-2024-1234567"},
		{name: "first year", raw: "CVE-1999-0001", wantType: CVE, wantValue: "CVE-1999-0001"},
		{name: "three digits", raw: "CVE-2024-123", wantErr: ErrTypeMismatch,
			wantMsg: "value is not a valid cve identifier: want CVE-YYYY-NNNN: a four-digit year from 1999 and a sequence of at least four digits"},
		{name: "year before 1999", raw: "CVE-1998-0001", wantErr: ErrTypeMismatch},
		{name: "padded five digits", raw: "CVE-2024-01234", wantErr: ErrTypeMismatch,
			wantMsg: "value is not a valid cve identifier: a sequence number of five or more digits never starts with 0"},
		{name: "letters", raw: "CVE-2024-30x4", wantErr: ErrTypeMismatch},
		{name: "too long", raw: "CVE-2024-" + strings.Repeat("1", 20), wantErr: ErrTypeMismatch},
		{name: "hint", raw: "cve-2024-3094", hint: CVE, wantType: CVE, wantValue: "CVE-2024-3094"},
		{name: "hint without prefix", raw: "2024-3094", hint: CVE, wantErr: ErrTypeMismatch},
		{name: "CVE word is a username", raw: "CVEs", wantType: Username, wantValue: "CVEs"},
	})
}

func TestParseHashes(t *testing.T) {
	t.Parallel()
	runParseCases(t, []parseCase{
		{name: "sha512", raw: strings.ToUpper(sha512Hex), wantType: SHA512, wantValue: sha512Hex},
		{name: "sha512 hint", raw: sha512Hex, hint: SHA512, wantType: SHA512, wantValue: sha512Hex},
		{name: "sha512 hint given sha256", raw: strings.Repeat("a", 64), hint: SHA512, wantErr: ErrTypeMismatch,
			wantMsg: "value is not a valid sha512 hash: want 128 hexadecimal digits, got 64"},
		{name: "127 hex is a username", raw: sha512Hex[:127], wantType: Username, wantValue: sha512Hex[:127]},
		{name: "ja3 is an md5 under auto", raw: ja3Print, wantType: MD5, wantValue: ja3Print},
		{name: "ja3 hint", raw: strings.ToUpper(ja3Print), hint: JA3, wantType: JA3, wantValue: ja3Print},
		{name: "ja3 hint wrong length", raw: ja3Print + "0", hint: JA3, wantErr: ErrTypeMismatch,
			wantMsg: "value is not a valid ja3 fingerprint: want 32 hexadecimal digits, got 33"},
		{name: "ja4", raw: ja4Print, wantType: JA4, wantValue: ja4Print},
		{name: "ja4 uppercase", raw: strings.ToUpper(ja4Print), wantType: JA4, wantValue: ja4Print},
		{name: "ja4 quic no alpn", raw: "q13i0310h3_55b375c5d22e_06cda9e17597", wantType: JA4,
			wantValue: "q13i0310h3_55b375c5d22e_06cda9e17597"},
		{name: "ja4 bad protocol is a username", raw: "x13d1516h2_8daaf6152771_b186095e22b6", wantType: Username,
			wantValue: "x13d1516h2_8daaf6152771_b186095e22b6"},
		{name: "ja4 hint bad hash", raw: "t13d1516h2_8daaf615277g_b186095e22b6", hint: JA4, wantErr: ErrTypeMismatch},
		{name: "ja4 hint ja4s shape", raw: "t130200_1301_234ea6891581", hint: JA4, wantErr: ErrTypeMismatch},
		{name: "tlsh", raw: "T1" + tlshHex, wantType: TLSH, wantValue: "T1" + tlshHex},
		{name: "tlsh lowercase", raw: "t1" + strings.ToLower(tlshHex), wantType: TLSH, wantValue: "T1" + tlshHex},
		{name: "tlsh legacy only with hint", raw: strings.ToLower(tlshHex), hint: TLSH, wantType: TLSH, wantValue: "T1" + tlshHex},
		{name: "tlsh legacy under auto is a username", raw: tlshHex, wantType: Username, wantValue: tlshHex},
		{name: "tlsh hint short", raw: "T1" + tlshHex[:68], hint: TLSH, wantErr: ErrTypeMismatch,
			wantMsg: "value is not a valid tlsh hash: want T1 and 70 hexadecimal digits"},
		{name: "ssdeep", raw: ssdeepSig, wantType: SSDEEP, wantValue: ssdeepSig},
		{name: "ssdeep block 3", raw: "3:AXGBicFlgVNhBGcL6wCrFQEv:AXGHsNhxLsr2C", wantType: SSDEEP,
			wantValue: "3:AXGBicFlgVNhBGcL6wCrFQEv:AXGHsNhxLsr2C"},
		{name: "ssdeep bad block size is a username", raw: "5:AXGBicFlgVNhBGcL6wCrFQEv:AXGHsNhxLsr2C", wantType: Username,
			wantValue: "5:AXGBicFlgVNhBGcL6wCrFQEv:AXGHsNhxLsr2C"},
		{name: "time of day is not ssdeep", raw: "3:30:45", wantType: Username, wantValue: "3:30:45"},
		{name: "ssdeep hint bad block size", raw: "5:abc:def", hint: SSDEEP, wantErr: ErrTypeMismatch,
			wantMsg: "value is not a valid ssdeep hash: the block size is not 3 times a power of two"},
		{name: "ssdeep hint leading zero block", raw: "03:abc:def", hint: SSDEEP, wantErr: ErrTypeMismatch},
		{name: "ssdeep hint block too big", raw: "6442450944:abc:def", hint: SSDEEP, wantErr: ErrTypeMismatch},
		{name: "ssdeep hint largest block", raw: "3221225472:abc:def", hint: SSDEEP, wantType: SSDEEP,
			wantValue: "3221225472:abc:def"},
		{name: "ssdeep hint bad alphabet", raw: "3:ab-c:def", hint: SSDEEP, wantErr: ErrTypeMismatch},
		{name: "ssdeep hint file name", raw: ssdeepSig + `,"a.exe"`, hint: SSDEEP, wantErr: ErrTypeMismatch},
		{name: "ssdeep hint part too long", raw: "3:" + strings.Repeat("a", 65) + ":b", hint: SSDEEP, wantErr: ErrTypeMismatch},
	})
}

func TestParseCryptoAddresses(t *testing.T) {
	t.Parallel()
	runParseCases(t, []parseCase{
		{name: "btc p2pkh", raw: btcP2PKH, wantType: BTC, wantValue: btcP2PKH},
		{name: "btc p2sh", raw: btcP2SH, wantType: BTC, wantValue: btcP2SH},
		{name: "btc p2wpkh", raw: btcP2WPKH, wantType: BTC, wantValue: btcP2WPKH},
		{name: "btc p2wpkh uppercase", raw: strings.ToUpper(btcP2WPKH), wantType: BTC, wantValue: btcP2WPKH},
		{name: "btc p2wsh", raw: btcP2WSH, wantType: BTC, wantValue: btcP2WSH},
		{name: "btc taproot bech32m", raw: btcP2TR, wantType: BTC, wantValue: btcP2TR},
		{name: "btc legacy bad checksum is a username", raw: btcP2PKH[:33] + "b", wantType: Username,
			wantValue: btcP2PKH[:33] + "b"},
		{name: "btc legacy hint bad checksum", raw: btcP2PKH[:33] + "b", hint: BTC, wantErr: ErrTypeMismatch,
			wantMsg: "value is not a valid bitcoin address: the checksum does not match: a character is wrong or missing"},
		{name: "btc legacy hint bad alphabet", raw: "1A1zP1eP5QGefi2DMPTfTL5SLmv7Div0Na", hint: BTC, wantErr: ErrTypeMismatch},
		{name: "btc legacy hint case changed", raw: "1a1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa", hint: BTC, wantErr: ErrTypeMismatch},
		{name: "btc bech32 bad checksum", raw: btcP2WPKH[:41] + "5", wantErr: ErrTypeMismatch},
		{name: "btc taproot with bech32 checksum", raw: "bc1p0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7vqh2y7hd",
			wantErr: ErrTypeMismatch},
		{name: "btc bech32 mixed case", raw: "Bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4", wantErr: ErrTypeMismatch,
			wantMsg: "value is not a valid bitcoin address: mixes upper and lower case, which bech32 forbids"},
		{name: "btc testnet hint", raw: "tb1qw508d6qejxtdg4y5r3zarvary0c5xw7kxpjzsx", hint: BTC, wantErr: ErrTypeMismatch},
		{name: "bc1 word is a username", raw: "bc1bob", wantType: Username, wantValue: "bc1bob"},
		{name: "eth checksummed", raw: ethEIP55, wantType: ETH, wantValue: strings.ToLower(ethEIP55)},
		{name: "eth lowercase", raw: strings.ToLower(ethEIP55), wantType: ETH, wantValue: strings.ToLower(ethEIP55)},
		{name: "eth uppercase digits", raw: "0X" + strings.ToUpper(ethEIP55[2:]), wantType: ETH, wantValue: strings.ToLower(ethEIP55)},
		{name: "eth bad checksum", raw: ethEIP55[:41] + "D", wantErr: ErrTypeMismatch,
			wantMsg: "value is not a valid ethereum address: the mixed-case (EIP-55) checksum does not match: a character is wrong"},
		{name: "eth hint short", raw: ethEIP55[:41], hint: ETH, wantErr: ErrTypeMismatch,
			wantMsg: "value is not a valid ethereum address: want 0x and 40 hexadecimal digits"},
		{name: "40 hex without 0x is sha1", raw: strings.ToLower(ethEIP55[2:]), wantType: SHA1, wantValue: strings.ToLower(ethEIP55[2:])},
	})
}

func TestEIP55(t *testing.T) {
	t.Parallel()
	for _, a := range []string{ethEIP55, "0xfB6916095ca1df60bB79Ce92cE3Ea74c37c5d359",
		"0xdbF03B407c01E7cD3CBea99509d93f8DDDC8C6FB", "0xD1220A0cf47c7B9Be7A2E6BA89F429762e7b9aDb"} {
		require.True(t, eip55Valid(a[2:], strings.ToLower(a[2:])), a)
	}
}

// The EIP-55 checksum hashes with the original Keccak-256, not FIPS 202
// SHA3-256 (whose empty-input digest is a7ffc6f8…).
func TestKeccak256IsLegacyKeccak(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"":    "c5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470",
		"abc": "4e03657aea45a94fc7d47ba826c8d667c0d1e6e33a64a036ec44f58fa12d6c45",
	} {
		require.Equal(t, want, hex.EncodeToString(keccak256([]byte(in))), "%q", in)
	}
}

func TestParseURLFragment(t *testing.T) {
	t.Parallel()
	runParseCases(t, []parseCase{
		{name: "fragment kept", raw: "https://login.example.com/#alice@victim.example", wantType: URL,
			wantValue: "https://login.example.com/#alice@victim.example"},
		{name: "fragment keeps case", raw: "http://example.com/a#Top", wantType: URL, wantValue: "http://example.com/a#Top"},
		{name: "fragment after empty path", raw: "http://example.com#x", wantType: URL, wantValue: "http://example.com/#x"},
		{name: "fragment after query", raw: "http://example.com/?a=1#b=2", wantType: URL, wantValue: "http://example.com/?a=1#b=2"},
		{name: "fragment escaped as browsers do", raw: "http://example.com/#a b\"<>`é", wantType: URL,
			wantValue: "http://example.com/#a%20b%22%3C%3E%60%C3%A9"},
		{name: "fragment escapes kept", raw: "http://example.com/#a%20b%zz", wantType: URL,
			wantValue: "http://example.com/#a%20b%zz"},
		{name: "second hash stays in the fragment", raw: "http://example.com/#a#b", wantType: URL,
			wantValue: "http://example.com/#a#b"},
		{name: "empty fragment dropped", raw: "http://example.com/#", wantType: URL, wantValue: "http://example.com/"},
		{name: "defanged fragment", raw: "hxxps://evil[.]com[/]login#victim[@]corp[.]example", wantType: URL,
			wantValue: "https://evil.com/login#victim@corp.example"},
	})
}
