package config

import (
	"crypto/tls"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// The scalar types below implement yaml.Unmarshaler so they parse the same
// way through Load and through a plain yaml.Unmarshal, and MarshalText so a
// loaded config prints as it would be written.

// quote echoes a (non-secret) value in an error, bounded so a pasted blob
// cannot flood the output.
func quote(s string) string {
	const max = 40
	if len(s) > max {
		s = s[:max] + "…"
	}
	return strconv.Quote(s)
}

func scalar(n *yaml.Node, what string) error {
	if n.Kind != yaml.ScalarNode {
		return fmt.Errorf("must be %s, not a list or mapping", what)
	}
	return nil
}

// UnmarshalYAML parses a Go duration ("500ms", "30s", "5m", "1h"); negative
// durations are refused because no setting has a meaning for them.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	if err := scalar(n, "a duration such as 30s"); err != nil {
		return err
	}
	v, err := parseDuration(n.Value)
	if err != nil {
		return fmt.Errorf("invalid duration %s (write a number with a unit: 500ms, 30s, 5m, 1h, 90d)", quote(n.Value))
	}
	if v < 0 {
		return fmt.Errorf("invalid duration %s: must not be negative", quote(n.Value))
	}
	*d = Duration(v)
	return nil
}

func (d Duration) String() string               { return time.Duration(d).String() }
func (d Duration) MarshalText() ([]byte, error) { return []byte(d.String()), nil }

var byteUnits = map[string]int64{
	"": 1, "B": 1,
	"KB": 1e3, "MB": 1e6, "GB": 1e9, "TB": 1e12,
	"KiB": 1 << 10, "MiB": 1 << 20, "GiB": 1 << 30, "TiB": 1 << 40,
}

// ParseByteSize parses "5MiB", "512KiB", "1MB", "1GiB" or a plain number of
// bytes. Only whole numbers are accepted, so every size is exact.
func ParseByteSize(s string) (ByteSize, error) {
	num := strings.TrimLeft(s, "0123456789")
	digits, unit := s[:len(s)-len(num)], strings.TrimSpace(num)
	if strings.HasPrefix(s, "-") {
		return 0, fmt.Errorf("invalid size %s: must not be negative", quote(s))
	}
	mult, ok := byteUnits[unit]
	if digits == "" || !ok {
		return 0, fmt.Errorf("invalid size %s (write a whole number with an optional unit: B, KB, MB, GB, TB, KiB, MiB, GiB, TiB)", quote(s))
	}
	n, err := strconv.ParseInt(digits, 10, 64)
	if err != nil || n > math.MaxInt64/mult {
		return 0, fmt.Errorf("invalid size %s: too large", quote(s))
	}
	return ByteSize(n * mult), nil
}

// UnmarshalYAML parses a size; see ParseByteSize.
func (b *ByteSize) UnmarshalYAML(n *yaml.Node) error {
	if err := scalar(n, "a size such as 5MiB"); err != nil {
		return err
	}
	v, err := ParseByteSize(n.Value)
	if err != nil {
		return err
	}
	*b = v
	return nil
}

// String prints the size in the largest binary unit that divides it.
func (b ByteSize) String() string {
	for _, u := range []string{"TiB", "GiB", "MiB", "KiB"} {
		if m := byteUnits[u]; b != 0 && int64(b)%m == 0 {
			return strconv.FormatInt(int64(b)/m, 10) + u
		}
	}
	return strconv.FormatInt(int64(b), 10)
}

func (b ByteSize) MarshalText() ([]byte, error) { return []byte(b.String()), nil }

var ratePeriods = map[string]time.Duration{"s": time.Second, "m": time.Minute, "h": time.Hour}

// ParseRate parses "10/s", "600/m", "3600/h", or "0" for unlimited.
// "0/s" is refused: read literally it allows nothing, which is never what
// someone writing it meant.
func ParseRate(s string) (Rate, error) {
	if s == "0" {
		return Rate{}, nil
	}
	bad := fmt.Errorf("invalid rate %s (write N/s, N/m or N/h, or 0 for unlimited)", quote(s))
	num, unit, ok := strings.Cut(s, "/")
	per, known := ratePeriods[unit]
	if !ok || !known {
		return Rate{}, bad
	}
	n, err := strconv.Atoi(num)
	switch {
	case err != nil && strings.HasPrefix(num, "-"):
		return Rate{}, fmt.Errorf("invalid rate %s: must not be negative", quote(s))
	case err != nil || strings.HasPrefix(num, "+"):
		return Rate{}, bad
	case n < 0:
		return Rate{}, fmt.Errorf("invalid rate %s: must not be negative", quote(s))
	case n == 0:
		return Rate{}, fmt.Errorf("invalid rate %s: allows no requests at all; write 0 for unlimited", quote(s))
	case n > 1e9:
		return Rate{}, fmt.Errorf("invalid rate %s: too large", quote(s))
	}
	return Rate{N: n, Per: per}, nil
}

