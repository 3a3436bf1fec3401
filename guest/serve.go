package guest

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/astrid-actors/astrid-actors/abi"
)

// ErrStop, returned by a handler, makes Serve close its subscriptions and return nil: the
// capsule's run loop ends normally (what happens next is the capsule's restart policy).
var ErrStop = errors.New("guest: stop serving")

// serveTimeout is how long one receive of Serve blocks before it asks again: the host's
// ceiling (abi.MaxRecvTimeoutMillis). A timeout is not an event; Serve just receives again.
const serveTimeout = abi.MaxRecvTimeoutMillis * time.Millisecond

// Handler handles the messages of one subscription of Serve. Make one with On, Handle or
// OnBatch.
type Handler struct {
	pattern string
	batch   func(Batch) error
	// perMessage: Serve reports a batch's losses itself, since the handler never sees them.
	perMessage bool
}

// Pattern returns the subscription pattern the handler serves.
func (h Handler) Pattern() string { return h.pattern }

// On handles every message on topics matching pattern (see Subscribe) with fn, one message at
// a time in publish order. Losses (Batch.Dropped, Batch.Lagged) are logged at warn level by
// Serve, since fn does not see them.
func On(pattern string, fn func(Message) error) Handler {
	return Handler{pattern: pattern, perMessage: true, batch: func(b Batch) error {
		for i, m := range b.Messages {
			if err := fn(m); err != nil {
				if left := len(b.Messages) - i - 1; left > 0 && stopServing(err) {
					Warnf("serve %s: %d message(s) of the batch not handled: %v", pattern, left, err)
				}
				if !handlerDone(pattern, m.Topic, err) {
					continue
				}
				return err
			}
		}
		return nil
	}}
}

// Handle is On with the payload decoded as JSON into a T first. A payload that does not decode
// is logged at warn level (with its topic and the decode error) and skipped; fn is not called.
func Handle[T any](pattern string, fn func(T, Message) error) Handler {
	return On(pattern, func(m Message) error {
		var v T
		if err := json.Unmarshal(m.Payload, &v); err != nil {
			Warnf("serve %s: %s: payload does not decode as %T, skipped: %v", pattern, m.Topic, v, err)
			return nil
		}
		return fn(v, m)
	})
}

// OnBatch handles every batch received on pattern with fn: the messages and the losses counted
// since the previous batch (see Batch). Serve does not call fn for an empty batch unless it
// carries losses.
func OnBatch(pattern string, fn func(Batch) error) Handler {
	return Handler{pattern: pattern, batch: func(b Batch) error {
		if err := fn(b); err != nil && handlerDone(pattern, "", err) {
			return err
		}
		return nil
	}}
}

// handlerDone reports whether a handler's error ends Serve (ErrStop, or the capsule is
// stopping); any other error is logged at warn level and Serve goes on.
func handlerDone(pattern, topic string, err error) bool {
	if stopServing(err) {
		return true
	}
	if topic != "" {
		Warnf("serve %s: handling %s: %v", pattern, topic, err)
	} else {
		Warnf("serve %s: %v", pattern, err)
	}
	return false
}

// stopServing reports whether err ends Serve: ErrStop, or ErrCancelled/ErrClosed from a host
// call of the handler (the capsule is stopping).
func stopServing(err error) bool {
	return errors.Is(err, ErrStop) || stopping(err)
}

// stopping reports whether err means that the capsule is being stopped.
func stopping(err error) bool {
	return errors.Is(err, ErrCancelled) || errors.Is(err, ErrClosed)
}

// Serve is a capsule's whole run loop. It subscribes to the pattern of every handler, in
// order, signals ready, and then receives and dispatches forever: each handler gets the
// messages of its own subscription in publish order, and when several subscriptions have
// messages queued each gets one batch per round, so none starves the others. Everything runs
// on the caller's goroutine (the run export's, see the package doc).
//
// Serve returns nil when the capsule is stopping (a receive, or a host call inside a handler,
// reports ErrCancelled or ErrClosed) and when a handler returns ErrStop (Serve then closes its
// subscriptions, so what is still queued is counted as discarded by the host). It returns an
// error when a subscribe or signal-ready fails (subscriptions already made are closed) or a
// receive fails otherwise. A handler's other errors are logged at warn level and serving goes
// on; a handler's panic is a crash, as anywhere in run.
//
// Subscriptions a capsule makes itself before calling Serve (for replies it receives inside a
// handler, say) exist before the ready signal too. With no handlers, Serve signals ready and
// blocks until the capsule is stopped.
//
//	//go:wasmexport run
//	func run() {
//		err := guest.Serve(guest.Handle("demo.ping", func(p ping, _ guest.Message) error {
//			return guest.PublishJSON("demo.pong", pong{N: p.N})
//		}))
//		if err != nil {
//			guest.Errorf("pong: %v", err)
//		}
//	}
func Serve(handlers ...Handler) error {
	subs := make([]*Subscription, 0, len(handlers))
	closeAll := func() {
		for _, s := range subs {
			_ = s.Close() // ErrClosed while stopping: nothing left to release
		}
	}
	for _, h := range handlers {
		if h.batch == nil {
			closeAll()
			return fmt.Errorf("astrid serve: handler for %q was not made by On, Handle or OnBatch: %w", h.pattern, ErrInvalidInput)
		}
		s, err := Subscribe(h.pattern)
		if err != nil {
			closeAll()
			return err
		}
		subs = append(subs, s)
	}
	if err := SignalReady(); err != nil {
		closeAll()
		return err
	}
	err := serve(handlers, subs)
	if errors.Is(err, ErrStop) {
		closeAll()
		return nil
	}
	if stopping(err) {
		return nil
	}
	return err
}

// serve runs the receive loop until an error ends it (never nil).
func serve(handlers []Handler, subs []*Subscription) error {
	switch len(subs) {
	case 0:
		for {
			if err := Sleep(serveTimeout); err != nil {
				return err
			}
		}
	case 1:
		for {
			b, err := subs[0].Recv(serveTimeout)
			if err != nil {
				return err
			}
			if err := dispatch(handlers[0], b); err != nil {
				return err
			}
		}
	}
	index := make(map[*Subscription]int, len(subs))
	for i, s := range subs {
		index[s] = i
	}
	for {
		ready, err := Wait(serveTimeout, subs...)
		if err != nil {
			return err
		}
		for _, s := range ready {
			b, err := s.Poll()
			if err != nil {
				return err
			}
			if err := dispatch(handlers[index[s]], b); err != nil {
				return err
			}
		}
	}
}

// dispatch hands one batch to its handler and returns the error that ends Serve, if any.
func dispatch(h Handler, b Batch) error {
	lost := b.Dropped + b.Lagged
	if len(b.Messages) == 0 && lost == 0 {
		return nil // a receive that timed out
	}
	if h.perMessage && lost > 0 {
		Warnf("serve %s: lost %d message(s) (dropped %d, lagged %d)", h.pattern, lost, b.Dropped, b.Lagged)
	}
	return h.batch(b)
}
