package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"github.com/intelgate/intelgate/internal/app"
	"github.com/intelgate/intelgate/internal/config"
	"github.com/intelgate/intelgate/internal/logwriter"
)

func newServeCmd() *cobra.Command {
	var path string
	cmd := &cobra.Command{
		Use:   "serve --config FILE",
		Short: "Run the gateway",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			// Deferred first, so it runs last: every line logged while
			// shutting down (SIGTERM included) is written before exit.
			stderr := newLogOutput(cmd.ErrOrStderr())
			defer stderr.Close()
			cmd.SetErr(stderr) // configuration problems stay in order with log lines
			log := newLogger(stderr)
			hup := watchHangups(log)
			stopHangups := sync.OnceFunc(hup.stop)
			defer stopHangups()
			cfg, err := loadConfigOrReport(cmd, path)
			if err != nil {
				return err
			}
			a, err := app.New(cmd.Context(), cfg, log, app.Options{ConfigPath: path})
			if err != nil {
				return reportConfigError(cmd, err)
			}
			defer a.Close()
			defer stopHangups() // before Close: no reload runs on a closed gateway
			hup.set(reloadOnHangup(cmd.Context(), func(ctx context.Context, by string) error {
				_, err := a.Reload(ctx, by)
				return err
			}))
			ln, err := net.Listen("tcp", cfg.Server.Listen)
			if err != nil {
				return fmt.Errorf("listening on server.listen %s: %w", cfg.Server.Listen, err)
			}
			return a.Run(cmd.Context(), ln)
		},
	}
	cmd.Flags().StringVar(&path, "config", "", "path to the YAML configuration (required)")
	_ = cmd.MarkFlagRequired("config")
	return cmd
}

// logFlushInterval is how long a log line may wait in the buffer (0: the
// logwriter default). Only tests change it, before main runs, to prove
// that shutdown, not the timer, writes the last lines.
var logFlushInterval time.Duration

// newLogOutput buffers what a long-running command writes to w; the caller
// must Close it on the way out.
func newLogOutput(w io.Writer) *logwriter.Writer {
	return logwriter.New(w, logwriter.Options{FlushInterval: logFlushInterval})
}

// newLogger is the JSON logger of serve and demo: access log lines are
// batched, warnings and errors written at once.
func newLogger(out *logwriter.Writer) *slog.Logger {
	return slog.New(out.Urgent(slog.NewJSONHandler(out, nil), slog.LevelWarn))
}

// loadConfigOrReport loads path; on failure it prints every problem, one per
// line, and returns an exit status so main adds nothing.
func loadConfigOrReport(cmd *cobra.Command, path string) (*config.Config, error) {
	cfg, err := config.Load(path)
	if err != nil {
		return nil, reportConfigError(cmd, err)
	}
	if list := checkFiles(cfg); len(list) > 0 {
		return nil, reportConfigError(cmd, list)
	}
	return cfg, nil
}

func reportConfigError(cmd *cobra.Command, err error) error {
	var list config.ErrorList
	if errors.As(err, &list) {
		for _, fe := range list {
			fmt.Fprintln(cmd.ErrOrStderr(), fe.Error())
		}
		fmt.Fprintf(cmd.ErrOrStderr(), "%d configuration problem(s); not starting\n", len(list))
		return exitCodeError{code: 1}
	}
	return err
}
