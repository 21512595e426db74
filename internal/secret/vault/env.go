package vault

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"slices"
	"strings"

	"github.com/hashicorp/vault/api"

	"github.com/intelgate/intelgate/internal/regfile"
)

// envFiles are the VAULT_* variables that name files the api package reads
// every time it builds a client. api.NewClient calls api.DefaultConfig
// whatever Config it is given (so do Clone and CloneConfig: there is no
// way to build an api.Client without it), and DefaultConfig's
// ReadEnvironment hands VAULT_CACERT, VAULT_CAPATH (a directory it walks,
// reading every entry) and VAULT_CLIENT_CERT with VAULT_CLIENT_KEY to
// go-rootcerts and tls.LoadX509KeyPair, which read them with os.ReadFile.
// What it loads is thrown away — NewClient takes from DefaultConfig only
// what our Config leaves empty, and our transport is built and configured
// here — but the reads happen: a FIFO there hangs New, /dev/zero reads
// until memory runs out, and a missing or unreadable file fails New with
// the library's error about a variable the gateway ignores.
//
// What we do about it, and why:
//   - Unsetting the variables around NewClient would edit the process
//     environment, global state that other goroutines read: not ours.
//   - Refusing them whenever they are set would break images that export
//     VAULT_CACERT for the vault CLI, for a file that does no harm.
//   - So checkEnvFiles reads each one that is set the safe way
//     (regfile.Read: opened without blocking, fstat, a size cap) before
//     any client is built, and refuses one that is not a readable regular
//     file of at most maxEnvFile, naming the variable, never its value (a
//     path can say more than it should). A directory in VAULT_CAPATH, its
//     usual form, is refused too: checking every entry of a tree the
//     library walks (following symlinks) would be re-implementing the walk,
//     for a variable nobody needs to set for intelgate.
//
// Every one that is set is checked, even where the library would not read
// it (VAULT_CAPATH loses to VAULT_CACERT; the client pair is read only
// when both are set): which one it reads is its business, and may change
// with its version. What remains: the library reads the file again, by
// path, after the check; a file swapped for a FIFO in between still
// blocks it, which takes someone able to rewrite the gateway's files under
// it — who could as well rewrite ca_file.
var envFiles = []string{api.EnvVaultCACert, api.EnvVaultCAPath, api.EnvVaultClientCert, api.EnvVaultClientKey}

// maxEnvFile bounds a file an envFiles variable names: a CA bundle or a
// client certificate is a few KiB; the system bundle is about 200 KiB.
const maxEnvFile = 1 << 20

// checkEnvFiles refuses the first envFiles variable whose file the api
// package could not read promptly and harmlessly (see envFiles).
func checkEnvFiles() error {
	for _, name := range envFiles {
		path := os.Getenv(name)
		if path == "" {
			continue // the api package skips an empty one too
		}
		if problem := envFileProblem(path); problem != "" {
			return fmt.Errorf("vault: the environment variable %s names %s; intelgate ignores it (secrets.vault says how to reach Vault), "+
				"but the Vault client library reads that file whenever it builds a client: unset it or point it at a regular file of at most %s",
				name, problem, regfile.Size(maxEnvFile))
		}
	}
	return nil
}

// envFileProblem says what is wrong with the file at path for the api
// package to read, "" if nothing. It never repeats path.
func envFileProblem(path string) string {
	_, _, err := regfile.Read(path, maxEnvFile)
	switch {
	case err == nil:
		return ""
	case errors.Is(err, regfile.ErrNotRegular):
		return "something that is not a regular file (a directory, FIFO, device or socket)"
	case errors.Is(err, regfile.ErrTooLarge):
		return fmt.Sprintf("a file larger than %s", regfile.Size(maxEnvFile))
	case errors.Is(err, fs.ErrNotExist):
		return "a file that does not exist"
	case errors.Is(err, fs.ErrPermission):
		return "a file this process may not read"
	}
	return "a file that cannot be read"
}

// vaultVarsSet lists the names (never the values) of the VAULT_* variables
// set in the process environment.
func vaultVarsSet() string {
	var names []string
	for _, kv := range os.Environ() {
		if name, _, _ := strings.Cut(kv, "="); strings.HasPrefix(name, "VAULT_") {
			names = append(names, name)
		}
	}
	if len(names) == 0 {
		return "none"
	}
	slices.Sort(names)
	return strings.Join(names, ", ")
}
