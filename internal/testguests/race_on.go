//go:build race

package testguests

// raceEnabled reports whether the test binary runs with the race detector.
const raceEnabled = true
