package provider

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/intelgate/intelgate/internal/config"
	"github.com/intelgate/intelgate/internal/indicator"
	"github.com/intelgate/intelgate/internal/secret"
)

// The value is judged together with the template's literal text in its
// segment: "/v1/..{indicator}" with a space is "..%20", which servers that
// trim trailing spaces read as "..". A template like "{indicator}.json"
// still works for ordinary values.
func TestHTTPPathJudgesTheWholeSegment(t *testing.T) {
	t.Parallel()
	tests := []struct {
		path, value string
		refused     bool
	}{
		{"/v1/..{indicator}", " ", true},
		{"/v1/.{indicator}", "\u00a0", true}, // NFKC: ". " → trimmed "."
		{"/v1/{indicator}.", ".", true},
		{"/v1/{indicator}.json", "8.8.8.8", false},
		{"/v1/x{indicator}", "..", true}, // the value alone is a dot segment
		{"/v1/.{indicator}", "hidden", false},
	}
	for _, tt := range tests {
		t.Run(tt.path+" "+tt.value, func(t *testing.T) {
			t.Parallel()
			doer := &fakeDoer{}
			p, err := NewWithDoer("p", httpConfig("https://api.example.org", config.HTTPRequest{Path: tt.path}), doer)
			require.NoError(t, err)
			req := Request{Indicator: indicator.Indicator{Value: tt.value, Type: indicator.Username}}
			checkErr := p.(*HTTP).CheckRequest(req)
			_, err = p.Lookup(context.Background(), req, secret.NewValue(testKey))
			if tt.refused {
				require.ErrorIs(t, checkErr, ErrUnsafeIndicator, "CheckRequest refuses before anything is spent")
				require.ErrorIs(t, err, ErrUnsafeIndicator)
				require.Zero(t, doer.calls())
				return
			}
			require.NoError(t, checkErr)
			require.NoError(t, err)
			require.Equal(t, 1, doer.calls())
		})
	}
}
