//go:build unix

package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
)

// lockDemoDir takes an exclusive lock on dir/demo.lock so a second demo on
// the same directory refuses to start instead of rewriting the first one's
// token, key and CA. The kernel drops the lock when the process exits, so a
// crashed demo never leaves a stale lock behind.
func lockDemoDir(dir string) (release func(), err error) {
	f, err := os.OpenFile(filepath.Join(dir, "demo.lock"), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("--dir %s: %w", dir, err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("--dir %s: another demo is running in this directory; stop it or use another --dir", dir)
		}
		return nil, fmt.Errorf("--dir %s: locking: %w", dir, err)
	}
	return func() { f.Close() }, nil
}
