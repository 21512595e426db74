//go:build linux

package bench

import (
	"fmt"
	"syscall"
	"time"
)

// rusageSelf is this process's user and system CPU time so far.
func rusageSelf() (user, sys time.Duration, err error) {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0, 0, fmt.Errorf("getrusage: %w", err)
	}
	return time.Duration(ru.Utime.Nano()), time.Duration(ru.Stime.Nano()), nil
}
