package bus

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
)

// recordingRemote is a Remote that records the bus's calls (the cluster package has the real
// one; these tests pin the hook's contract).
type recordingRemote struct {
	mu        sync.Mutex
	forwarded []*Message
	subs      map[string]int
	fail      error
	fenced    uuid.UUID // Admit refuses this source
}

func (r *recordingRemote) Admit(src uuid.UUID) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.fenced == uuid.Nil || src != r.fenced
}

func (r *recordingRemote) Forward(m *Message) {
	r.mu.Lock()
	defer r.mu.Unlock()
	m.Retain() // kept past the call (Remote.Forward lends the message)
	r.forwarded = append(r.forwarded, m)
}

func (r *recordingRemote) Subscribed(_ context.Context, p string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.subs[p]++
	return r.fail
}

func (r *recordingRemote) Unsubscribed(p string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.subs[p]--
}

func TestRemoteHook(t *testing.T) {
	rr := &recordingRemote{subs: map[string]int{}}
	b := newBus(t, Options{Remote: rr})
	ctx := t.Context()
	sub, err := b.Subscribe(ctx, "a.*", SubscribeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if rr.subs["a.*"] != 1 {
		t.Fatalf("Subscribed calls %v", rr.subs)
	}
	res, err := b.Publish("a.b", []byte(`1`), uuid.Nil, System())
	if err != nil {
		t.Fatal(err)
	}
	remote := &Message{Seq: 77, Time: time.Unix(5, 6), Topic: "a.c", Payload: []byte(`2`), Source: uuid.New(), Principal: Claimed("bob")}
	if n := b.Inject(remote); n != 1 {
		t.Fatalf("Inject matched %d", n)
	}
	if n := b.Inject(&Message{Topic: "a..b"}); n != 0 {
		t.Fatal("an invalid injected topic was delivered")
	}
	if n := b.Lag("a.x", 3); n != 1 {
		t.Fatalf("Lag charged %d", n)
	}
	got := sub.Mailbox().Drain(nil, 1<<20, func(*Message) bool { return true })
	if len(got.Messages) != 1 || got.Messages[0] != res.Message || got.Lagged != 3 {
		t.Fatalf("first batch %+v", got)
	}
	got = sub.Mailbox().Drain(nil, 1<<20, func(*Message) bool { return true })
	if len(got.Messages) != 1 || got.Messages[0] != remote || got.Messages[0].Seq != 77 || got.Lagged != 0 {
		t.Fatalf("second batch %+v", got)
	}
	if st := sub.Mailbox().Stats(); st.Lagged != 3 {
		t.Fatalf("stats %+v", st)
	}
	if len(rr.forwarded) != 1 || rr.forwarded[0] != res.Message {
		t.Fatalf("forwarded %d messages; injected ones must not be forwarded", len(rr.forwarded))
	}
	if st := b.Stats(); st.Published != 1 || st.Injected != 1 {
		t.Fatalf("bus stats %+v", st)
	}
	if err := sub.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if rr.subs["a.*"] != 0 {
		t.Fatalf("after Close %v", rr.subs)
	}
	// A failing Subscribed fails Subscribe, and is still balanced by one Unsubscribed.
	rr.fail = errors.New("no quorum")
	if _, err := b.Subscribe(ctx, "z", SubscribeOptions{}); !errors.Is(err, rr.fail) {
		t.Fatalf("err %v", err)
	}
	if rr.subs["z"] != 0 || b.Stats().Subscriptions != 0 {
		t.Fatalf("after failed subscribe %v, %d subscriptions", rr.subs, b.Stats().Subscriptions)
	}
}

// TestRemoteAdmitFences: a publisher the Remote refuses gets ErrFenced, and its message reaches
// no local subscription and is not forwarded; other publishers are unaffected.
func TestRemoteAdmitFences(t *testing.T) {
	rr := &recordingRemote{subs: map[string]int{}, fenced: uuid.New()}
	b := newBus(t, Options{Remote: rr})
	sub, err := b.Subscribe(t.Context(), "f.*", SubscribeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close(t.Context())
	if _, err := b.Publish("f.x", []byte(`"stale"`), rr.fenced, System()); !errors.Is(err, ErrFenced) {
		t.Fatalf("Bus.Publish of a fenced source: %v, want ErrFenced", err)
	}
	if _, err := b.NewPublisher().Publish("f.x", []byte(`"stale"`), rr.fenced, System()); !errors.Is(err, ErrFenced) {
		t.Fatalf("Publisher.Publish of a fenced source: %v, want ErrFenced", err)
	}
	if _, err := b.Publish("f.x", []byte(`"ok"`), uuid.New(), System()); err != nil {
		t.Fatal(err)
	}
	batch := sub.Mailbox().Drain(nil, 1<<20, func(*Message) bool { return true })
	if len(batch.Messages) != 1 || string(batch.Messages[0].Payload) != `"ok"` {
		t.Fatalf("delivered %d messages (%v), want only the unfenced one", len(batch.Messages), batch.Messages)
	}
	rr.mu.Lock()
	defer rr.mu.Unlock()
	if len(rr.forwarded) != 1 || string(rr.forwarded[0].Payload) != `"ok"` {
		t.Fatalf("forwarded %d messages, want only the unfenced one", len(rr.forwarded))
	}
}
