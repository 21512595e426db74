package alert

import (
	"context"
	"log/slog"
)

// LogSink writes each notification as one structured log line: critical
// at ERROR, warning at WARN, info at INFO. The engine always has one, so
// an alert is on record even when every other sink is down.
type LogSink struct{ log *slog.Logger }

// NewLogSink returns a LogSink writing to log.
func NewLogSink(log *slog.Logger) *LogSink {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &LogSink{log: log}
}

// Send logs n.
func (s *LogSink) Send(ctx context.Context, n Notification) error {
	a := n.Alert
	level := slog.LevelInfo
	switch a.Severity {
	case Critical:
		level = slog.LevelError
	case Warning:
		level = slog.LevelWarn
	}
	attrs := make([]any, 0, len(a.Labels))
	for k, v := range a.Labels {
		attrs = append(attrs, slog.String(k, v))
	}
	s.log.LogAttrs(ctx, level, "alert "+string(n.Event)+": "+a.Summary,
		slog.String("alert_id", a.ID), slog.String("rule", a.Rule), slog.String("severity", string(a.Severity)),
		slog.String("state", string(a.State)), slog.Int64("count", a.Count), slog.Group("labels", attrs...))
	return nil
}
