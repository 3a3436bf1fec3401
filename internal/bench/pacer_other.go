//go:build !linux

package bench

import "time"

func newPacer(period time.Duration) (pacer, error) { return newTickerPacer(period), nil }
