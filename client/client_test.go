package client

import (
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestNewValidatesBaseURLAndToken(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		baseURL string
		token   string
		opts    []Option
		wantErr string // "" means success
	}{
		{"https", "https://intelgate.example.com", testToken, nil, ""},
		{"https with path prefix", "https://gw.example.com/intelgate/", testToken, nil, ""},
		{"http loopback v4", "http://127.0.0.1:8080", testToken, nil, ""},
		{"http loopback v6", "http://[::1]:8080", testToken, nil, ""},
		{"http localhost", "http://LocalHost:8080", testToken, nil, ""},
		{"http remote refused", "http://intelgate.example.com", testToken, nil, "plain http is only allowed to a loopback host"},
		{"http remote ip refused", "http://10.0.0.5:8080", testToken, nil, "plain http is only allowed to a loopback host"},
		{"http remote with opt-in", "http://10.0.0.5:8080", testToken, []Option{WithInsecureHTTP()}, ""},
		{"relative", "/v1", testToken, nil, "scheme must be https or http"},
		{"no host", "https://", testToken, nil, "must be absolute"},
		{"ftp", "ftp://intelgate.example.com", testToken, nil, "scheme must be https or http"},
		{"credentials", "https://user:hunter2@intelgate.example.com", testToken, nil, "must not contain credentials"},
		{"query", "https://intelgate.example.com/?x=1", testToken, nil, "must not have a query"},
		{"unparsable", "https://intelgate.example.com:port/%zz", testToken, nil, "invalid base URL"},
		{"empty token", "https://intelgate.example.com", "", nil, "invalid token: it is empty"},
		{"token with newline", "https://intelgate.example.com", "igt_abc\r\nX-Evil: 1", nil, "control characters"},
		{"token with space", "https://intelgate.example.com", "igt_abc def", nil, "spaces"},
		{"zero attempts", "https://intelgate.example.com", testToken, []Option{WithMaxAttempts(0)}, "WithMaxAttempts must be at least 1"},
		{"zero max wait", "https://intelgate.example.com", testToken, []Option{WithMaxWait(0)}, "WithMaxWait must be positive"},
		{"backoff max below base", "https://intelgate.example.com", testToken, []Option{WithBackoff(time.Second, time.Millisecond)}, "WithBackoff needs"},
		{"user agent CRLF", "https://intelgate.example.com", testToken, []Option{WithUserAgent("a\r\nb")}, "WithUserAgent"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c, err := New(tt.baseURL, tt.token, tt.opts...)
			if tt.wantErr == "" {
				require.NoError(t, err)
				require.NotNil(t, c)
				return
			}
			require.ErrorContains(t, err, tt.wantErr)
			require.NotContains(t, err.Error(), "hunter2", "password in base URL leaked")
			require.NotContains(t, err.Error(), "igt_abc", "token leaked")
		})
	}
}

func TestNewReportsAllInvalidOptions(t *testing.T) {
	t.Parallel()
	_, err := New("https://intelgate.example.com", testToken, WithMaxAttempts(-1), WithMaxWait(-time.Second))
	require.ErrorContains(t, err, "WithMaxAttempts")
	require.ErrorContains(t, err, "WithMaxWait")
}

func TestDefaultHTTPClientIsBounded(t *testing.T) {
	t.Parallel()
	hc := defaultHTTPClient()
	require.Positive(t, hc.Timeout)
	tr, ok := hc.Transport.(*http.Transport)
	require.True(t, ok)
	require.Equal(t, uint16(0x0303), tr.TLSClientConfig.MinVersion, "TLS 1.2 minimum")
	require.False(t, tr.TLSClientConfig.InsecureSkipVerify)
	require.Positive(t, tr.TLSHandshakeTimeout)
	require.Positive(t, tr.ResponseHeaderTimeout)
}

func TestWithHTTPClientDoesNotModifyCallersClient(t *testing.T) {
	t.Parallel()
	hc := &http.Client{Timeout: 5 * time.Second}
	c, err := New("https://intelgate.example.com", testToken, WithHTTPClient(hc))
	require.NoError(t, err)
	require.Nil(t, hc.CheckRedirect, "caller's client must not be mutated")
	require.NotNil(t, c.hc.CheckRedirect)
	require.Equal(t, 5*time.Second, c.hc.Timeout)
}

func TestNewErrorsSayWhichInputIsWrong(t *testing.T) {
	t.Parallel()
	_, err := New("http://intelgate.example.com", testToken)
	require.ErrorIs(t, err, ErrInvalidBaseURL)
	require.NotErrorIs(t, err, ErrInvalidToken)
	_, err = New("https://intelgate.example.com", "")
	require.ErrorIs(t, err, ErrInvalidToken)
	require.NotErrorIs(t, err, ErrInvalidBaseURL)
}
