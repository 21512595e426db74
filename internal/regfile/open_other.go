//go:build !unix

package regfile

import "os"

// openNonblocking opens path read-only. Outside unix there is no FIFO in the
// filesystem that an open could block on; the fstat check still refuses
// anything but a regular file.
func openNonblocking(path string) (*os.File, error) {
	return os.Open(path)
}
