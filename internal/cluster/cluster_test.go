package cluster

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"go.uber.org/goleak"

	"github.com/astrid-actors/astrid-actors/bus"
	"github.com/astrid-actors/astrid-actors/internal/leakcheck"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, leakcheck.Options()...)
}

func TestToken(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"node1", "node1"},
		{"a.b", "a%2Eb"},
		{"*", "%2A"},
		{">", "%3E"},
		{"a b\tc", "a%20b%09c"},
		{"100%", "100%25"},
		{"%2E", "%252E"},
		{"ünï", "ünï"},
		{"\x00\x7f", "%00%7F"},
		{"", "%"},
	} {
		got := Token(tc.in)
		if got != tc.want {
			t.Errorf("Token(%q) = %q, want %q", tc.in, got, tc.want)
		}
		if strings.ContainsAny(got, ".*> \t\r\n") {
			t.Errorf("Token(%q) = %q holds a subject metacharacter", tc.in, got)
		}
	}
	// Injective over a set of confusable inputs.
	seen := map[string]string{}
	for _, in := range []string{"a.b", "a%2Eb", "a%252Eb", "a*", "a%2A", "", "%", "%25", " ", "%20"} {
		tok := Token(in)
		if prev, ok := seen[tok]; ok {
			t.Fatalf("Token(%q) == Token(%q) == %q", in, prev, tok)
		}
		seen[tok] = in
	}
}

func msg(topic string, seq uint64, payload string) *bus.Message {
	return &bus.Message{Seq: seq, Time: time.Unix(1700000000, 123456789), Topic: topic, Payload: []byte(payload),
		Source: uuid.New(), Principal: bus.Claimed("p-" + topic)}
}

func TestFrameRoundTrip(t *testing.T) {
	f := &Frame{From: "n1", Session: 42, First: 7,
		Losses:   []Loss{{Topic: "a.b", Count: 3}},
		Messages: []*bus.Message{msg("a.b", 1, `{"x":1}`), msg("c", 2, `[]`), {Topic: "s", Payload: []byte(`1`), Principal: bus.System()}},
		Fences:   []Fence{{Index: 1, Key: "c_ping", Token: 12}, {Index: 2, Key: "c_pong", Token: 1 << 40}}}
	f.Messages[2].Time = time.Unix(0, 0)
	got, err := DecodeFrame(AppendFrame(nil, f))
	if err != nil {
		t.Fatal(err)
	}
	if got.From != f.From || got.Session != f.Session || got.First != f.First || len(got.Losses) != 1 || got.Losses[0] != f.Losses[0] {
		t.Fatalf("header %+v, want %+v", got, f)
	}
	if !slices.Equal(got.Fences, f.Fences) {
		t.Fatalf("fences %+v, want %+v", got.Fences, f.Fences)
	}
	for i, m := range f.Messages {
		g := got.Messages[i]
		if g.Seq != m.Seq || !g.Time.Equal(m.Time) || g.Topic != m.Topic || string(g.Payload) != string(m.Payload) ||
			g.Source != m.Source || g.Principal != m.Principal {
			t.Fatalf("message %d: %+v, want %+v", i, g, m)
		}
	}
	a := &Ack{From: "n2", Session: 42, Through: 9, Missing: []Range{{3, 4}}}
	ga, err := DecodeAck(AppendAck(nil, a))
	if err != nil || ga.From != a.From || ga.Session != a.Session || ga.Through != a.Through || len(ga.Missing) != 1 || ga.Missing[0] != a.Missing[0] {
		t.Fatalf("ack %+v %v, want %+v", ga, err, a)
	}
}

func TestDecodeRejectsGarbage(t *testing.T) {
	good := AppendFrame(nil, &Frame{From: "n1", Session: 1, First: 1, Messages: []*bus.Message{msg("a", 1, `1`)}})
	cases := map[string][]byte{
		"empty":     nil,
		"version":   append([]byte{9}, good[1:]...),
		"kind":      append([]byte{wireVersion, kindAck}, good[2:]...),
		"truncated": good[:len(good)-1],
		"trailing":  append(append([]byte(nil), good...), 0),
		"count":     AppendFrame(nil, &Frame{From: "n1"})[:len(AppendFrame(nil, &Frame{From: "n1"}))-4],
	}
	cases["fence index"] = AppendFrame(nil, &Frame{From: "n1", Session: 1, First: 1, Messages: []*bus.Message{msg("a", 1, `1`)},
		Fences: []Fence{{Index: 1, Key: "k", Token: 1}}})
	huge := AppendFrame(nil, &Frame{From: "n1"})
	huge = append(huge[:len(huge)-4], 0xff, 0xff, 0xff, 0x7f)
	cases["huge count"] = huge
	for name, b := range cases {
		if _, err := DecodeFrame(b); !errors.Is(err, ErrBadFrame) {
			t.Errorf("%s: err %v, want ErrBadFrame", name, err)
		}
	}
	if _, err := DecodeAck([]byte{wireVersion, kindAck, 0}); !errors.Is(err, ErrBadFrame) {
		t.Errorf("ack: err %v", err)
	}
}

