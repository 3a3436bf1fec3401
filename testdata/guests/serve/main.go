//go:build wasip1

// Command serve is a test capsule whose run loop is guest.Serve, to test Serve's semantics
// under the real runtime (actors/serve_test.go):
//
//   - serve.num: Handle decodes {"n":N} and publishes serve.out {"h":"num","n":N}; a payload
//     that does not decode is skipped.
//   - serve.raw.*: On republishes the payload on serve.out as {"h":"raw","topic":T,"p":P};
//     the payload "fail" makes the handler return an error, which Serve logs and goes on.
//   - serve.batch: OnBatch publishes serve.out {"h":"batch","n":messages,"lost":dropped+lagged}.
//   - serve.stop: the handler returns guest.ErrStop: run returns normally.
package main

import (
	"encoding/json"
	"errors"

	"github.com/astrid-actors/astrid-actors/guest"
)

func main() {}

type num struct {
	N int `json:"n"`
}

//go:wasmexport run
func run() {
	err := guest.Serve(
		guest.Handle("serve.num", func(v num, _ guest.Message) error {
			return guest.PublishJSON("serve.out", map[string]any{"h": "num", "n": v.N})
		}),
		guest.On("serve.raw.*", func(m guest.Message) error {
			if string(m.Payload) == `"fail"` {
				return errors.New("told to fail")
			}
			return guest.PublishJSON("serve.out", map[string]any{"h": "raw", "topic": m.Topic, "p": json.RawMessage(m.Payload)})
		}),
		guest.OnBatch("serve.batch", func(b guest.Batch) error {
			return guest.PublishJSON("serve.out", map[string]any{"h": "batch", "n": len(b.Messages), "lost": b.Dropped + b.Lagged})
		}),
		guest.On("serve.stop", func(guest.Message) error { return guest.ErrStop }),
	)
	if err != nil {
		guest.Errorf("serve: %v", err)
	}
}
