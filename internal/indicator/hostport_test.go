package indicator

import "testing"

func TestParseHostPort(t *testing.T) {
	t.Parallel()
	runParseCases(t, []parseCase{
		{name: "ipv4", raw: "1.2.3.4:443", wantType: IPv4, wantValue: "1.2.3.4", wantPort: 443},
		{name: "ipv4 defanged", raw: "1[.]2[.]3[.]4[:]8080", wantType: IPv4, wantValue: "1.2.3.4", wantPort: 8080},
		{name: "ipv4 port leading zero", raw: "1.2.3.4:0443", wantType: IPv4, wantValue: "1.2.3.4", wantPort: 443},
		{name: "ipv4 max port", raw: "1.2.3.4:65535", wantType: IPv4, wantValue: "1.2.3.4", wantPort: 65535},
		{name: "ipv4 port 0", raw: "1.2.3.4:0", wantErr: ErrTypeMismatch,
			wantMsg: "value is not a valid ipv4 address: port is not between 1 and 65535"},
		{name: "ipv4 port too big", raw: "1.2.3.4:65536", wantErr: ErrTypeMismatch},
		{name: "ipv4 port too long", raw: "1.2.3.4:000000443", wantErr: ErrTypeMismatch},
		{name: "bad ipv4 with port", raw: "1.2.3:80", wantErr: ErrTypeMismatch,
			wantMsg: "value is not a valid ipv4 address: want four decimal octets 0-255 separated by dots"},
		{name: "ipv6 bracketed", raw: "[2001:DB8::1]:443", wantType: IPv6, wantValue: "2001:db8::1", wantPort: 443},
		{name: "ipv6 mapped", raw: "[::ffff:1.2.3.4]:80", wantType: IPv6, wantValue: "::ffff:1.2.3.4", wantPort: 80},
		{name: "ipv6 unbracketed is an address", raw: "2001:db8::1:443", wantType: IPv6, wantValue: "2001:db8::1:443"},
		{name: "ipv6 bracketed zone", raw: "[fe80::1%eth0]:80", wantErr: ErrTypeMismatch},
		{name: "ipv6 bracketed junk", raw: "[zz]:80", wantErr: ErrTypeMismatch},
		{name: "domain", raw: "Evil.Example.COM:8443", wantType: Domain, wantValue: "evil.example.com", wantPort: 8443},
		{name: "domain bad port", raw: "evil.com:99999", wantErr: ErrTypeMismatch,
			wantMsg: "value is not a valid domain name: port is not between 1 and 65535"},
		{name: "unknown tld with port is a username", raw: "jane.doe:1234", wantType: Username, wantValue: "jane.doe:1234"},
		{name: "name with port is a username", raw: "alice:1234", wantType: Username, wantValue: "alice:1234"},
		{name: "url keeps its port in the value", raw: "http://1.2.3.4:8080/", wantType: URL, wantValue: "http://1.2.3.4:8080/"},
		{name: "address port and path is a schemeless url", raw: "192.0.2.1:8080/x", wantErr: ErrTypeMismatch},
		{name: "hint ipv4", raw: "1.2.3.4:443", hint: IPv4, wantType: IPv4, wantValue: "1.2.3.4", wantPort: 443},
		{name: "hint ipv6", raw: "[::1]:53", hint: IPv6, wantType: IPv6, wantValue: "::1", wantPort: 53},
		{name: "hint ipv4 given bracketed ipv6", raw: "[::1]:53", hint: IPv4, wantErr: ErrTypeMismatch},
		{name: "hint domain unknown tld", raw: "corp.internal:8443", hint: Domain, wantType: Domain,
			wantValue: "corp.internal", wantPort: 8443},
		{name: "hint username keeps the port", raw: "1.2.3.4:443", hint: Username, wantType: Username, wantValue: "1.2.3.4:443"},
		{name: "hint cidr takes no port", raw: "10.0.0.0/8:80", hint: CIDR, wantErr: ErrTypeMismatch},
	})
}

func TestParseWildcard(t *testing.T) {
	t.Parallel()
	runParseCases(t, []parseCase{
		{name: "star", raw: "*.example.com", wantType: Domain, wantValue: "example.com", wantWild: true},
		{name: "leading dot", raw: ".Example.COM", wantType: Domain, wantValue: "example.com", wantWild: true},
		{name: "star defanged", raw: "*[.]evil[.]com", wantType: Domain, wantValue: "evil.com", wantWild: true},
		{name: "star unicode", raw: "*.bücher.de", wantType: Domain, wantValue: "xn--bcher-kva.de", wantWild: true},
		{name: "star with port", raw: "*.example.com:443", wantType: Domain, wantValue: "example.com",
			wantWild: true, wantPort: 443},
		{name: "star tld alone", raw: "*.com", wantType: Username, wantValue: "*.com"},
		{name: "unknown tld is a username", raw: "*.corp.internal", wantType: Username, wantValue: "*.corp.internal"},
		{name: "dot file is a username", raw: ".bashrc", wantType: Username, wantValue: ".bashrc"},
		{name: "double dot is a username", raw: "..example.com", wantType: Username, wantValue: "..example.com"},
		{name: "star inside is a username", raw: "ev*l.example.com", wantType: Username, wantValue: "ev*l.example.com"},
		{name: "star in a url host", raw: "http://*.example.com/", wantErr: ErrTypeMismatch},
		{name: "dotted address", raw: ".1.2.3.4", wantErr: ErrTypeMismatch},
		{name: "hint domain unknown tld", raw: "*.corp.internal", hint: Domain, wantType: Domain,
			wantValue: "corp.internal", wantWild: true},
		{name: "hint domain leading dot", raw: ".corp.internal", hint: Domain, wantType: Domain,
			wantValue: "corp.internal", wantWild: true},
		{name: "hint ipv4", raw: "*.1.2.3.4", hint: IPv4, wantErr: ErrTypeMismatch,
			wantMsg: "value is not a valid ipv4 address: a wildcard (*. or a leading dot) only qualifies a domain name"},
		{name: "hint domain single label", raw: "*.com", hint: Domain, wantErr: ErrTypeMismatch},
		{name: "hint username keeps it", raw: "*.example.com", hint: Username, wantType: Username, wantValue: "*.example.com"},
	})
}
