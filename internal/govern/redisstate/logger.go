package redisstate

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/redis/go-redis/v9"
)

// RouteLibraryLogs sends go-redis's own log lines (dial retries and pool
// notices, written to stderr by default) to log at debug level. The
// governor already reports a Redis outage through its fail mode and
// /readyz; the library's lines are detail for debugging, not a second
// alarm. go-redis has one process-wide logger, so this is process-wide too.
func RouteLibraryLogs(log *slog.Logger) {
	redis.SetLogger(slogPrinter{log})
}

type slogPrinter struct{ log *slog.Logger }

func (p slogPrinter) Printf(ctx context.Context, format string, v ...any) {
	p.log.DebugContext(ctx, "redis client", "detail", fmt.Sprintf(format, v...))
}
