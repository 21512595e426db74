package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"github.com/intelgate/intelgate/internal/app"
	"github.com/intelgate/intelgate/internal/audit"
	"github.com/intelgate/intelgate/internal/indicator"
)

func newAuditCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "audit",
		Short: "Verify or export the tamper-evident audit log",
		Args:  cobra.NoArgs,
		RunE:  missingSubcommand,
	}
	cmd.AddCommand(newAuditVerifyCmd(), newAuditExportCmd())
	return cmd
}

func newAuditVerifyCmd() *cobra.Command {
	var path, checkpoint, file string
	cmd := &cobra.Command{
		Use:   "verify --config FILE [--checkpoint SEQ:HASH] [--file EXPORT.jsonl]",
		Short: "Check the audit log's hash chain and report the first broken record",
		Long: "Check every record of the audit log from the first one kept to the head: its hash, its link to the\n" +
			"record before it, and each checkpoint's MAC. The first altered, deleted, inserted or reordered record\n" +
			"is reported by sequence number, and the command exits 1.\n" +
			"A tail cut off after the last checkpoint is found only against a checkpoint kept outside the database:\n" +
			"pass the newest \"audit checkpoint\" line of the gateway's log as --checkpoint SEQ:HASH.\n" +
			"With --file, check an export (intelgate audit export) instead of the database.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var o audit.VerifyOptions
			if checkpoint != "" {
				ref, err := audit.ParseCheckpointRef(checkpoint)
				if err != nil {
					return fmt.Errorf("--checkpoint: %w", err)
				}
				o.Checkpoint = &ref
			}
			if file != "" && o.Checkpoint != nil {
				return errors.New("--checkpoint: applies to the database, not to --file")
			}
			cfg, err := loadConfigOrReport(cmd, path)
			if err != nil {
				return err
			}
			a, err := app.OpenAuditAdmin(cmd.Context(), cfg, cacheLogger(cmd))
			if err != nil {
				return reportConfigError(cmd, err)
			}
			defer a.Close()
			var rep audit.Report
			if file != "" {
				f, err := os.Open(file)
				if err != nil {
					return fmt.Errorf("--file: %w", err)
				}
				defer f.Close()
				rep, err = a.VerifyFile(bufio.NewReader(f))
				if err != nil {
					return fmt.Errorf("--file: %w", err)
				}
			} else if rep, err = a.Verify(cmd.Context(), o); err != nil {
				return fmt.Errorf("verifying the audit log: %w", err)
			}
			if err := printReport(cmd.OutOrStdout(), rep); err != nil {
				return err
			}
			if file != "" && rep.Records > 0 && rep.Last > rep.LastCheckpoint {
				fmt.Fprintf(cmd.ErrOrStderr(), "warning: an export has no authenticated end: the %d record(s) after the last verified checkpoint (%d) "+
					"are vouched for by their chain alone; the file starts from a prev taken on trust (%s)\n",
					rep.Last-rep.LastCheckpoint, rep.LastCheckpoint, rep.Head.AnchorPrev)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&path, "config", "", "path to the YAML configuration (required)")
	cmd.Flags().StringVar(&checkpoint, "checkpoint", "", "a checkpoint kept from the gateway's log, SEQ:HASH: finds a cut-off tail")
	cmd.Flags().StringVar(&file, "file", "", "verify this JSON Lines export instead of the database")
	_ = cmd.MarkFlagRequired("config")
	return cmd
}

// printReport writes what verify found; a broken chain is exit code 1.
func printReport(w io.Writer, rep audit.Report) error {
	if rep.Problem != nil {
		fmt.Fprintf(w, "BROKEN at record %d (%s): %s\n", rep.Problem.Seq, rep.Problem.Fault, rep.Problem.Detail)
		fmt.Fprintf(w, "checked %d record(s) before it\n", rep.Records)
		return exitCodeError{code: 1}
	}
	if rep.Records == 0 {
		fmt.Fprintln(w, "ok: the audit log holds no records")
		return nil
	}
	fmt.Fprintf(w, "ok: %d record(s), %d to %d, chain intact; %d checkpoint(s) verified", rep.Records, rep.First, rep.Last, rep.Checkpoints)
	if rep.UnverifiedCheckpoints > 0 {
		fmt.Fprintf(w, ", %d under a key no longer in encryption.keys", rep.UnverifiedCheckpoints)
	}
	fmt.Fprintln(w)
	return nil
}

func newAuditExportCmd() *cobra.Command {
	var path, since, until, client, provider, output, ind, indType string
	cmd := &cobra.Command{
		Use:   "export --config FILE --since T [--until T] [--client C] [--provider P] [--indicator I [--type T]] [--output FILE]",
		Short: "Write audit records as JSON Lines, for a SIEM",
		Long: "Write the audit records from --since (inclusive) to --until (exclusive) as JSON Lines, one object per\n" +
			"record in sequence order, with its chain fields (seq, prev, hash): an unfiltered export can be checked on\n" +
			"its own with intelgate audit verify --file. Times are RFC 3339 (2026-11-01T00:00:00Z) or a date\n" +
			"(2026-11-01, midnight UTC). --indicator finds the lookups of one indicator (normalised as a lookup would:\n" +
			"refanged, lower-cased where the type says so) by its keyed HMAC, under every key in encryption.keys.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			f := audit.Filter{Client: client, Provider: provider}
			var err error
			if f.Since, err = parseWhen(since); err != nil {
				return fmt.Errorf("--since: %w", err)
			}
			if until != "" {
				if f.Until, err = parseWhen(until); err != nil {
					return fmt.Errorf("--until: %w", err)
				}
				if !f.Until.After(f.Since) {
					return errors.New("--until: must be after --since")
				}
			}
			cfg, err := loadConfigOrReport(cmd, path)
			if err != nil {
				return err
			}
			a, err := app.OpenAuditAdmin(cmd.Context(), cfg, cacheLogger(cmd))
			if err != nil {
				return reportConfigError(cmd, err)
			}
			defer a.Close()
			if ind != "" {
				if f.Indicator, err = a.IndicatorFilter(ind, indicator.Type(indType)); err != nil {
					return fmt.Errorf("--indicator: %w", err)
				}
			} else if indType != "" {
				return errors.New("--type: needs --indicator")
			}
			w, finish, err := exportOutput(cmd, output)
			if err != nil {
				return err
			}
			n, err := a.Export(cmd.Context(), w, f)
			if err = errors.Join(err, finish(err == nil)); err != nil {
				return fmt.Errorf("exporting the audit log: %w", err)
			}
			fmt.Fprintf(cmd.ErrOrStderr(), "exported %d record(s)\n", n)
			return nil
		},
	}
	cmd.Flags().StringVar(&path, "config", "", "path to the YAML configuration (required)")
	cmd.Flags().StringVar(&since, "since", "", "first time to export, inclusive (required)")
	cmd.Flags().StringVar(&until, "until", "", "time to stop at, exclusive (default: no end)")
	cmd.Flags().StringVar(&client, "client", "", "only this client's records")
	cmd.Flags().StringVar(&provider, "provider", "", "only this provider's records")
	cmd.Flags().StringVar(&ind, "indicator", "", "only the lookups of this indicator (found by its keyed HMAC)")
	cmd.Flags().StringVar(&indType, "type", "", "the indicator's type (ipv4, domain, …); default: detected")
	cmd.Flags().StringVar(&output, "output", "", "write to this file (created 0600, replaced only when complete) instead of stdout")
	_ = cmd.MarkFlagRequired("config")
	_ = cmd.MarkFlagRequired("since")
	return cmd
}

