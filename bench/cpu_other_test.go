//go:build !linux

package bench

import (
	"errors"
	"time"
)

// rusageSelf needs Linux here: the overhead benchmark reads /proc too, and
// skips elsewhere.
func rusageSelf() (user, sys time.Duration, err error) {
	return 0, 0, errors.New("CPU accounting needs Linux (getrusage and /proc)")
}
