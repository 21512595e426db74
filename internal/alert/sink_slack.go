package alert

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
)

// SlackOptions configure a SlackSink.
type SlackOptions struct {
	// URL is the incoming-webhook URL: a credential, so always a secret.
	URL     SecretFunc
	RootCAs *x509.CertPool
}

// SlackSink posts to a Slack-compatible incoming webhook (Slack,
// Mattermost, Rocket.Chat): {"text": …, "blocks": […]}, text being the
// fallback that notifications show.
type SlackSink struct {
	o SlackOptions
	p *poster
}

// NewSlackSink checks o.
func NewSlackSink(o SlackOptions) (*SlackSink, error) {
	if o.URL == nil {
		return nil, errors.New("slack sink: the webhook URL secret is required")
	}
	return &SlackSink{o: o, p: newPoster(o.RootCAs)}, nil
}

// Send delivers n.
func (s *SlackSink) Send(ctx context.Context, n Notification) error {
	v, ok := s.o.URL()
	if !ok {
		return Permanent(errors.New("the webhook URL secret is not available"))
	}
	u, err := checkURL(v.Reveal(), false)
	if err != nil {
		return Permanent(err)
	}
	body, err := json.Marshal(slackMessage(n))
	if err != nil {
		return Permanent(fmt.Errorf("encoding the message: %w", err))
	}
	return s.p.post(ctx, u, body, nil)
}

// Close drops idle connections.
func (s *SlackSink) Close() { s.p.Close() }

type slackText struct {
	Type string `json:"type"`
	Text string `json:"text"`
}

type slackBlock struct {
	Type     string      `json:"type"`
	Text     *slackText  `json:"text,omitempty"`
	Elements []slackText `json:"elements,omitempty"`
}

type slackPayload struct {
	Text   string       `json:"text"`
	Blocks []slackBlock `json:"blocks"`
}

var severityEmoji = map[Severity]string{Info: ":information_source:", Warning: ":warning:", Critical: ":rotating_light:"}

func slackMessage(n Notification) slackPayload {
	a := n.Alert
	head := fmt.Sprintf("[%s] %s %s", strings.ToUpper(string(a.Severity)), a.Rule, n.Event)
	var labels []string
	for _, k := range slices.Sorted(maps.Keys(a.Labels)) {
		labels = append(labels, fmt.Sprintf("*%s*: `%s`", slackEscape(k), slackEscape(a.Labels[k])))
	}
	ctx := fmt.Sprintf("alert `%s` · %s · seen %d× since %s", a.ID, a.State, a.Count, a.FirstSeen.UTC().Format("2006-01-02 15:04:05Z"))
	blocks := []slackBlock{{Type: "section", Text: &slackText{Type: "mrkdwn",
		Text: severityEmoji[a.Severity] + " *" + slackEscape(head) + "*\n" + slackEscape(a.Summary)}}}
	if len(labels) > 0 { // Slack refuses an empty section
		blocks = append(blocks, slackBlock{Type: "section", Text: &slackText{Type: "mrkdwn", Text: strings.Join(labels, "\n")}})
	}
	blocks = append(blocks, slackBlock{Type: "context", Elements: []slackText{{Type: "mrkdwn", Text: slackEscape(ctx)}}})
	return slackPayload{Text: slackEscape(head + ": " + a.Summary), Blocks: blocks}
}

// slackEscape escapes what Slack's mrkdwn reads as control: &, < and >
// (a label can then never become a link or a mention).
func slackEscape(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace(s)
}
