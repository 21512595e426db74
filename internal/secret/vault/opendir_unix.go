//go:build unix

package vault

import (
	"os"
	"syscall"
)

// openDir opens the directory at path for listing without blocking:
// O_DIRECTORY refuses anything else (a FIFO swapped in after the lstat
// included, which a plain open would block on), O_NONBLOCK and O_NOCTTY
// make sure no open of something else can block or take a terminal.
func openDir(path string) (*os.File, error) {
	return os.OpenFile(path, os.O_RDONLY|syscall.O_DIRECTORY|syscall.O_NONBLOCK|syscall.O_NOCTTY, 0)
}
