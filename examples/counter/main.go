//go:build wasip1

// Command counter is an example capsule whose state survives it: every counter.tick adds one
// to a counter kept in the capsule's astrid:kv namespace and publishes the new value on
// counter.value. Killing the capsule (a tick with {"crash":true} traps it) or the whole host
// process loses nothing that was published: the next instance continues from the stored
// value. See README.md.
package main

import (
	"errors"
	"strconv"

	"github.com/astrid-actors/astrid-actors/guest"
)

func main() {}

const key = "count"

type tick struct {
	Crash bool `json:"crash"`
}

type value struct {
	N int `json:"n"`
}

//go:wasmexport run
func run() {
	err := guest.Serve(guest.On("counter.tick", func(m guest.Message) error {
		var t tick
		_ = m.Decode(&t) // an empty or non-object payload is a plain tick
		if t.Crash {
			panic("counter: crash requested") // a trap: the supervisor restarts the capsule
		}
		n, err := increment()
		if err != nil {
			return err // logged by Serve; the next tick tries again
		}
		return guest.PublishJSON("counter.value", value{N: n})
	}))
	if err != nil {
		guest.Errorf("counter: %v", err)
	}
}

// increment adds one to the stored counter with compare-and-set, so two instances of the
// capsule (a restart racing its predecessor, or two nodes) never lose an increment.
func increment() (int, error) {
	for {
		old, err := guest.KV.Get(key)
		present := err == nil
		if err != nil && !errors.Is(err, guest.ErrNotFound) {
			return 0, err
		}
		n, _ := strconv.Atoi(string(old))
		n++
		err = guest.KV.CAS(key, old, present, []byte(strconv.Itoa(n)))
		if err == nil {
			return n, nil
		}
		if !errors.Is(err, guest.ErrCASMismatch) {
			return 0, err
		}
	}
}
