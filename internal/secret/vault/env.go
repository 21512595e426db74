package vault

import (
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/hashicorp/vault/api"

	"github.com/intelgate/intelgate/internal/regfile"
)

// The api package reads files that VAULT_* variables name every time it
// builds a client. api.NewClient calls api.DefaultConfig whatever Config it
// is given (so do Clone and CloneConfig: there is no way to build an
// api.Client without it), and DefaultConfig's ReadEnvironment hands them to
// Config.configureTLS. What that reads, in github.com/hashicorp/vault/api
// v1.23.0 (client.go, configureTLS) and go-rootcerts v1.0.2 (LoadCACerts):
//
//   - VAULT_CLIENT_CERT and VAULT_CLIENT_KEY, with tls.LoadX509KeyPair,
//     only when both are set. One without the other is refused (an error,
//     "both client cert and client key must be provided") without reading
//     either.
//   - VAULT_CACERT, with os.ReadFile, when it is set; it must hold a PEM
//     certificate. Otherwise VAULT_CACERT_BYTES (a value, not a file), when
//     set. Otherwise VAULT_CAPATH: filepath.Walk from it, reading with
//     os.ReadFile every entry that lstat does not call a directory
//     (symlinks to files and to directories alike), each of which must hold
//     a PEM certificate. Walk lstats the path itself too: a VAULT_CAPATH that
//     is a symlink to a directory is read as a file, and fails.
//
// What it loads is thrown away — NewClient takes from DefaultConfig only
// what our Config leaves empty, and our transport is built and configured
// here — but the reads happen: a FIFO there hangs New, /dev/zero reads
// until memory runs out, and a missing, unreadable or non-PEM file fails
// New with the library's error about a variable the gateway ignores.
//
// What we do about it, and why:
//   - Unsetting the variables around NewClient would edit the process
//     environment, global state that other goroutines read: not ours.
//   - Refusing them whenever they are set would break images that export
//     VAULT_CACERT or VAULT_CAPATH=/etc/ssl/certs for the vault CLI, for
//     files that do no harm.
//   - So checkEnvFiles goes, before any client is built, over exactly what
//     the library would read, the safe way: files with regfile.Read (opened
//     without blocking, fstat, a size cap), directories opened without
//     blocking and listed a bounded number of entries at a time. It refuses
//     what the library could not read promptly and harmlessly, or would
//     refuse itself, naming the variable, never its value (a path can say
//     more than it should).
//
// What remains: the library reads the files again, by path, after the
// check; a file swapped for a FIFO in between still blocks it, which takes
// someone able to rewrite the gateway's files under it — who could as well
// rewrite ca_file. And the rules above are v1.23.0's: a new version of the
// api package must be read again (TestEnvironmentFilesTheLibraryReads pins
// them).

// maxEnvFile bounds a file a VAULT_* variable names (and each file under
// VAULT_CAPATH): a CA bundle or a client certificate is a few KiB; the
// system bundle is about 200 KiB.
const maxEnvFile = 1 << 20

// maxCAPathEntries and maxCAPathBytes bound what checkEnvFiles (and then
// the library) goes through under VAULT_CAPATH: every entry, directories
// included, and the bytes of every file read. /etc/ssl/certs holds a few
// hundred entries and about 1 MiB.
const (
	maxCAPathEntries = 4096
	maxCAPathBytes   = 8 << 20
)

// checkEnvFiles refuses the first VAULT_* variable naming a file the api
// package would read but could not read promptly and harmlessly, or would
// refuse (see above).
func checkEnvFiles() error {
	cert, key := os.Getenv(api.EnvVaultClientCert), os.Getenv(api.EnvVaultClientKey)
	switch {
	case cert != "" && key != "":
		if err := checkEnvFile(api.EnvVaultClientCert, cert, false); err != nil {
			return err
		}
		if err := checkEnvFile(api.EnvVaultClientKey, key, false); err != nil {
			return err
		}
	case cert != "" || key != "":
		set, unset := api.EnvVaultClientCert, api.EnvVaultClientKey
		if key != "" {
			set, unset = unset, set
		}
		return fmt.Errorf("vault: the environment variable %s is set without %s; intelgate ignores both (secrets.vault says how to reach Vault), "+
			"but the Vault client library refuses to build a client with one and not the other: unset %s", set, unset, set)
	}
	switch {
	case os.Getenv(api.EnvVaultCACert) != "":
		return checkEnvFile(api.EnvVaultCACert, os.Getenv(api.EnvVaultCACert), true)
	case os.Getenv(api.EnvVaultCACertBytes) != "":
		return nil // a value, not a file; VAULT_CAPATH is not read
	case os.Getenv(api.EnvVaultCAPath) != "":
		return checkCAPath(os.Getenv(api.EnvVaultCAPath))
	}
	return nil
}

