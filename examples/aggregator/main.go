//go:build wasip1

// Command aggregator is an example fan-out capsule: for each agg.request {"id":X,"expect":K}
// it publishes agg.work {"id":X}, collects up to K replies {"id":X,"value":v} on agg.reply.*
// within 5 s, and publishes agg.result {"id":X,"replies":n,"sum":s}. See README.md.
package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"time"

	"github.com/astrid-actors/astrid-actors/guest"
)

func main() {}

const collectTimeout = 5 * time.Second

type request struct {
	ID     json.RawMessage `json:"id"`
	Expect int             `json:"expect"`
}

type work struct {
	ID json.RawMessage `json:"id"`
}

type reply struct {
	ID    json.RawMessage `json:"id"`
	Value float64         `json:"value"`
}

type result struct {
	ID      json.RawMessage `json:"id"`
	Replies int             `json:"replies"`
	Sum     float64         `json:"sum"`
}

//go:wasmexport run
func run() {
	// Subscribe to the replies first: a reply can never arrive before its subscription exists.
	replies, err := guest.Subscribe("agg.reply.*")
	if err != nil {
		guest.Errorf("aggregator: subscribe agg.reply.*: %v", err)
		return
	}
	err = guest.Serve(guest.Handle("agg.request", func(req request, m guest.Message) error {
		if len(req.ID) == 0 {
			guest.Warnf("aggregator: agg.request without an id: %s", m.Payload)
			return nil
		}
		res, err := aggregate(replies, req)
		if err != nil {
			return err // the capsule is stopping
		}
		return guest.PublishJSON("agg.result", res)
	}))
	if err != nil {
		guest.Errorf("aggregator: %v", err)
	}
}

// aggregate fans one request out and collects its replies until req.Expect arrived or the
// deadline passed. Replies to other (earlier, timed-out) requests are ignored. Requests that
// arrive meanwhile stay queued on their own subscription.
func aggregate(replies *guest.Subscription, req request) (result, error) {
	id := compact(req.ID)
	res := result{ID: req.ID}
	if err := guest.PublishJSON("agg.work", work{ID: req.ID}); err != nil {
		guest.Warnf("aggregator: publish agg.work: %v", err)
		return res, nil
	}
	deadline := guest.Monotonic() + collectTimeout
	for res.Replies < req.Expect {
		left := deadline - guest.Monotonic()
		if left <= 0 {
			break
		}
		batch, err := replies.Recv(left)
		if stopping(err) {
			return res, err
		}
		if err != nil {
			guest.Warnf("aggregator: recv agg.reply.*: %v", err)
			continue
		}
		for _, m := range batch.Messages {
			var r reply
			if err := m.Decode(&r); err != nil || !bytes.Equal(compact(r.ID), id) {
				continue
			}
			if res.Replies < req.Expect {
				res.Replies++
				res.Sum += r.Value
			}
		}
	}
	return res, nil
}

// compact returns the canonical (whitespace-free) form of a JSON value, for comparing ids.
func compact(raw json.RawMessage) []byte {
	var b bytes.Buffer
	if json.Compact(&b, raw) != nil {
		return raw
	}
	return b.Bytes()
}

func stopping(err error) bool {
	return errors.Is(err, guest.ErrCancelled) || errors.Is(err, guest.ErrClosed)
}
