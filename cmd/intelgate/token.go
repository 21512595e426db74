package main

import (
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"
	"go.yaml.in/yaml/v3"

	"github.com/intelgate/intelgate/internal/auth"
	"github.com/intelgate/intelgate/internal/config"
)

func newTokenCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "token",
		Short: "Manage gateway client tokens",
		RunE:  missingSubcommand,
	}
	cmd.AddCommand(newTokenNewCmd())
	return cmd
}

func newTokenNewCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "new CLIENT",
		Short: "Print a new random client token once, and its token_sha256 config entry",
		Long: `Print a new 256-bit gateway token for CLIENT, and the config entry to paste under
"clients:". intelgate stores only the token's SHA-256, so the token is shown
this once: put it in your secret manager. Running the command again makes a
new token; replacing token_sha256 in the config revokes the old one.`,
		Example: "  intelgate token new siem",
		Args: func(_ *cobra.Command, args []string) error {
			if len(args) != 1 {
				return fmt.Errorf("expected one CLIENT argument, got %d", len(args))
			}
			if !config.ValidName(args[0]) { // the rule config validate applies to client names
				return fmt.Errorf("CLIENT argument %q: use 1 to 64 letters, digits, '-' or '_', starting with a letter or digit", args[0])
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			token, hash, err := auth.NewToken()
			if err != nil {
				return err
			}
			return printToken(cmd.OutOrStdout(), args[0], token, hash)
		},
	}
}

// printToken writes the token line and a YAML snippet, indented to paste
// under "clients:". The snippet goes through the YAML encoder so that a
// name YAML would misread (true, null, 0123) comes out quoted.
func printToken(w io.Writer, client, token, hash string) error {
	var snippet strings.Builder
	enc := yaml.NewEncoder(&snippet)
	enc.SetIndent(2)
	if err := enc.Encode(map[string]map[string]string{client: {"token_sha256": hash}}); err != nil {
		return fmt.Errorf("encoding config snippet: %w", err)
	}
	if err := enc.Close(); err != nil {
		return fmt.Errorf("encoding config snippet: %w", err)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "token: %s\n", token)
	b.WriteString("  (shown once; store it in your secret manager — intelgate keeps only its hash)\n\n")
	b.WriteString("config: paste under \"clients:\" in your config file:\n")
	for line := range strings.Lines(snippet.String()) {
		b.WriteString("  " + line)
	}
	_, err := io.WriteString(w, b.String())
	return err
}