// checkEnvFile checks the file that variable name names, at path: a
// readable regular file of at most maxEnvFile, holding a PEM certificate
// when pem is set.
func checkEnvFile(name, path string, pem bool) error {
	problem := fileProblem(path, pem)
	if problem == "" {
		return nil
	}
	return fmt.Errorf("vault: the environment variable %s names %s; intelgate ignores it (secrets.vault says how to reach Vault), "+
		"but the Vault client library reads that file whenever it builds a client: unset it or point it at a regular file of at most %s",
		name, problem, regfile.Size(maxEnvFile))
}

// checkCAPath walks path as the library's filepath.Walk would, within the
// caps, and refuses it if the library could not read every file it would
// read promptly and harmlessly, or would refuse one of them.
func checkCAPath(path string) error {
	problem := ""
	info, err := os.Lstat(path)
	switch {
	case err != nil:
		problem = errProblem(err, "a file")
	case info.Mode()&fs.ModeSymlink != 0 && isDir(path):
		problem = "a symbolic link to a directory, which the library reads as a file (and fails on); name the directory itself"
	case !info.IsDir():
		problem = fileProblem(path, true)
	default:
		if f, err := openDir(path); err != nil {
			problem = errProblem(err, "a directory")
		} else {
			_ = f.Close()
			if problem = (&caWalk{}).dir(path); problem != "" {
				problem = "a directory holding " + problem
			}
		}
	}
	if problem == "" {
		return nil
	}
	return fmt.Errorf("vault: the environment variable %s names %s; intelgate ignores it (secrets.vault says how to reach Vault), "+
		"but the Vault client library reads every file under it whenever it builds a client: unset it or point it at a directory of "+
		"regular PEM certificate files (at most %s each, %s and %d entries in all)",
		api.EnvVaultCAPath, problem, regfile.Size(maxEnvFile), regfile.Size(maxCAPathBytes), maxCAPathEntries)
}

// caWalk is one walk of a VAULT_CAPATH tree: what it has counted so far.
type caWalk struct {
	entries int
	bytes   int64
}

// dir goes through the directory at path: subdirectories (by lstat, as
// filepath.Walk decides) are walked, every other entry must be a file the
// library can read. It says what is wrong, "" if nothing, never naming an
// entry.
func (w *caWalk) dir(path string) string {
	f, err := openDir(path)
	if err != nil {
		return errProblem(err, "a subdirectory")
	}
	defer f.Close()
	for {
		names, err := f.Readdirnames(256)
		for _, name := range names {
			if w.entries++; w.entries > maxCAPathEntries {
				return fmt.Sprintf("more than %d entries", maxCAPathEntries)
			}
			child := filepath.Join(path, name)
			info, err := os.Lstat(child)
			var problem string
			switch {
			case err != nil:
				problem = errProblem(err, "an entry")
			case info.IsDir():
				problem = w.dir(child)
			case info.Mode()&fs.ModeSymlink != 0 && isDir(child):
				problem = "a symbolic link to a directory, which the library reads as a file (and fails on)"
			default:
				problem = w.file(child)
			}
			if problem != "" {
				return problem
			}
		}
		switch {
		case errors.Is(err, io.EOF):
			return ""
		case err != nil:
			return errProblem(err, "a subdirectory")
		}
	}
}

// file checks one file the library would read under VAULT_CAPATH.
func (w *caWalk) file(path string) string {
	b, _, err := regfile.Read(path, maxEnvFile)
	if err != nil {
		return errProblem(err, "an entry")
	}
	if w.bytes += int64(len(b)); w.bytes > maxCAPathBytes {
		return fmt.Sprintf("more than %s of files", regfile.Size(maxCAPathBytes))
	}
	if !x509.NewCertPool().AppendCertsFromPEM(b) {
		return "a file with no PEM certificate in it (a Java keystore, say), which makes the library refuse the whole directory"
	}
	return ""
}

// fileProblem says what is wrong with the file at path for the api
// package to read (holding a PEM certificate when pem is set), "" if
// nothing. It never repeats path.
func fileProblem(path string, pem bool) string {
	b, _, err := regfile.Read(path, maxEnvFile)
	switch {
	case err != nil:
		return errProblem(err, "a file")
	case pem && !x509.NewCertPool().AppendCertsFromPEM(b):
		return "a file with no PEM certificate in it, which the library refuses"
	}
	return ""
}

// errProblem says what err, from reading what, means, never repeating the
// path in it.
func errProblem(err error, what string) string {
	switch {
	case errors.Is(err, regfile.ErrNotRegular):
		return what + " that is not a regular file (a directory, FIFO, device or socket)"
	case errors.Is(err, regfile.ErrTooLarge):
		return fmt.Sprintf("%s larger than %s", what, regfile.Size(maxEnvFile))
	case errors.Is(err, fs.ErrNotExist):
		return what + " that does not exist"
	case errors.Is(err, fs.ErrPermission):
		return what + " this process may not read"
	}
	return what + " that cannot be read"
}

// isDir reports whether path, symlinks followed, is a directory.
func isDir(path string) bool {
	info, err := os.Stat(path)
	return err == nil && info.IsDir()
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
