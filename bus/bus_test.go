package bus

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/google/uuid"
	"go.uber.org/goleak"

	"github.com/astrid-actors/astrid-actors/internal/actorsys"
	"github.com/astrid-actors/astrid-actors/internal/leakcheck"
	"github.com/astrid-actors/astrid-actors/topics"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, leakcheck.Options()...)
}

func newBus(t testing.TB, opts Options) *Bus {
	t.Helper()
	system := actorsys.New(nil)
	b, err := New(system, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := b.Close(ctx); err != nil {
			t.Errorf("close bus: %v", err)
		}
		system.Shutdown()
	})
	return b
}

func subscribe(t testing.TB, b *Bus, pattern string) *Subscription {
	t.Helper()
	s, err := b.Subscribe(context.Background(), pattern, SubscribeOptions{})
	if err != nil {
		t.Fatalf("subscribe %q: %v", pattern, err)
	}
	return s
}

func drainAll(s *Subscription) []*Message {
	var out []*Message
	for {
		b := s.Mailbox().Drain(nil, 1<<20, takeAll)
		if len(b.Messages) == 0 {
			return out
		}
		out = append(out, b.Messages...)
	}
}

func topicsOf(ms []*Message) []string {
	out := make([]string, len(ms))
	for i, m := range ms {
		out[i] = m.Topic
	}
	return out
}

func TestPublishRoutesByPattern(t *testing.T) {
	b := newBus(t, Options{})
	exact := subscribe(t, b, "a.b")
	subtree := subscribe(t, b, "a.*")
	middle := subscribe(t, b, "a.*.c")
	other := subscribe(t, b, "x")
	src := uuid.New()
	for _, topic := range []string{"a.b", "a.b.c", "a.z.c", "a", "x", "a.b.c.d"} {
		if _, err := b.Publish(topic, []byte(`{}`), src, Verified("alice")); err != nil {
			t.Fatalf("publish %q: %v", topic, err)
		}
	}
	tests := []struct {
		sub  *Subscription
		want string
	}{
		{exact, "[a.b]"},
		{subtree, "[a.b a.b.c a.z.c a.b.c.d]"},
		{middle, "[a.b.c a.z.c]"},
		{other, "[x]"},
	}
	for _, tt := range tests {
		got := drainAll(tt.sub)
		if fmt.Sprint(topicsOf(got)) != tt.want {
			t.Errorf("%s got %v, want %s", tt.sub.Pattern(), topicsOf(got), tt.want)
		}
		for _, m := range got {
			if m.Source != src || m.Principal != Verified("alice") || m.Time.IsZero() || m.Seq == 0 {
				t.Errorf("message attribution lost: %+v", m)
			}
		}
	}
}

func TestOverlappingSubscriptionsEachGetACopy(t *testing.T) {
	b := newBus(t, Options{})
	s1, s2 := subscribe(t, b, "a.*"), subscribe(t, b, "a.*")
	res, err := b.Publish("a.b", []byte(`1`), uuid.Nil, System())
	if err != nil || res.Matched != 2 {
		t.Fatalf("publish = %+v, %v", res, err)
	}
	if len(drainAll(s1)) != 1 || len(drainAll(s2)) != 1 {
		t.Fatal("each overlapping subscription must receive the message")
	}
}

func TestSubscriptionSeesOnlyLaterMessages(t *testing.T) {
	b := newBus(t, Options{})
	if _, err := b.Publish("a", []byte(`1`), uuid.Nil, System()); err != nil {
		t.Fatal(err)
	}
	s := subscribe(t, b, "a")
	if _, err := b.Publish("a", []byte(`2`), uuid.Nil, System()); err != nil {
		t.Fatal(err)
	}
	got := drainAll(s)
	if len(got) != 1 || string(got[0].Payload) != "2" {
		t.Fatalf("got %v", got)
	}
}

