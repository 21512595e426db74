package alert_test

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/intelgate/intelgate/internal/alert"
	"github.com/intelgate/intelgate/internal/secret"
)

// The Slack sink posts the incoming-webhook shape: a text fallback and
// mrkdwn blocks, with Slack's control characters escaped.
func TestSlackPayload(t *testing.T) {
	t.Parallel()
	got := make(chan received, 1)
	srv, pool := tlsServer(t, capture(got, nil))
	sink, err := alert.NewSlackSink(alert.SlackOptions{URL: alert.StaticSecret(secret.NewValue(srv.URL + "/services/T0/B0/secret")), RootCAs: pool})
	require.NoError(t, err)
	defer sink.Close()
	require.NoError(t, sink.Send(context.Background(), sampleNotification()))
	r := <-got
	require.Equal(t, "application/json", r.header.Get("Content-Type"))
	var p struct {
		Text   string `json:"text"`
		Blocks []struct {
			Type string `json:"type"`
			Text *struct {
				Type string `json:"type"`
				Text string `json:"text"`
			} `json:"text"`
			Elements []struct {
				Type string `json:"type"`
				Text string `json:"text"`
			} `json:"elements"`
		} `json:"blocks"`
	}
	require.NoError(t, json.Unmarshal(r.body, &p))
	require.Equal(t, "[CRITICAL] key_rejected fired: provider socialeye rejected key prod-1: &lt;it is revoked&gt; &amp; more", p.Text)
	require.Len(t, p.Blocks, 3)
	require.Equal(t, "section", p.Blocks[0].Type)
	require.Equal(t, "mrkdwn", p.Blocks[0].Text.Type)
	require.Contains(t, p.Blocks[0].Text.Text, ":rotating_light: *[CRITICAL] key_rejected fired*")
	require.NotContains(t, p.Blocks[0].Text.Text, "<it")
	require.Equal(t, "*key_id*: `prod-1`\n*provider*: `socialeye`", p.Blocks[1].Text.Text)
	require.Equal(t, "context", p.Blocks[2].Type)
	require.Contains(t, p.Blocks[2].Elements[0].Text, "alert `alr_0123`")
}

// The webhook URL is a credential: it must be https, and no error quotes
// it.
func TestSlackURLIsNeverQuoted(t *testing.T) {
	t.Parallel()
	for _, u := range []string{"http://hooks.slack.example/services/T0/B0/s3cr3tpath", "https://127.0.0.1:1/services/T0/B0/s3cr3tpath"} {
		sink, err := alert.NewSlackSink(alert.SlackOptions{URL: alert.StaticSecret(secret.NewValue(u))})
		require.NoError(t, err)
		err = sink.Send(context.Background(), sampleNotification())
		require.Error(t, err)
		require.NotContains(t, err.Error(), "s3cr3tpath")
		sink.Close()
	}
	_, err := alert.NewSlackSink(alert.SlackOptions{})
	require.Error(t, err)
}
