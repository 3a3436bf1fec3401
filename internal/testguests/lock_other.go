//go:build !unix

package testguests

// lockFile does not lock where flock is missing: concurrent test binaries may then build the
// same guest twice, which costs time but gives the same result.
func lockFile(string) (unlock func(), err error) { return func() {}, nil }
