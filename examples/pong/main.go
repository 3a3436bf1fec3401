//go:build wasip1

// Command pong is an example capsule: it answers every demo.ping {"n":i} with demo.pong
// {"n":i,"from":"pong"}. See README.md.
package main

import "github.com/astrid-actors/astrid-actors/guest"

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
	err := guest.Serve(guest.Handle("demo.ping", func(p ping, _ guest.Message) error {
		return guest.PublishJSON("demo.pong", pong{N: p.N, From: "pong"})
	}))
	if err != nil {
		guest.Errorf("pong: %v", err)
	}
}
