package seal

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
)

// LocalKeyID is the id of the key LoadOrCreateKeyFile returns: the
// embedded default, when no seal key is configured.
const LocalKeyID = "local-1"

// maxKeyFile bounds what LoadOrCreateKeyFile reads: a key file is a line
// of base64, and anything much larger is not one.
const maxKeyFile = 4096

// LoadOrCreateKeyFile returns the key in path, creating the file with a new
// random secret when it does not exist (created is then true). It lets the
// embedded mode encrypt its cache without any configuration, while the
// operator who wants the key elsewhere (a vault, a secret manager)
// configures one.
//
// The file holds 32 random bytes in standard base64 and a newline; the
// key's secret is that text, so the file can later be named as a
// configured key (encryption.keys: [{id: local-1, secret: "file:PATH"}]). It is created
// with O_EXCL and mode 0600, and fsynced, so that two processes starting at
// once agree on one key and a crash does not leave an empty one. An
// existing file is refused when group or others may access it (the secret
// must be assumed leaked: chmod 600 and, if in doubt, delete the file and
// purge the cache), when it is a symlink (on unix: someone could point it
// at a file they control), or when it holds fewer than 32 bytes.
func LoadOrCreateKeyFile(path string) (k Key, created bool, err error) {
	if _, err := os.Lstat(path); errors.Is(err, fs.ErrNotExist) {
		k, err := createKeyFile(path)
		if err == nil {
			return k, true, nil
		}
		if !errors.Is(err, fs.ErrExist) {
			return Key{}, false, err
		}
		// Another process created it first: read what it wrote.
	}
	k, err = loadKeyFile(path)
	return k, false, err
}

func createKeyFile(path string) (Key, error) {
	secret := make([]byte, MinSecretLen)
	_, _ = rand.Read(secret) // crypto/rand.Read never fails
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return Key{}, fmt.Errorf("create seal key file %s: %w", path, err)
	}
	line := base64.StdEncoding.AppendEncode(nil, secret)
	line = append(line, '\n')
	_, err = f.Write(line)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		// The file is ours and unusable: leave no short key behind.
		_ = os.Remove(path)
		return Key{}, fmt.Errorf("write seal key file %s: %w", path, err)
	}
	syncDir(filepath.Dir(path))
	return Key{ID: LocalKeyID, Secret: line[:len(line)-1]}, nil
}

// syncDir makes the new directory entry durable, best effort: not every
// platform can fsync a directory.
func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		_ = d.Close()
	}
}

func loadKeyFile(path string) (Key, error) {
	fi, err := os.Lstat(path)
	if err != nil {
		return Key{}, fmt.Errorf("seal key file: %w", err)
	}
	if err := checkKeyFileMode(path, fi); err != nil {
		return Key{}, err
	}
	f, err := os.Open(path)
	if err != nil {
		return Key{}, fmt.Errorf("open seal key file: %w", err)
	}
	defer func() { _ = f.Close() }()
	// What we opened must be what we checked, not a file swapped in since.
	ofi, err := f.Stat()
	if err != nil {
		return Key{}, fmt.Errorf("stat seal key file %s: %w", path, err)
	}
	if !os.SameFile(fi, ofi) {
		return Key{}, fmt.Errorf("seal key file %s changed while it was being opened", path)
	}
	if err := checkKeyFileMode(path, ofi); err != nil {
		return Key{}, err
	}
	raw, err := io.ReadAll(io.LimitReader(f, maxKeyFile+1))
	if err != nil {
		return Key{}, fmt.Errorf("read seal key file %s: %w", path, err)
	}
	if len(raw) > maxKeyFile {
		return Key{}, fmt.Errorf("seal key file %s is larger than %d bytes: not a key file", path, maxKeyFile)
	}
	// The decoding error would quote the file's bytes: the secret.
	secret, err := base64.StdEncoding.DecodeString(string(bytes.TrimSpace(raw)))
	if err != nil {
		return Key{}, fmt.Errorf("seal key file %s does not hold standard base64", path)
	}
	if len(secret) < MinSecretLen {
		return Key{}, fmt.Errorf("seal key file %s holds a %d-byte secret, want at least %d bytes", path, len(secret), MinSecretLen)
	}
	// The key material is the file's text, as a file: secret reference
	// reads it (one trailing newline dropped), not the bytes it decodes
	// to: an operator who moves to configured keys writes
	// {id: local-1, secret: "file:…/intelgate-cache.key"} and every
	// record stays readable. The text holds the same 256 random bits.
	return Key{ID: LocalKeyID, Secret: bytes.TrimSuffix(raw, []byte("\n"))}, nil
}

// checkKeyFileMode refuses what an attacker could have read or replaced.
// Windows has no unix permission bits (Go reports 0666 or 0444), so only
// the file type is checked there.
func checkKeyFileMode(path string, fi fs.FileInfo) error {
	if runtime.GOOS == "windows" {
		if !fi.Mode().IsRegular() {
			return fmt.Errorf("seal key file %s is not a regular file", path)
		}
		return nil
	}
	if fi.Mode()&fs.ModeSymlink != 0 {
		return fmt.Errorf("seal key file %s is a symlink: refusing it, point the configuration at the file itself", path)
	}
	if !fi.Mode().IsRegular() {
		return fmt.Errorf("seal key file %s is not a regular file", path)
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		return fmt.Errorf("seal key file %s has mode %04o, which lets group or others access it: run chmod 600 %s", path, perm, path)
	}
	return nil
}
