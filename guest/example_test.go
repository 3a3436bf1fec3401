package guest_test

import (
	"errors"
	"time"

	"github.com/astrid-actors/astrid-actors/guest"
)

// The examples need the capsule host, so they are compiled but not run.

// A whole capsule: Serve subscribes one pattern per handler, signals ready, decodes each
// payload into the handler's type and returns when the capsule is stopped. In a capsule this is
// the body of the exported run function (//go:wasmexport run) of package main.
func ExampleServe() {
	type ping struct{ N int }
	err := guest.Serve(guest.Handle("demo.ping", func(p ping, m guest.Message) error {
		return guest.PublishJSON("demo.pong", map[string]int{"n": p.N})
	}))
	if err != nil {
		guest.Errorf("serve: %v", err)
	}
}

func ExampleSubscribe() {
	sub, err := guest.Subscribe("demo.ping")
	if err != nil {
		guest.Errorf("subscribe: %v", err)
		return
	}
	defer sub.Close()
	_ = guest.SignalReady()
	for {
		batch, err := sub.Recv(10 * time.Second)
		if errors.Is(err, guest.ErrCancelled) {
			return // the capsule is stopping
		}
		if err != nil {
			guest.Warnf("recv: %v", err)
			continue
		}
		if batch.Dropped+batch.Lagged > 0 {
			guest.Warnf("lost %d messages", batch.Dropped+batch.Lagged)
		}
		for _, m := range batch.Messages {
			guest.Debugf("%s from %s (%s): %s", m.Topic, m.Principal, m.SourceIDString(), m.Payload)
		}
	}
}

func ExamplePublishJSON() {
	type reply struct {
		N    int    `json:"n"`
		From string `json:"from"`
	}
	err := guest.PublishJSON("demo.pong", reply{N: 1, From: "pong"})
	switch {
	case errors.Is(err, guest.ErrCapabilityDenied):
		guest.Errorf("the manifest has no [publish] entry for demo.pong")
	case errors.Is(err, guest.ErrRateLimited):
		_ = guest.Sleep(100 * time.Millisecond) // back off, then try again
	case err != nil:
		guest.Errorf("publish: %v", err)
	}
}

func ExampleMessage_Decode() {
	sub, err := guest.Subscribe("demo.start")
	if err != nil {
		return
	}
	batch, err := sub.Recv(5 * time.Second)
	if err != nil {
		return
	}
	for _, m := range batch.Messages {
		var start struct {
			Count int `json:"count"`
		}
		if err := m.Decode(&start); err != nil {
			guest.Warnf("bad %s payload: %v", m.Topic, err)
			continue
		}
		guest.Infof("start %d", start.Count)
	}
}

func ExampleWait() {
	requests, err := guest.Subscribe("agg.request")
	if err != nil {
		return
	}
	replies, err := guest.Subscribe("agg.reply.*")
	if err != nil {
		return
	}
	ready, err := guest.Wait(time.Second, requests, replies)
	if err != nil {
		return
	}
	for _, sub := range ready {
		batch, err := sub.Poll()
		if err != nil {
			continue
		}
		guest.Debugf("%s: %d messages", sub.Pattern(), len(batch.Messages))
	}
}

func ExampleCaller() {
	c, ok, err := guest.Caller()
	if err != nil || !ok {
		return // not handling a message
	}
	guest.Infof("handling a message of %s from capsule %s", c.Principal, guest.UUIDString(c.SourceID))
}

func ExampleConfig() {
	name, err := guest.Config("worker-name")
	if errors.Is(err, guest.ErrNotFound) {
		name = "w"
	}
	guest.Infof("worker %s", name)
}
