package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"sync"
	"time"

	"github.com/astrid-actors/astrid-actors/actors"
	"github.com/astrid-actors/astrid-actors/bus"
	"github.com/astrid-actors/astrid-actors/topics"
)

// tailLine is the JSON form of one message printed by run --tail.
type tailLine struct {
	Seq       uint64          `json:"seq"`
	Topic     string          `json:"topic"`
	Payload   json.RawMessage `json:"payload"`
	Principal tailPrincipal   `json:"principal"`
	SourceID  string          `json:"source_id"`
	Time      string          `json:"time"`
}

type tailPrincipal struct {
	Kind string `json:"kind"`
	ID   string `json:"id"`
}

// encodeMessage renders m as one JSON line (with the trailing newline). The payload is
// embedded as JSON, not as a string.
func encodeMessage(m *bus.Message) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	err := enc.Encode(tailLine{
		Seq:       m.Seq,
		Topic:     m.Topic,
		Payload:   json.RawMessage(m.Payload),
		Principal: tailPrincipal{Kind: m.Principal.Kind.String(), ID: m.Principal.ID},
		SourceID:  m.Source.String(),
		Time:      m.Time.UTC().Format(time.RFC3339Nano),
	})
	return buf.Bytes(), err
}

// tailer follows the --tail and --exit-on patterns: one host subscription per distinct
// pattern, one reader goroutine per subscription, and one consumer that prints the tailed
// messages (each once, even when several patterns match it) and reports the first message
// matching an exit-on pattern.
//
// Subscriptions are independent mailboxes, so the exit-on message may arrive (through its
// own subscription) before earlier messages that other subscriptions still hold. So the
// consumer holds it back, has every reader flush what its subscription has queued, prints
// the messages published before it, then the exit-on message itself, and only then reports
// it. Nothing published after it is printed.
type tailer struct {
	tails, exitOn []string
	out           io.Writer
	notes         *lineWriter
	onExit        func(*bus.Message) // called once, on the first exit-on match, after printing

	subs     []*bus.Subscription
	patterns []string // of subs
	items    chan *bus.Message
	flush    context.CancelFunc // asks the readers to flush their queue and end
	wg       sync.WaitGroup
	stopOnce sync.Once
}

// start subscribes; it must be called before the capsules are loaded so that nothing they
// publish is missed.
func (t *tailer) start(ctx context.Context, r *actors.Runtime) error {
	for _, p := range append(slices.Clone(t.tails), t.exitOn...) {
		if slices.Contains(t.patterns, p) {
			continue
		}
		sub, err := r.Subscribe(ctx, p)
		if err != nil {
			return fmt.Errorf("subscribe %q: %w", p, err)
		}
		t.subs = append(t.subs, sub)
		t.patterns = append(t.patterns, p)
	}
	if len(t.subs) == 0 {
		return nil
	}
	t.items = make(chan *bus.Message, 1024)
	flushCtx, flush := context.WithCancel(ctx)
	t.flush = flush
	var readers sync.WaitGroup
	for i, sub := range t.subs {
		readers.Go(func() { t.read(ctx, flushCtx, sub, t.patterns[i]) })
	}
	t.wg.Go(func() {
		readers.Wait()
		close(t.items)
	})
	t.wg.Go(func() { t.consume(ctx) })
	return nil
}

// stop waits for the goroutines, which end when ctx ends (or the runtime closes), and
// unsubscribes.
func (t *tailer) stop() {
	t.stopOnce.Do(func() {
		t.wg.Wait()
		if t.flush != nil {
			t.flush()
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		for _, sub := range t.subs {
			_ = sub.Close(ctx)
		}
	})
}

// read forwards the messages of one subscription until ctx ends; when flushCtx ends first,
// it forwards what is queued at that moment and returns.
func (t *tailer) read(ctx, flushCtx context.Context, sub *bus.Subscription, pattern string) {
	forward := func(b bus.Batch) bool {
		if b.Dropped > 0 {
			t.notes.notef("warning: --tail %s: %d message(s) dropped: the output is not keeping up", pattern, b.Dropped)
		}
		for _, m := range b.Messages {
			select {
			case t.items <- m:
			case <-ctx.Done():
				return false
			}
		}
		return true
	}
	for {
		b, err := sub.Recv(flushCtx, time.Minute)
		if err != nil {
			if ctx.Err() == nil && flushCtx.Err() != nil {
				// Every flow queued now: one Poll returns one publisher's messages.
				for b := sub.Poll(); len(b.Messages) > 0 || b.Dropped > 0; b = sub.Poll() {
					if !forward(b) {
						return
					}
				}
			}
			return
		}
		if !forward(b) {
			return
		}
	}
}

func (t *tailer) consume(ctx context.Context) {
	// pending counts, per seq, the copies of a message still to come from other
	// subscriptions whose pattern also matches it.
	pending := map[uint64]int{}
	var exit *bus.Message
	emit := func(m *bus.Message) {
		if matching(t.tails, m.Topic) == 0 {
			return
		}
		line, err := encodeMessage(m)
		if err != nil {
			t.notes.notef("warning: --tail: message %d on %s: %v", m.Seq, m.Topic, err)
			return
		}
		_, _ = t.out.Write(line)
	}
	for {
		var m *bus.Message
		select {
		case <-ctx.Done():
			return
		case item, ok := <-t.items:
			if !ok {
				if exit != nil {
					emit(exit)
					t.onExit(exit)
				}
				return
			}
			m = item
		}
		if n, dup := pending[m.Seq]; dup {
			if n <= 1 {
				delete(pending, m.Seq)
			} else {
				pending[m.Seq] = n - 1
			}
			continue
		}
		if n := matching(t.patterns, m.Topic); n > 1 {
			pending[m.Seq] = n - 1
		}
		switch {
		case exit != nil:
			if m.Seq < exit.Seq {
				emit(m)
			}
		case matching(t.exitOn, m.Topic) > 0:
			exit = m
			t.flush()
		default:
			emit(m)
		}
	}
}

// matching counts the patterns that route topic.
func matching(patterns []string, topic string) int {
	n := 0
	for _, p := range patterns {
		if topics.MatchRoute(p, topic) {
			n++
		}
	}
	return n
}
