package config

import (
	"crypto/tls"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"
)

func TestByteSize(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in      string
		want    ByteSize
		wantErr string
	}{
		{in: "5MiB", want: 5 << 20},
		{in: "512KiB", want: 512 << 10},
		{in: "1MB", want: 1_000_000},
		{in: "1GiB", want: 1 << 30},
		{in: "2TiB", want: 2 << 40},
		{in: "1 KB", want: 1000},
		{in: "1024", want: 1024},
		{in: "0", want: 0},
		{in: "7B", want: 7},
		{in: "-1", wantErr: "must not be negative"},
		{in: "-5MiB", wantErr: "must not be negative"},
		{in: "1.5MiB", wantErr: "invalid size"},
		{in: "5mib", wantErr: "invalid size"},
		{in: "MiB", wantErr: "invalid size"},
		{in: "", wantErr: "invalid size"},
		{in: "9223372036854775807", want: 1<<63 - 1},
		{in: "9223372036854775808", wantErr: "too large"},
		{in: "8388608TiB", wantErr: "too large"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			t.Parallel()
			got, err := ParseByteSize(tt.in)
			if tt.wantErr != "" {
				require.ErrorContains(t, err, tt.wantErr)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tt.want, got)
		})
	}
	require.Equal(t, "5MiB", ByteSize(5<<20).String())
	require.Equal(t, "1000", ByteSize(1000).String())
}

func TestRate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in      string
		want    Rate
		perSec  float64
		wantErr string
	}{
		{in: "10/s", want: Rate{10, time.Second}, perSec: 10},
		{in: "600/m", want: Rate{600, time.Minute}, perSec: 10},
		{in: "3600/h", want: Rate{3600, time.Hour}, perSec: 1},
		{in: "0", want: Rate{}, perSec: 0},
		{in: "0/s", wantErr: "allows no requests"},
		{in: "-1/s", wantErr: "must not be negative"},
		{in: "10/d", wantErr: "invalid rate"},
		{in: "10", wantErr: "invalid rate"},
		{in: "+5/s", wantErr: "invalid rate"},
		{in: "x/s", wantErr: "invalid rate"},
		{in: "10/sec", wantErr: "invalid rate"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			t.Parallel()
			got, err := ParseRate(tt.in)
			if tt.wantErr != "" {
				require.ErrorContains(t, err, tt.wantErr)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tt.want, got)
			require.InDelta(t, tt.perSec, got.PerSecond(), 1e-9)
			require.Equal(t, tt.in, got.String())
		})
	}
}

// scalars decodes every custom type through plain yaml.Unmarshal, the path
// other packages and tests may use.
type scalars struct {
	D  Duration   `yaml:"d"`
	B  ByteSize   `yaml:"b"`
	R  Rate       `yaml:"r"`
	V  TLSVersion `yaml:"v"`
	At Date       `yaml:"at"`
}

func TestScalarTypesYAML(t *testing.T) {
	t.Parallel()
	var s scalars
	require.NoError(t, yaml.Unmarshal([]byte("d: 90s\nb: 512KiB\nr: 600/m\nv: 1.3\nat: 2026-10-01\n"), &s))
	require.Equal(t, 90*time.Second, s.D.Std())
	require.Equal(t, ByteSize(512<<10), s.B)
	require.Equal(t, Rate{600, time.Minute}, s.R)
	require.Equal(t, uint16(tls.VersionTLS13), s.V.Std())
	require.Equal(t, "2026-10-01", s.At.String())

	out, err := yaml.Marshal(s)
	require.NoError(t, err)
	var back scalars
	require.NoError(t, yaml.Unmarshal(out, &back))
	require.Equal(t, s, back)

	bad := []struct{ doc, want string }{
		{"d: 3x", `invalid duration "3x"`},
		{"d: 30", `invalid duration "30"`},
		{"d: -5s", "must not be negative"},
		{"d: [1s]", "must be a duration"},
		{`v: "1.1"`, "must be at least 1.2"},
		{`v: "1.0"`, "must be at least 1.2"},
		{`v: "1.4"`, "invalid TLS version"},
		{"at: 2026-02-30", "invalid date"},
		{"at: 01/10/2026", "invalid date"},
	}
	for _, b := range bad {
		var s scalars
		require.ErrorContains(t, yaml.Unmarshal([]byte(b.doc), &s), b.want, b.doc)
	}
}

func TestDurationDays(t *testing.T) {
	t.Parallel()
	day := 24 * time.Hour
	good := map[string]time.Duration{"90d": 90 * day, "1d12h": day + 12*time.Hour, "0d": 0, "365d": 365 * day,
		"30s": 30 * time.Second, "1h30m": 90 * time.Minute, "2d30m": 2*day + 30*time.Minute}
	for in, want := range good {
		got, err := parseDuration(in)
		require.NoError(t, err, in)
		require.Equal(t, want, got, in)
	}
	for _, in := range []string{"d", "1.5d", "-1d", "1d-1h", "1dd", "99999999999999d", "106751d23h59m", "1 d", "d1h"} {
		_, err := parseDuration(in)
		require.Error(t, err, in)
	}
}
