//go:build wasip1

// Command worker is an example capsule for the aggregator: it answers every agg.work {"id":X}
// with agg.reply.<worker-name> {"id":X,"value":<worker-value>}, both read from its [env]
// config. See README.md.
package main

import (
	"encoding/json"
	"errors"
	"strconv"

	"github.com/astrid-actors/astrid-actors/guest"
)

func main() {}

type work struct {
	ID json.RawMessage `json:"id"`
}

type reply struct {
	ID    json.RawMessage `json:"id"`
	Value float64         `json:"value"`
}

//go:wasmexport run
func run() {
	name := config("worker-name", "w")
	value := 1.0
	if v, err := strconv.ParseFloat(config("worker-value", "1"), 64); err == nil {
		value = v
	} else {
		guest.Warnf("worker: worker-value is not a number, using 1: %v", err)
	}
	topic := "agg.reply." + name

	err := guest.Serve(guest.Handle("agg.work", func(w work, m guest.Message) error {
		if len(w.ID) == 0 {
			guest.Warnf("worker %s: agg.work without an id: %s", name, m.Payload)
			return nil
		}
		return guest.PublishJSON(topic, reply{ID: w.ID, Value: value})
	}))
	if err != nil {
		guest.Errorf("worker %s: %v", name, err)
	}
}

// config returns the [env] value of key, or def when it is not set.
func config(key, def string) string {
	v, err := guest.Config(key)
	if err != nil {
		if !errors.Is(err, guest.ErrNotFound) {
			guest.Warnf("worker: config %s: %v", key, err)
		}
		return def
	}
	return v
}
