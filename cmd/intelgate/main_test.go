package main

import (
	"os"
	"testing"
	"time"
)

// runMainEnv makes the test binary act as the intelgate binary: tests that
// need a real process (one that receives real signals) run os.Args[0] with
// it set and the command line they want, instead of building the binary.
const runMainEnv = "INTELGATE_TEST_RUN_MAIN"

// logFlushEnv sets such a process's log flush interval (logFlushInterval).
const logFlushEnv = "INTELGATE_TEST_LOG_FLUSH_INTERVAL"

func TestMain(m *testing.M) {
	if os.Getenv(runMainEnv) == "1" {
		if v := os.Getenv(logFlushEnv); v != "" {
			d, err := time.ParseDuration(v)
			if err != nil {
				panic(logFlushEnv + ": " + err.Error())
			}
			logFlushInterval = d
		}
		main()
		os.Exit(0)
	}
	os.Exit(m.Run())
}
