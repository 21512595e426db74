//go:build unix

package regfile

import (
	"os"
	"syscall"
)

// openNonblocking opens path read-only with O_NONBLOCK, so a FIFO without a
// writer opens at once (and is then refused by the fstat check) instead of
// blocking; O_NOCTTY, so a terminal named by mistake never becomes the
// process's controlling terminal. For a regular file neither changes
// anything.
func openNonblocking(path string) (*os.File, error) {
	return os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK|syscall.O_NOCTTY, 0)
}