func TestSeqIsStrictlyIncreasing(t *testing.T) {
	b := newBus(t, Options{})
	s := subscribe(t, b, "a")
	for range 100 {
		if _, err := b.Publish("a", []byte(`1`), uuid.Nil, System()); err != nil {
			t.Fatal(err)
		}
	}
	var last uint64
	for _, m := range drainAll(s) {
		if m.Seq <= last {
			t.Fatalf("seq %d after %d", m.Seq, last)
		}
		last = m.Seq
	}
}

func TestPublishRejectsBadInput(t *testing.T) {
	b := newBus(t, Options{MaxPayloadBytes: 64})
	s := subscribe(t, b, "a.*")
	tests := []struct {
		topic, payload string
		want           error
	}{
		{"", `{}`, ErrInvalidTopic},
		{"a..b", `{}`, ErrInvalidTopic},
		{"a.", `{}`, ErrInvalidTopic},
		{strings.Repeat("a", 257), `{}`, ErrInvalidTopic},
		{"a.\xff", `{}`, ErrInvalidTopic},
		{strings.Repeat("a.", 20) + "a", `{}`, ErrInvalidTopic},
		{"a.b", `{`, ErrInvalidPayload},
		{"a.b", ``, ErrInvalidPayload},
		{"a.b", `"` + strings.Repeat("x", 70) + `"`, ErrPayloadTooLarge},
	}
	// A new publisher remembers no topic, not even the empty one.
	if _, err := b.NewPublisher().Publish("", []byte(`{}`), uuid.Nil, System()); !errors.Is(err, ErrInvalidTopic) {
		t.Errorf("new Publisher: Publish(\"\") = %v, want ErrInvalidTopic", err)
	}
	// Through the bus and through a Publisher, each bad publish right after a good one (whose
	// topic the publisher then remembers as valid) and again after itself.
	p := b.NewPublisher()
	for name, publish := range map[string]func(string, []byte, uuid.UUID, Principal) (PublishResult, error){
		"Bus": b.Publish, "Publisher": p.Publish,
	} {
		for _, tt := range tests {
			if _, err := publish("z", []byte(`{}`), uuid.Nil, System()); err != nil {
				t.Fatalf("%s: good publish: %v", name, err)
			}
			for range 2 {
				_, err := publish(tt.topic, []byte(tt.payload), uuid.Nil, System())
				if !errors.Is(err, tt.want) {
					t.Errorf("%s.Publish(%q, %q) = %v, want %v", name, tt.topic, tt.payload, err, tt.want)
				}
			}
		}
	}
	if n := s.Mailbox().Stats().Offered; n != 0 {
		t.Fatalf("rejected publishes reached a mailbox: %d", n)
	}
	for _, p := range []string{"", "a..b", ".", strings.Repeat("x", 300)} {
		if _, err := b.Subscribe(context.Background(), p, SubscribeOptions{}); !errors.Is(err, ErrInvalidPattern) {
			t.Errorf("Subscribe(%q) = %v, want ErrInvalidPattern", p, err)
		}
	}
}

