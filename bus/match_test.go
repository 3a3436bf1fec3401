package bus

import (
	"context"
	"fmt"
	"testing"

	"github.com/google/uuid"
)

// TestPublisherCacheFollowsChanges publishes through one Publisher, and through the Bus, on
// more topics than the cache holds, while subscriptions come and go: every publish reaches
// exactly the subscriptions live at that moment.
func TestPublisherCacheFollowsChanges(t *testing.T) {
	b := newBus(t, Options{})
	p := b.NewPublisher()
	topics := make([]string, l1Size+3)
	for i := range topics {
		topics[i] = fmt.Sprintf("c.t%d", i)
	}
	type live struct {
		s       *Subscription
		pattern string
		want    int
	}
	var subs []*live
	publish := func(via string, topic string) {
		t.Helper()
		var res PublishResult
		var err error
		if via == "publisher" {
			res, err = p.Publish(topic, []byte(`1`), uuid.Nil, System())
		} else {
			res, err = b.Publish(topic, []byte(`1`), uuid.Nil, System())
		}
		if err != nil {
			t.Fatal(err)
		}
		want := 0
		for _, l := range subs {
			if l.pattern == "c.*" || l.pattern == topic {
				l.want++
				want++
			}
		}
		if res.Matched != want {
			t.Fatalf("%s: publish %q matched %d, want %d", via, topic, res.Matched, want)
		}
	}
	for round := range 30 {
		for i, topic := range topics {
			publish([]string{"publisher", "bus"}[(round+i)%2], topic)
		}
		switch round % 3 {
		case 0, 1:
			pattern := topics[round%len(topics)]
			if round%2 == 0 {
				pattern = "c.*"
			}
			subs = append(subs, &live{s: subscribe(t, b, pattern), pattern: pattern})
		default:
			l := subs[0]
			subs = subs[1:]
			if got := len(drainAll(l.s)); got != l.want {
				t.Fatalf("closed subscription %q got %d messages, want %d", l.pattern, got, l.want)
			}
			if err := l.s.Close(context.Background()); err != nil {
				t.Fatal(err)
			}
		}
	}
	for _, l := range subs {
		if got := len(drainAll(l.s)); got != l.want {
			t.Errorf("subscription %q got %d messages, want %d", l.pattern, got, l.want)
		}
	}
}

// TestPublishOnOnePatternWithManySubscribers checks delivery to thousands of subscriptions
// on one pattern while half of them are closed: each live one gets every message once.
func TestPublishOnOnePatternWithManySubscribers(t *testing.T) {
	b := newBus(t, Options{})
	n := 2000
	subs := make([]*Subscription, n)
	for i := range subs {
		subs[i] = subscribe(t, b, "many.x")
	}
	for i := 0; i < n; i += 2 {
		if err := subs[i].Close(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	for range 3 {
		res, err := b.Publish("many.x", []byte(`{}`), uuid.Nil, System())
		if err != nil {
			t.Fatal(err)
		}
		if res.Matched != n/2 {
			t.Fatalf("matched %d, want %d", res.Matched, n/2)
		}
	}
	for i := 1; i < n; i += 2 {
		if got := len(drainAll(subs[i])); got != 3 {
			t.Fatalf("subscription %d got %d messages, want 3", i, got)
		}
	}
}

// TestMatchCachesArePerBus publishes on two buses whose tables have the same generation and
// topic: each publish reaches its own bus's subscription only (a cache shared between buses
// once sent messages to the other bus's mailbox).
func TestMatchCachesArePerBus(t *testing.T) {
	b1, b2 := newBus(t, Options{}), newBus(t, Options{})
	s1, s2 := subscribe(t, b1, "same.t"), subscribe(t, b2, "same.t")
	for range 10 {
		for _, b := range []*Bus{b1, b2} {
			if _, err := b.Publish("same.t", []byte(`1`), uuid.Nil, System()); err != nil {
				t.Fatal(err)
			}
		}
	}
	if n1, n2 := len(drainAll(s1)), len(drainAll(s2)); n1 != 10 || n2 != 10 {
		t.Fatalf("got %d and %d messages, want 10 each", n1, n2)
	}
}
