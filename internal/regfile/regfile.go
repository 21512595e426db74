// Package regfile reads the small files a configuration names — secret
// files, CA bundles, JSON schemas, TLS certificates — safely: only a regular
// file (a symlink to one is followed), opened without blocking and read up to
// a size cap.
//
// Why not os.ReadFile: opening a FIFO blocks until a writer appears, so a
// named pipe where a key file belongs made `config validate` and `serve`
// hang, deaf to SIGTERM; a device such as /dev/zero never ends; a path
// swapped between a stat and an open (TOCTOU) defeats any check made before
// opening. Here the file is opened with O_NONBLOCK (on unix) and the check is
// made with fstat on the opened descriptor, so what is checked is what is
// read.
package regfile

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strconv"
)

// ErrNotRegular matches (errors.Is) the error for a path that is a FIFO,
// device, directory, socket or anything else but a regular file.
var ErrNotRegular = errors.New("not a regular file")

// ErrTooLarge matches (errors.Is) the error for a file over the size cap.
var ErrTooLarge = errors.New("file too large")

// Read returns the contents of the regular file at path, at most limit
// bytes, and its metadata as fstat reported it for the opened descriptor
// (so Mode is the target's when path is a symlink). A larger file, or one
// that is not regular, is an error naming path and what it is.
func Read(path string, limit int64) ([]byte, fs.FileInfo, error) {
	// Refuse what is plainly not a regular file before opening it: opening
	// a device can have effects of its own (a tape rewinds, a watchdog
	// arms). The fstat of the opened descriptor below is the check that
	// holds if the path is swapped in between.
	if st, err := os.Stat(path); err == nil && !st.Mode().IsRegular() {
		return nil, nil, &notRegularError{path: path, kind: describe(st.Mode())}
	}
	f, err := openNonblocking(path)
	if err != nil {
		return nil, nil, err
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return nil, nil, fmt.Errorf("inspecting %s: %w", path, err)
	}
	if !info.Mode().IsRegular() {
		return nil, nil, &notRegularError{path: path, kind: describe(info.Mode())}
	}
	if info.Size() > limit {
		return nil, nil, tooLarge(path, limit)
	}
	// The file may grow between fstat and the read: the cap holds anyway.
	data, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, nil, fmt.Errorf("reading %s: %w", path, err)
	}
	if int64(len(data)) > limit {
		return nil, nil, tooLarge(path, limit)
	}
	return data, info, nil
}

type notRegularError struct{ path, kind string }

func (e *notRegularError) Error() string {
	return e.path + " is " + e.kind + ", not a regular file"
}

func (e *notRegularError) Is(target error) bool { return target == ErrNotRegular }

func tooLarge(path string, limit int64) error {
	return fmt.Errorf("%s is larger than %s: %w", path, Size(limit), ErrTooLarge)
}

// describe names a non-regular file type the way an operator would.
func describe(m fs.FileMode) string {
	switch {
	case m.IsDir():
		return "a directory"
	case m&fs.ModeNamedPipe != 0:
		return "a named pipe (FIFO)"
	case m&fs.ModeCharDevice != 0:
		return "a character device"
	case m&fs.ModeDevice != 0:
		return "a block device"
	case m&fs.ModeSocket != 0:
		return "a socket"
	default:
		return "a special file"
	}
}

// Size renders a byte count as the largest exact unit ("64 KiB", "4 MiB",
// "100 bytes"), for messages about caps.
func Size(n int64) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return strconv.FormatInt(n>>20, 10) + " MiB"
	case n >= 1<<10 && n%(1<<10) == 0:
		return strconv.FormatInt(n>>10, 10) + " KiB"
	default:
		return strconv.FormatInt(n, 10) + " bytes"
	}
}
