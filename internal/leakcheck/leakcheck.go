// Package leakcheck holds the goleak options every test binary of this module uses.
package leakcheck

import "go.uber.org/goleak"

// Options returns the goleak options of the project's TestMains. The only goroutine ignored
// is protoactor-go's dead-letter log throttle, which sleeps one throttle interval (1 s) after
// a dead letter and then exits by itself; it is not a goroutine of ours.
func Options() []goleak.Option {
	return []goleak.Option{
		goleak.IgnoreAnyFunction("github.com/asynkron/protoactor-go/actor.NewDeadLetter.NewThrottle.func4.1"),
		goleak.IgnoreAnyFunction("github.com/asynkron/protoactor-go/actor.NewThrottle.func1"),
	}
}
