package main

import (
	"errors"
	"fmt"
	"log/slog"

	"github.com/spf13/cobra"

	"github.com/intelgate/intelgate/internal/app"
	"github.com/intelgate/intelgate/internal/lookup"
)

func newCacheCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "cache",
		Short: "Purge or re-seal the response cache",
		Args:  cobra.NoArgs,
		RunE:  missingSubcommand,
	}
	cmd.AddCommand(newCachePurgeCmd(), newCacheRekeyCmd())
	return cmd
}

// cacheLogger logs to stderr as text: these are commands for people.
func cacheLogger(cmd *cobra.Command) *slog.Logger {
	return slog.New(slog.NewTextHandler(cmd.ErrOrStderr(), &slog.HandlerOptions{Level: slog.LevelWarn}))
}

func newCachePurgeCmd() *cobra.Command {
	var path, provider, ind string
	cmd := &cobra.Command{
		Use:   "purge --config FILE [--provider P [--indicator I]]",
		Short: "Remove cached answers: all, one provider's, or one indicator's",
		Long: "Remove cached answers from the durable tier, and from the hot tier of every running gateway\n" +
			"(through Redis with shared.driver: redis, else through the SQLite store's purge log, within a second).\n" +
			"Without flags every answer goes; --provider narrows to one provider; --indicator (with --provider)\n" +
			"to one indicator, normalised as a lookup would (refanged, lower-cased where the type says so).",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if ind != "" && provider == "" {
				return errors.New("--indicator: needs --provider (a purge of one indicator names its provider)")
			}
			cfg, err := loadConfigOrReport(cmd, path)
			if err != nil {
				return err
			}
			c, err := app.OpenCacheAdmin(cmd.Context(), cfg, cacheLogger(cmd))
			if err != nil {
				return reportConfigError(cmd, err)
			}
			defer c.Close()
			n, err := c.Purge(cmd.Context(), "cli", lookup.PurgeRequest{Provider: provider, Indicator: ind})
			if err != nil {
				return purgeError(err)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "purged %d cached answer(s)\n", n)
			return nil
		},
	}
	cmd.Flags().StringVar(&path, "config", "", "path to the YAML configuration (required)")
	cmd.Flags().StringVar(&provider, "provider", "", "purge only this provider's answers")
	cmd.Flags().StringVar(&ind, "indicator", "", "purge only this indicator's answers (needs --provider)")
	_ = cmd.MarkFlagRequired("config")
	return cmd
}

// purgeError names the flag a refused purge is about.
func purgeError(err error) error {
	var f *lookup.Failure
	if errors.As(err, &f) {
		flag := map[string]string{"provider": "--provider", "indicator": "--indicator"}[f.Parameter]
		if flag == "" {
			flag = "--provider"
		}
		return fmt.Errorf("%s: %s", flag, f.Detail)
	}
	return fmt.Errorf("purging the cache: %w", err)
}

func newCacheRekeyCmd() *cobra.Command {
	var path string
	cmd := &cobra.Command{
		Use:   "rekey --config FILE",
		Short: "Re-seal every cached answer under the first encryption key",
		Long: "Re-seal every durable cache record under the first key of encryption.keys, so that older keys can be\n" +
			"removed from the list afterwards. Records that fail authentication are deleted and counted; records\n" +
			"under a key not in encryption.keys are left alone and counted.\n" +
			"Gateways may keep running: they read records under any listed key.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := loadConfigOrReport(cmd, path)
			if err != nil {
				return err
			}
			c, err := app.OpenCacheAdmin(cmd.Context(), cfg, cacheLogger(cmd))
			if err != nil {
				return reportConfigError(cmd, err)
			}
			defer c.Close()
			resealed, corrupt, unknown, err := c.Rekey(cmd.Context())
			if err != nil {
				return fmt.Errorf("re-sealing the cache: %w", err)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "re-sealed %d record(s) under key %s; %d corrupt record(s) deleted\n",
				resealed, c.Writer(), corrupt)
			if unknown > 0 {
				fmt.Fprintf(cmd.ErrOrStderr(), "warning: %d record(s) are sealed under a key not in encryption.keys and were left alone "+
					"(a newer key another replica uses, or a retired one: they expire on their own)\n", unknown)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&path, "config", "", "path to the YAML configuration (required)")
	_ = cmd.MarkFlagRequired("config")
	return cmd
}