// checkBalance asserts the sender's accounting identity.
func checkBalance(t *testing.T, s *Sender) SendStats {
	t.Helper()
	st := s.Stats()
	if st.Enqueued != st.Acked+st.Lost()+uint64(st.Queued+st.InFlight) {
		t.Fatalf("unbalanced: %+v", st)
	}
	return st
}

func TestSenderQueueEvictsOldestAndReports(t *testing.T) {
	s := NewSender(Limits{QueueBytes: 100})
	if s.Enqueue(msg("a", 1, "1")) {
		t.Fatal("enqueue on a closed sender counted")
	}
	s.Open(1)
	for i := range 20 {
		s.Enqueue(msg(fmt.Sprintf("t.%d", i%2), uint64(i), `"0123456789"`)) // 15 bytes each
	}
	st := checkBalance(t, s)
	if st.Queued != 6 || st.LostQueued != 14 || st.QueuedBytes > 100 {
		t.Fatalf("stats %+v", st)
	}
	f := s.Next("n1")
	if len(f.Messages) != 6 || f.First != 1 || f.Messages[0].Seq != 14 {
		t.Fatalf("frame first %d, %d messages, oldest seq %d", f.First, len(f.Messages), f.Messages[0].Seq)
	}
	var lost uint64
	for _, l := range f.Losses {
		lost += l.Count
	}
	if lost != 14 || len(f.Losses) != 2 {
		t.Fatalf("loss report %+v", f.Losses)
	}
	if s.Next("n1") != nil {
		t.Fatal("second frame with nothing to send")
	}
	checkBalance(t, s)
}

func TestSenderWindowAckMissingClose(t *testing.T) {
	s := NewSender(Limits{WindowBytes: 40, BatchMessages: 2})
	s.Open(7)
	for i := range 10 {
		s.Enqueue(msg("w", uint64(i), `"0123456789"`)) // 11 bytes
	}
	f1 := s.Next("n1")
	f2 := s.Next("n1")
	if len(f1.Messages) != 2 || len(f2.Messages) != 1 || s.Next("n1") != nil {
		t.Fatalf("window: %d, %d", len(f1.Messages), len(f2.Messages))
	}
	// The receiver got f2 but not f1.
	var r Receiver
	msgs, ack := r.Accept(f2, "n2")
	if len(msgs) != 1 || ack.Through != 3 || len(ack.Missing) != 1 || ack.Missing[0] != (Range{1, 2}) {
		t.Fatalf("accept: %d msgs, ack %+v", len(msgs), ack)
	}
	if !s.Ack(ack) {
		t.Fatal("ack did not move the window")
	}
	st := checkBalance(t, s)
	if st.Acked != 1 || st.LostTransit != 2 {
		t.Fatalf("stats %+v", st)
	}
	f3 := s.Next("n1")
	if len(f3.Losses) != 1 || f3.Losses[0].Count != 2 || f3.First != 4 {
		t.Fatalf("frame 3 %+v", f3)
	}
	// A stale session's ack is ignored.
	if s.Ack(&Ack{Session: 6, Through: 100}) {
		t.Fatal("stale ack applied")
	}
	unacked, queued := s.Close()
	st = checkBalance(t, s)
	if unacked != uint64(len(f3.Messages)) || queued != uint64(st.Enqueued-st.Acked-st.LostTransit-unacked) || st.Queued != 0 {
		t.Fatalf("close: %d %d, %+v", unacked, queued, st)
	}
	// A new session restarts at 1 and the receiver follows.
	s.Open(8)
	s.Enqueue(msg("w", 99, `1`))
	f := s.Next("n1")
	msgs, ack = r.Accept(f, "n2")
	if f.First != 1 || len(msgs) != 1 || ack.Through != 1 || len(ack.Missing) != 0 {
		t.Fatalf("new session: first %d, %d msgs, ack %+v", f.First, len(msgs), ack)
	}
	if rs := r.Stats(); rs.Sessions != 2 || rs.Missing != 2 || rs.Received != 2 {
		t.Fatalf("receiver %+v", rs)
	}
	// A replayed frame is a duplicate.
	if msgs, _ := r.Accept(f, "n2"); len(msgs) != 0 || r.Stats().Duplicates != 1 {
		t.Fatalf("duplicate delivered")
	}
}

func TestSenderLargeMessagePassesSmallWindow(t *testing.T) {
	s := NewSender(Limits{WindowBytes: 8, BatchBytes: 8, QueueBytes: 1 << 20})
	s.Open(1)
	s.Enqueue(msg("big", 1, `"`+strings.Repeat("x", 1000)+`"`))
	if f := s.Next("n1"); f == nil || len(f.Messages) != 1 {
		t.Fatal("a message larger than the window must still be sent alone")
	}
}
