package upstream

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestParseBaseURL(t *testing.T) {
	t.Parallel()
	good := []struct{ in, path, raw string }{
		{"https://api.example.org", "", ""},
		{"https://api.example.org/", "", ""},
		{"https://api.example.org/api/v2/", "/api/v2", "/api/v2"},
		{"https://api.example.org/a%2Fb", "/a/b", "/a%2Fb"},
		{"https://[2001:db8::1]:8443/x", "/x", "/x"},
	}
	for _, tt := range good {
		u, err := ParseBaseURL(tt.in)
		require.NoError(t, err, tt.in)
		require.Equal(t, "https", u.Scheme)
		require.Equal(t, tt.path, u.Path, tt.in)
		require.Equal(t, tt.raw, u.RawPath, tt.in)
	}
	bad := []struct{ in, want string }{
		{"", "required"},
		{"api.example.org", "absolute https://"},
		{"https:///x", "absolute https://"},
		{"http://api.example.org", "must use https://"},
		{"https://user:hunter2@api.example.org", "userinfo"},
		{"https://api.example.org/?k=v", "query"},
		{"https://api.example.org/?", "query"},
		{"https://api.example.org/#frag", "fragment"},
		{"https://api.example.org/#", "fragment"},
	}
	for _, tt := range bad {
		_, err := ParseBaseURL(tt.in)
		require.ErrorContains(t, err, tt.want, tt.in)
		require.NotContains(t, err.Error(), "hunter2")
	}
}
