//go:build race

package manifest

func init() { raceEnabled = true }
