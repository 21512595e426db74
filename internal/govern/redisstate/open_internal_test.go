package redisstate

import (
	"crypto/tls"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestParseURL(t *testing.T) {
	t.Parallel()
	tests := []struct {
		url        string
		addr       string
		db         int
		tls        bool
		serverName string
	}{
		{"redis://127.0.0.1:6379/0", "127.0.0.1:6379", 0, false, ""},
		{"redis://:pw@redis.internal/3", "redis.internal:6379", 3, false, ""},
		{"rediss://user:pw@redis.example:6380/1", "redis.example:6380", 1, true, "redis.example"},
	}
	for _, tc := range tests {
		t.Run(tc.url, func(t *testing.T) {
			t.Parallel()
			o, err := parseURL(tc.url)
			require.NoError(t, err)
			require.Equal(t, tc.addr, o.Addr)
			require.Equal(t, tc.db, o.DB)
			if !tc.tls {
				require.Nil(t, o.TLSConfig)
				return
			}
			require.NotNil(t, o.TLSConfig)
			require.GreaterOrEqual(t, o.TLSConfig.MinVersion, uint16(tls.VersionTLS12))
			require.Equal(t, tc.serverName, o.TLSConfig.ServerName)
			require.False(t, o.TLSConfig.InsecureSkipVerify)
		})
	}
}
