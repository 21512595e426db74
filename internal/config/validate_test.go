package config

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestHasDotSegment(t *testing.T) {
	t.Parallel()
	for path, want := range map[string]bool{
		"/api/v3/ip_addresses/{indicator}": false,
		"/v1/host/":                        false,
		"/":                                false,
		"/a//b":                            true,
		"//a":                              true,
		"/a/./b":                           true,
		"/a/../b":                          true,
		"/a/%2E%2E/b":                      true,
		"/a/%2e":                           true,
		"/a/..b":                           false,
	} {
		require.Equal(t, want, hasDotSegment(path), path)
	}
}