// UnmarshalYAML parses a rate; see ParseRate.
func (r *Rate) UnmarshalYAML(n *yaml.Node) error {
	if err := scalar(n, "a rate such as 10/s"); err != nil {
		return err
	}
	v, err := ParseRate(n.Value)
	if err != nil {
		return err
	}
	*r = v
	return nil
}

// Unlimited reports whether the rate imposes no limit.
func (r Rate) Unlimited() bool { return r.N == 0 || r.Per == 0 }

// PerSecond is the rate in requests per second (0 when unlimited), the unit
// golang.org/x/time/rate works in.
func (r Rate) PerSecond() float64 {
	if r.Unlimited() {
		return 0
	}
	return float64(r.N) / r.Per.Seconds()
}

func (r Rate) String() string {
	if r.Unlimited() {
		return "0"
	}
	for u, p := range ratePeriods {
		if p == r.Per {
			return strconv.Itoa(r.N) + "/" + u
		}
	}
	return fmt.Sprintf("%d/%s", r.N, r.Per)
}

func (r Rate) MarshalText() ([]byte, error) { return []byte(r.String()), nil }

// UnmarshalYAML accepts "1.2" and "1.3". Older versions are refused with a
// reason rather than as unknown, because someone will try.
func (v *TLSVersion) UnmarshalYAML(n *yaml.Node) error {
	if err := scalar(n, `"1.2" or "1.3"`); err != nil {
		return err
	}
	switch n.Value {
	case "1.2":
		*v = tls.VersionTLS12
	case "1.3":
		*v = tls.VersionTLS13
	case "1", "1.0", "1.1":
		return fmt.Errorf("TLS %s is not allowed: min_version must be at least 1.2", n.Value)
	default:
		return fmt.Errorf("invalid TLS version %s (write \"1.2\" or \"1.3\")", quote(n.Value))
	}
	return nil
}

// Std returns the crypto/tls constant.
func (v TLSVersion) Std() uint16 { return uint16(v) }

func (v TLSVersion) String() string {
	switch v {
	case tls.VersionTLS12:
		return "1.2"
	case tls.VersionTLS13:
		return "1.3"
	case 0:
		return ""
	}
	return tls.VersionName(uint16(v))
}

func (v TLSVersion) MarshalText() ([]byte, error) { return []byte(v.String()), nil }

// UnmarshalYAML parses YYYY-MM-DD (UTC).
func (d *Date) UnmarshalYAML(n *yaml.Node) error {
	if err := scalar(n, "a date YYYY-MM-DD"); err != nil {
		return err
	}
	t, err := time.Parse(time.DateOnly, n.Value)
	if err != nil {
		return fmt.Errorf("invalid date %s (write YYYY-MM-DD)", quote(n.Value))
	}
	d.Time = t
	return nil
}

func (d Date) String() string {
	if d.IsZero() {
		return ""
	}
	return d.Format(time.DateOnly)
}

func (d Date) MarshalText() ([]byte, error) { return []byte(d.String()), nil }

// errNotScalar is used by the decoder for plain fields given a list or map.
var errNotScalar = errors.New("must be a single value, not a list or mapping")

// MarshalJSON overrides time.Time's, so a Date prints as a day.
func (d Date) MarshalJSON() ([]byte, error) { return []byte(strconv.Quote(d.String())), nil }

// parseDuration is time.ParseDuration plus a leading whole number of days
// ("90d", "1d12h"): retention and rotation periods are written in days,
// and a day here is 24 hours (no calendar or DST arithmetic).
func parseDuration(s string) (time.Duration, error) {
	days, rest, ok := strings.Cut(s, "d")
	if !ok || days == "" || strings.Trim(days, "0123456789") != "" {
		return time.ParseDuration(s)
	}
	n, err := strconv.ParseInt(days, 10, 64)
	if err != nil || n > int64(math.MaxInt64/(24*time.Hour)) {
		return 0, fmt.Errorf("day count %q out of range", days)
	}
	d := time.Duration(n) * 24 * time.Hour
	if rest == "" {
		return d, nil
	}
	r, err := time.ParseDuration(rest)
	if err != nil || r < 0 || d > math.MaxInt64-r {
		return 0, fmt.Errorf("invalid duration %q", s)
	}
	return d + r, nil
}
