package main

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/intelgate/intelgate/internal/app"
	"github.com/intelgate/intelgate/internal/config"
)

func newConfigCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "config",
		Short: "Work with intelgate configuration files",
		Args:  cobra.NoArgs,
		RunE:  missingSubcommand,
	}
	cmd.AddCommand(newConfigValidateCmd())
	return cmd
}

// newConfigValidateCmd checks a config the way serve would before starting:
// every problem at once, each naming its field and line — the fields, then,
// unless told not to, the files the config names and every secret reference,
// so a missing variable or an unreadable key file shows up here rather than
// at deploy time, in the same run as a typo. Warnings (a key file others can
// read) are printed but do not fail the run. It prints no secret value,
// ever; the summary counts what resolved.
func newConfigValidateCmd() *cobra.Command {
	var (
		path        string
		skipSecrets bool
		skipFiles   bool
	)
	cmd := &cobra.Command{
		Use:   "validate --config FILE [--skip-secrets] [--skip-files]",
		Short: "Check a configuration file and report every problem",
		Long: "Check a configuration file: YAML syntax, unknown fields, values and cross-references,\n" +
			"then read every file it names (CA files, JSON schemas, the TLS certificate) unless --skip-files,\n" +
			"and resolve every secret reference (env:, file:, and vault: and awssm: from the secrets section's\n" +
			"servers, as serve would) unless --skip-secrets.\n" +
			"Problems go to stderr, one per line, and the exit status is 1.\n" +
			"Warnings go to stderr prefixed \"warning:\" and leave the exit status 0.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			stderr := cmd.ErrOrStderr()
			cfg, problems, err := loadForValidation(path)
			if err != nil {
				return printProblems(stderr, path, err)
			}
			if !skipFiles {
				problems = append(problems, checkFiles(cfg)...)
			}
			resolved := "secrets not resolved (--skip-secrets)"
			if !skipSecrets {
				s, err := app.ResolveSecrets(cmd.Context(), cfg, slog.New(slog.DiscardHandler))
				printWarnings(stderr, path, s.Warnings())
				if list, ok := asErrorList(err); ok {
					problems = append(problems, list...)
				} else if err != nil {
					return printProblems(stderr, path, err)
				}
				resolved = fmt.Sprintf("%d secret(s) resolved", s.Len())
			}
			if len(problems) > 0 {
				return printProblems(stderr, path, problems)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s: OK: %s, %s, %s\n", path,
				countNames("provider", cfg.Providers), countNames("client", cfg.Clients), resolved)
			return nil
		},
	}
	cmd.Flags().StringVar(&path, "config", "", "path to the YAML configuration (required)")
	cmd.Flags().BoolVar(&skipSecrets, "skip-secrets", false, "do not resolve secret references (environment variables, secret files)")
	cmd.Flags().BoolVar(&skipFiles, "skip-files", false, "do not read the files the config names (CA files, JSON schemas, the TLS certificate)")
	_ = cmd.MarkFlagRequired("config")
	return cmd
}

// loadForValidation loads path and returns the field problems beside the
// config as decoded, so the caller can go on to check files and secrets in
// the same run. err is set only when there is no config to go on with (an
// unreadable file, invalid YAML).
func loadForValidation(path string) (*config.Config, config.ErrorList, error) {
	cfg, err := config.LoadForValidation(path)
	if err == nil {
		return cfg, nil, nil
	}
	list, ok := asErrorList(err)
	if !ok || cfg == nil {
		return nil, nil, err
	}
	return cfg, list, nil
}

func asErrorList(err error) (config.ErrorList, bool) {
	var list config.ErrorList
	ok := errors.As(err, &list)
	return list, ok
}

// printWarnings writes each warning on its own line, prefixed so that it
// cannot be mistaken for a problem; warnings alone leave the exit status 0.
func printWarnings(w io.Writer, path string, warnings config.ErrorList) {
	for _, fe := range warnings {
		fmt.Fprintf(w, "warning: %s: %s\n", path, fe.Error())
	}
}

// printProblems writes each problem on its own line, prefixed with the file
// so editors and CI logs can point at it, and returns exit status 1.
func printProblems(w io.Writer, path string, err error) error {
	var list config.ErrorList
	if !errors.As(err, &list) {
		fmt.Fprintf(w, "%s: %v\n", path, err)
		return exitCodeError{code: 1}
	}
	for _, fe := range list {
		fmt.Fprintf(w, "%s: %s\n", path, fe.Error())
	}
	noun := "problems"
	if len(list) == 1 {
		noun = "problem"
	}
	fmt.Fprintf(w, "%s: %d %s\n", path, len(list), noun)
	return exitCodeError{code: 1}
}

// countNames renders "2 providers (abuseipdb, socialeye)".
func countNames[V any](noun string, m map[string]V) string {
	names := slices.Sorted(maps.Keys(m))
	if len(names) != 1 {
		noun += "s"
	}
	return fmt.Sprintf("%d %s (%s)", len(names), noun, strings.Join(names, ", "))
}
