//go:build !unix

package vault

import "os"

// openDir opens the directory at path for listing. Outside unix there is
// no FIFO in the filesystem that an open could block on.
func openDir(path string) (*os.File, error) { return os.Open(path) }