func TestUnsubscribeDiscardsAndCounts(t *testing.T) {
	b := newBus(t, Options{})
	s := subscribe(t, b, "a")
	for range 3 {
		if _, err := b.Publish("a", []byte(`1`), uuid.Nil, System()); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(context.Background()); err != nil {
		t.Fatalf("second close: %v", err)
	}
	res, err := b.Publish("a", []byte(`1`), uuid.Nil, System())
	if err != nil || res.Matched != 0 {
		t.Fatalf("publish after unsubscribe = %+v, %v", res, err)
	}
	if st := s.Mailbox().Stats(); st.Discarded != 3 || st.Queued != 0 {
		t.Fatalf("stats = %+v", st)
	}
	if got := b.Stats().Subscriptions; got != 0 {
		t.Fatalf("%d subscriptions left", got)
	}
}

func TestCloseStopsEverything(t *testing.T) {
	system := actorsys.New(nil)
	defer system.Shutdown()
	b, err := New(system, Options{})
	if err != nil {
		t.Fatal(err)
	}
	s := subscribe(t, b, "a")
	if _, err := b.Publish("a", []byte(`1`), uuid.Nil, System()); err != nil {
		t.Fatal(err)
	}
	waitErr := make(chan error, 1)
	go func() {
		drainAll(s)
		_, err := s.Mailbox().Wait(context.Background(), time.Minute)
		waitErr <- err
	}()
	if err := b.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := <-waitErr; !errors.Is(err, ErrClosed) {
		t.Fatalf("waiter got %v, want ErrClosed", err)
	}
	if _, err := b.Publish("a", []byte(`1`), uuid.Nil, System()); !errors.Is(err, ErrClosed) {
		t.Fatalf("publish after close = %v", err)
	}
	if _, err := b.Subscribe(context.Background(), "a", SubscribeOptions{}); !errors.Is(err, ErrClosed) {
		t.Fatalf("subscribe after close = %v", err)
	}
	if err := s.Close(context.Background()); err != nil {
		t.Fatalf("subscription close after bus close = %v", err)
	}
}

// TestReconciliation is the property the bus promises: with many publishers and subscribers,
// random patterns and slow consumers, every subscription's delivered + dropped equals the
// number of published messages its pattern matches.
func TestReconciliation(t *testing.T) {
	for seed := uint64(1); seed <= 3; seed++ {
		t.Run(fmt.Sprint("seed", seed), func(t *testing.T) { reconcile(t, seed) })
	}
}

func reconcile(t *testing.T, seed uint64) {
	rng := rand.New(rand.NewPCG(seed, 42))
	segs := []string{"a", "b", "c"}
	randTopic := func(r *rand.Rand) string {
		n := 1 + r.IntN(4)
		parts := make([]string, n)
		for i := range parts {
			parts[i] = segs[r.IntN(len(segs))]
		}
		return strings.Join(parts, ".")
	}
	randPattern := func(r *rand.Rand) string {
		p := strings.Split(randTopic(r), ".")
		for i := range p {
			if r.IntN(4) == 0 {
				p[i] = "*"
			}
		}
		return strings.Join(p, ".")
	}
	b := newBus(t, Options{Mailbox: MailboxLimits{Bytes: 4 << 10, PerPrincipal: 32}})
	const nSubs, nPubs, perPub = 24, 6, 1500
	subs := make([]*Subscription, nSubs)
	for i := range subs {
		subs[i] = subscribe(t, b, randPattern(rng))
	}
	principals := []Principal{System(), Verified("alice"), Verified("bob"), Claimed("carol")}

	var (
		wg        sync.WaitGroup
		mu        sync.Mutex
		published []string
	)
	stop := make(chan struct{})
	delivered := make([]int, nSubs)
	var consumers sync.WaitGroup
	for i, s := range subs {
		consumers.Add(1)
		slow := i%3 == 0
		go func() {
			defer consumers.Done()
			seen := map[uint64]bool{}
			for {
				batch := s.Mailbox().Drain(nil, 1+rng2(i)%2048, takeAll)
				for _, m := range batch.Messages {
					if seen[m.Seq] {
						t.Errorf("subscription %d got seq %d twice", i, m.Seq)
					}
					seen[m.Seq] = true
					if !topics.MatchRoute(s.Pattern(), m.Topic) {
						t.Errorf("subscription %q got %q", s.Pattern(), m.Topic)
					}
				}
				delivered[i] += len(batch.Messages)
				if len(batch.Messages) == 0 {
					select {
					case <-stop:
						if s.Mailbox().Len() == 0 {
							return
						}
					default:
						_, _ = s.Mailbox().Wait(context.Background(), time.Millisecond)
					}
				} else if slow {
					time.Sleep(50 * time.Microsecond)
				}
			}
		}()
	}
	for p := range nPubs {
		wg.Add(1)
		r := rand.New(rand.NewPCG(seed, uint64(p)))
		go func() {
			defer wg.Done()
			local := make([]string, 0, perPub)
			for range perPub {
				topic := randTopic(r)
				payload := []byte(fmt.Sprintf(`{"n":%d,"pad":"%s"}`, r.IntN(1000), strings.Repeat("x", r.IntN(200))))
				if _, err := b.Publish(topic, payload, uuid.Nil, principals[r.IntN(len(principals))]); err != nil {
					t.Errorf("publish: %v", err)
					return
				}
				local = append(local, topic)
			}
			mu.Lock()
			published = append(published, local...)
			mu.Unlock()
		}()
	}
	wg.Wait()
	close(stop)
	consumers.Wait()

	totalDropped := uint64(0)
	for i, s := range subs {
		matching := 0
		for _, topic := range published {
			if topics.MatchRoute(s.Pattern(), topic) {
				matching++
			}
		}
		st := s.Mailbox().Stats()
		totalDropped += st.Dropped()
		if uint64(delivered[i])+st.Dropped() != uint64(matching) || st.Offered != uint64(matching) {
			t.Errorf("subscription %q: delivered %d + dropped %d != matching %d (offered %d)",
				s.Pattern(), delivered[i], st.Dropped(), matching, st.Offered)
		}
	}
	if totalDropped == 0 {
		t.Error("no message was dropped: the test no longer exercises eviction")
	}
	t.Logf("published %d, dropped %d across %d subscriptions", len(published), totalDropped, nSubs)
}

// rng2 gives each consumer its own deterministic budget without sharing a rand.Rand.
func rng2(i int) int { return (i*7919 + 13) % 4096 }

// TestConcurrentSubscribeWhilePublishing hammers the router's table while publishers run.
func TestConcurrentSubscribeWhilePublishing(t *testing.T) {
	b := newBus(t, Options{})
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				if _, err := b.Publish("h.x.y", []byte(`{}`), uuid.Nil, System()); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	for i := range 200 {
		s := subscribe(t, b, []string{"h.*", "h.x.y", "h.*.y"}[i%3])
		if i%2 == 0 {
			if err := s.Close(context.Background()); err != nil {
				t.Fatal(err)
			}
		}
	}
	close(stop)
	wg.Wait()
	if got := b.Stats().Subscriptions; got != 100 {
		t.Fatalf("%d subscriptions, want 100", got)
	}
}

var _ actor.Actor = (*routerActor)(nil)

func TestTapSeesEveryAcceptedMessage(t *testing.T) {
	b := newBus(t, Options{})
	var seen []string
	untap := b.Tap(func(m *Message) { seen = append(seen, m.Topic) })
	for _, topic := range []string{"a", "b.c", "bad..topic"} {
		_, _ = b.Publish(topic, []byte(`1`), uuid.Nil, System())
	}
	untap()
	_, _ = b.Publish("d", []byte(`1`), uuid.Nil, System())
	if fmt.Sprint(seen) != "[a b.c]" {
		t.Fatalf("tap saw %v, want [a b.c]", seen)
	}
}

func TestPublishCopiesItsPayload(t *testing.T) {
	b := newBus(t, Options{})
	s := subscribe(t, b, "c")
	for _, n := range []int{2, 64, 65, 256, 1000, 1024, 1025, 5000} {
		payload := []byte(`"` + strings.Repeat("x", n-2) + `"`)
		if _, err := b.Publish("c", payload, uuid.Nil, System()); err != nil {
			t.Fatal(err)
		}
		want := string(payload)
		clear(payload) // the caller reuses its buffer
		got := drainAll(s)
		if len(got) != 1 || string(got[0].Payload) != want || cap(got[0].Payload) != n {
			t.Fatalf("size %d: got %d messages, payload ok %v, cap %d", n, len(got), len(got) == 1 && string(got[0].Payload) == want, cap(got[0].Payload))
		}
	}
	if _, err := b.Publish("c", []byte(`{`), uuid.Nil, System()); !errors.Is(err, ErrInvalidPayload) {
		t.Fatalf("invalid payload: %v", err)
	}
}
