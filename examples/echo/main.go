//go:build wasip1

// Command echo is an example capsule: it republishes the payload of every echo.in message on
// echo.out and logs each at debug level. See README.md.
package main

import (
	"errors"
	"time"

	"github.com/astrid-actors/astrid-actors/guest"
)

func main() {}

//go:wasmexport run
func run() {
	in, err := guest.Subscribe("echo.in")
	if err != nil {
		guest.Errorf("echo: subscribe echo.in: %v", err)
		return
	}
	if err := guest.SignalReady(); err != nil {
		return
	}
	for {
		batch, err := in.Recv(60 * time.Second)
		if errors.Is(err, guest.ErrCancelled) || errors.Is(err, guest.ErrClosed) {
			return
		}
		if err != nil {
			guest.Warnf("echo: recv echo.in: %v", err)
			continue
		}
		if lost := batch.Dropped + batch.Lagged; lost > 0 {
			guest.Warnf("echo: lost %d messages", lost)
		}
		for _, m := range batch.Messages {
			guest.Debugf("echo: seq %d from %s (%s): %d bytes", m.Seq, m.Principal, m.SourceIDString(), len(m.Payload))
			if err := guest.Publish("echo.out", m.Payload); err != nil {
				guest.Warnf("echo: publish echo.out: %v", err)
			}
		}
	}
}
