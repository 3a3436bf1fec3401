package actors_test

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/astrid-actors/astrid-actors/actors"
	"github.com/astrid-actors/astrid-actors/bus"
	"github.com/astrid-actors/astrid-actors/hostfuncs"
)

// Example starts a capsule from a wasm file and talks to it over the bus.
func Example() {
	ctx := context.Background()
	rt, err := actors.New(ctx, actors.Options{})
	if err != nil {
		panic(err)
	}
	defer rt.Close(ctx)

	wasm, err := os.ReadFile("../testdata/wat/echo.wasm") // republishes echo.in on echo.out
	if err != nil {
		panic(err)
	}
	mod, err := rt.Compile(ctx, wasm)
	if err != nil {
		panic(err)
	}
	out, err := rt.Subscribe(ctx, "echo.out")
	if err != nil {
		panic(err)
	}
	echo, err := rt.Start(ctx, actors.CapsuleSpec{
		ID:     "echo",
		Module: mod,
		Grants: hostfuncs.Grants{Publish: []string{"echo.out"}, Subscribe: []string{"echo.in"}},
	})
	if err != nil {
		panic(err)
	}
	if err := echo.WaitReady(ctx); err != nil {
		panic(err)
	}
	if _, err := rt.Publish(ctx, "echo.in", []byte(`{"hello":"world"}`), bus.Verified("alice")); err != nil {
		panic(err)
	}
	batch, err := out.Recv(ctx, 30*time.Second)
	if err != nil {
		panic(err)
	}
	m := batch.Messages[0]
	fmt.Println(m.Topic, string(m.Payload), m.Principal)
	// Output: echo.out {"hello":"world"} verified(alice)
}

// ExampleRuntime_Load loads a directory of capsules (each a Capsule.toml and its wasm).
func ExampleRuntime_Load() {
	ctx := context.Background()
	rt, err := actors.New(ctx, actors.Options{})
	if err != nil {
		panic(err)
	}
	defer rt.Close(ctx)
	report, err := rt.Load(ctx, "../testdata/capsules/echo", "../testdata/capsules/relay")
	if err != nil {
		panic(err)
	}
	fmt.Println("started:", report.Started)
	for _, st := range rt.Capsules() {
		fmt.Println(st.ID, st.State)
	}
	// Output:
	// started: [echo relay]
	// echo ready
	// relay ready
}

// ExampleRuntime_Events watches lifecycle events while a capsule crashes and is restarted.
func ExampleRuntime_Events() {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	rt, err := actors.New(ctx, actors.Options{})
	if err != nil {
		panic(err)
	}
	defer rt.Close(context.Background())
	events, err := rt.Events(ctx)
	if err != nil {
		panic(err)
	}
	wasm, _ := os.ReadFile("../testdata/wat/crashy.wasm") // traps on a message on crash.now
	mod, err := rt.Compile(ctx, wasm)
	if err != nil {
		panic(err)
	}
	c, err := rt.Start(ctx, actors.CapsuleSpec{ID: "crashy", Module: mod, Grants: hostfuncs.Grants{Subscribe: []string{"crash.*"}}})
	if err != nil {
		panic(err)
	}
	if err := c.WaitReady(ctx); err != nil {
		panic(err)
	}
	if _, err := rt.Publish(ctx, "crash.now", []byte(`{}`), bus.System()); err != nil {
		panic(err)
	}
	for range 2 {
		e := <-events
		fmt.Println(e.Topic, e.CapsuleID, e.Reason)
	}
	// Output:
	// astrid.v1.capsule.crashed crashy wasm error: unreachable
	// astrid.v1.capsule.restarted crashy
}
