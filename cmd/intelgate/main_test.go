package main

import (
	"os"
	"testing"
)

// runMainEnv makes the test binary act as the intelgate binary: tests that
// need a real process (one that receives real signals) run os.Args[0] with
// it set and the command line they want, instead of building the binary.
const runMainEnv = "INTELGATE_TEST_RUN_MAIN"

func TestMain(m *testing.M) {
	if os.Getenv(runMainEnv) == "1" {
		main()
		os.Exit(0)
	}
	os.Exit(m.Run())
}
