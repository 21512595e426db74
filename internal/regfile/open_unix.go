//go:build unix

package regfile

import (
	"os"
	"syscall"
)

// openNonblocking opens path read-only with O_NONBLOCK, so a FIFO without a
// writer opens at once (and is then refused by the fstat check) instead of
// blocking. For a regular file O_NONBLOCK changes nothing.
func openNonblocking(path string) (*os.File, error) {
	return os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
}
