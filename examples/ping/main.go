//go:build wasip1

// Command ping is an example capsule: on each demo.start it sends numbered requests on
// demo.ping one at a time, waits up to 5 s for each reply on demo.pong, and reports the tally
// on demo.done. See README.md.
package main

import (
	"errors"
	"time"

	"github.com/astrid-actors/astrid-actors/guest"
)

func main() {}

const (
	defaultCount = 3
	maxCount     = 10_000
	replyTimeout = 5 * time.Second
)

type start struct {
	Count *int `json:"count"`
}

type ping struct {
	N int `json:"n"`
}

type pong struct {
	N    int    `json:"n"`
	From string `json:"from"`
}

type done struct {
	Pings int `json:"pings"`
	Pongs int `json:"pongs"`
}

//go:wasmexport run
func run() {
	// The pongs subscription exists before Serve signals ready, like Serve's own.
	pongs, err := guest.Subscribe("demo.pong")
	if err != nil {
		guest.Errorf("ping: subscribe demo.pong: %v", err)
		return
	}
	err = guest.Serve(guest.On("demo.start", func(m guest.Message) error {
		count := defaultCount
		var s start
		if err := m.Decode(&s); err == nil && s.Count != nil {
			count = min(max(*s.Count, 0), maxCount)
		}
		got, err := exchange(pongs, count)
		if err != nil {
			return err // the capsule is stopping
		}
		return guest.PublishJSON("demo.done", done{Pings: count, Pongs: got})
	}))
	if err != nil {
		guest.Errorf("ping: %v", err)
	}
}

// exchange sends count pings one at a time and waits up to replyTimeout for the pong that
// answers each; it returns how many answers arrived. Stale or foreign pongs are skipped.
func exchange(pongs *guest.Subscription, count int) (int, error) {
	got := 0
	for i := 1; i <= count; i++ {
		if err := guest.PublishJSON("demo.ping", ping{N: i}); err != nil {
			guest.Warnf("ping: publish demo.ping %d: %v", i, err)
			continue
		}
		ok, err := awaitPong(pongs, i)
		if err != nil {
			return got, err
		}
		if ok {
			got++
		} else {
			guest.Warnf("ping: no pong for %d within %v", i, replyTimeout)
		}
	}
	return got, nil
}

// awaitPong receives on pongs until the pong numbered n arrives or replyTimeout passes.
func awaitPong(pongs *guest.Subscription, n int) (bool, error) {
	deadline := guest.Monotonic() + replyTimeout
	for {
		left := deadline - guest.Monotonic()
		if left <= 0 {
			return false, nil
		}
		batch, err := pongs.Recv(left)
		if stopping(err) {
			return false, err
		}
		if err != nil {
			guest.Warnf("ping: recv demo.pong: %v", err)
			continue
		}
		for _, m := range batch.Messages {
			var p pong
			if err := m.Decode(&p); err == nil && p.N == n {
				return true, nil
			}
		}
	}
}

// stopping reports whether err means the capsule is being stopped.
func stopping(err error) bool {
	return errors.Is(err, guest.ErrCancelled) || errors.Is(err, guest.ErrClosed)
}
