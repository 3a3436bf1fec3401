//go:build wasip1

// Command worker is an example capsule for the aggregator: it answers every agg.work {"id":X}
// with agg.reply.<worker-name> {"id":X,"value":<worker-value>}, both read from its [env]
// config. See README.md.
package main

import (
	"encoding/json"
	"errors"
	"strconv"
	"time"

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

	jobs, err := guest.Subscribe("agg.work")
	if err != nil {
		guest.Errorf("worker %s: subscribe agg.work: %v", name, err)
		return
	}
	if err := guest.SignalReady(); err != nil {
		return
	}
	for {
		batch, err := jobs.Recv(60 * time.Second)
		if errors.Is(err, guest.ErrCancelled) || errors.Is(err, guest.ErrClosed) {
			return
		}
		if err != nil {
			guest.Warnf("worker %s: recv agg.work: %v", name, err)
			continue
		}
		for _, m := range batch.Messages {
			var w work
			if err := m.Decode(&w); err != nil || len(w.ID) == 0 {
				guest.Warnf("worker %s: bad agg.work %s", name, m.Payload)
				continue
			}
			if err := guest.PublishJSON(topic, reply{ID: w.ID, Value: value}); err != nil {
				guest.Warnf("worker %s: publish %s: %v", name, topic, err)
			}
		}
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
