//go:build wasip1

// Command pong is an example capsule: it answers every demo.ping {"n":i} with demo.pong
// {"n":i,"from":"pong"}. See README.md.
package main

import (
	"errors"
	"time"

	"github.com/astrid-actors/astrid-actors/guest"
)

func main() {}

type ping struct {
	N int `json:"n"`
}

type pong struct {
	N    int    `json:"n"`
	From string `json:"from"`
}

//go:wasmexport run
func run() {
	pings, err := guest.Subscribe("demo.ping")
	if err != nil {
		guest.Errorf("pong: subscribe demo.ping: %v", err)
		return
	}
	if err := guest.SignalReady(); err != nil {
		return
	}
	for {
		batch, err := pings.Recv(60 * time.Second)
		if errors.Is(err, guest.ErrCancelled) || errors.Is(err, guest.ErrClosed) {
			return
		}
		if err != nil {
			guest.Warnf("pong: recv demo.ping: %v", err)
			continue
		}
		for _, m := range batch.Messages {
			var p ping
			if err := m.Decode(&p); err != nil {
				guest.Warnf("pong: bad demo.ping payload %s: %v", m.Payload, err)
				continue
			}
			if err := guest.PublishJSON("demo.pong", pong{N: p.N, From: "pong"}); err != nil {
				guest.Warnf("pong: publish demo.pong %d: %v", p.N, err)
			}
		}
	}
}
