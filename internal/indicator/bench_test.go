package indicator

import "testing"

// BenchmarkParseAuto is what every /v1/resolve pays to detect and
// normalise its query, per kind of value.
func BenchmarkParseAuto(b *testing.B) {
	for _, c := range []struct{ name, raw string }{
		{"ipv4", "203.0.113.7"},
		{"ipv6", "2001:db8::1"},
		{"domain", "example.com"},
		{"email", "alice@example.com"},
		{"url", "https://example.com/login.php?x=1"},
		{"sha256", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"},
		{"phone", "+14155552671"},
		{"username", "alice"},
		{"dotted_username", "jane.doe"},
		{"ipv4_port", "203.0.113.7:443"},
		{"cidr", "10.0.0.0/8"},
		{"asn", "AS13335"},
		{"cve", "CVE-2024-3094"},
		{"ssdeep", ssdeepSig},
		{"btc_legacy", btcP2PKH},
		{"btc_bech32", btcP2WPKH},
		{"eth_checksummed", ethEIP55},
		{"ja4", ja4Print},
		{"defanged_url", "hxxps://evil[.]example[.]com[/]login"},
	} {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := Parse(c.raw, Auto); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
