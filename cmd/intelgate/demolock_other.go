//go:build !unix

package main

// lockDemoDir is a no-op where flock is not available.
func lockDemoDir(string) (func(), error) { return func() {}, nil }