// parseWhen reads an RFC 3339 time or a date (midnight UTC).
func parseWhen(s string) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, nil
	}
	if t, err := time.Parse(time.DateOnly, s); err == nil {
		return t, nil
	}
	return time.Time{}, fmt.Errorf("%q is not an RFC 3339 time (2026-11-01T00:00:00Z) or a date (2026-11-01)", s)
}

// exportOutput is stdout, or a temporary file beside output that finish
// renames into place only when the export completed: a failed export
// never leaves a partial file that looks whole.
func exportOutput(cmd *cobra.Command, output string) (io.Writer, func(ok bool) error, error) {
	if output == "" {
		return cmd.OutOrStdout(), func(bool) error { return nil }, nil
	}
	tmp, err := os.CreateTemp(filepath.Dir(output), ".intelgate-audit-*.jsonl")
	if err != nil {
		return nil, nil, fmt.Errorf("--output: %w", err)
	}
	if err := tmp.Chmod(0o600); err != nil {
		_ = tmp.Close()
		_ = os.Remove(tmp.Name())
		return nil, nil, fmt.Errorf("--output: %w", err)
	}
	return tmp, func(ok bool) error {
		err := errors.Join(tmp.Sync(), tmp.Close())
		if ok && err == nil {
			err = os.Rename(tmp.Name(), output)
		}
		if !ok || err != nil {
			_ = os.Remove(tmp.Name())
		}
		if err != nil {
			return fmt.Errorf("--output: %w", err)
		}
		return nil
	}, nil
}
