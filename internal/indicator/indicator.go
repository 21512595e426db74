// Package indicator detects, refangs and normalises threat indicators.
package indicator

// Type is an indicator type.
type Type string

// Indicator types. Auto asks Parse to detect.
const (
	Auto     Type = "auto"
	IPv4     Type = "ipv4"
	IPv6     Type = "ipv6"
	Domain   Type = "domain"
	URL      Type = "url"
	Email    Type = "email"
	MD5      Type = "md5"
	SHA1     Type = "sha1"
	SHA256   Type = "sha256"
	Phone    Type = "phone"
	Username Type = "username"
)

// MaxLen is the longest raw indicator accepted, in bytes.
const MaxLen = 2048

// Indicator is a parsed, normalised indicator.
type Indicator struct {
	Raw   string // as received
	Value string // refanged and normalised
	Type  Type   // detected or as hinted (never Auto)
}

// ParseType parses a type name; "" means Auto. TODO(indicator helper).
func ParseType(s string) (Type, error) { panic("unimplemented") }

// Parse refangs, validates, detects (hint Auto) and normalises raw.
// TODO(indicator helper).
func Parse(raw string, hint Type) (Indicator, error) { panic("unimplemented") }
