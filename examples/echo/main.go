//go:build wasip1

// Command echo is an example capsule: it republishes the payload of every echo.in message on
// echo.out and logs each at debug level. See README.md.
package main

import "github.com/astrid-actors/astrid-actors/guest"

func main() {}

//go:wasmexport run
func run() {
	// On (not OnBatch): Serve itself logs the messages lost between two batches.
	err := guest.Serve(guest.On("echo.in", func(m guest.Message) error {
		guest.Debugf("echo: seq %d from %s (%s): %d bytes", m.Seq, m.Principal, m.SourceIDString(), len(m.Payload))
		return guest.Publish("echo.out", m.Payload)
	}))
	if err != nil {
		guest.Errorf("echo: %v", err)
	}
}
