package cluster

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/astrid-actors/astrid-actors/bus"
)

// TestDecodeChunks: decoded messages are exact copies whatever the run pattern (long runs of
// one topic, alternating topics, empty and large payloads); a payload's capacity ends at its
// length, so nothing can write into a neighbour.
func TestDecodeChunks(t *testing.T) {
	var in []*bus.Message
	add := func(topic, payload string) {
		in = append(in, msg(topic, uint64(len(in)+1), payload))
	}
	for i := range 100 {
		add("run.a", fmt.Sprintf(`"%03d"`, i))
	}
	for i := range 20 {
		add([]string{"alt.x", "alt.y"}[i%2], fmt.Sprintf(`%d`, i))
	}
	for range 5 {
		add("empty", "")
	}
	for i := range 5 {
		add("big", `"`+strings.Repeat(string(rune('a'+i)), 3000)+`"`)
	}
	for i := range 40 {
		add("grow", `"`+strings.Repeat("g", i*10)+`"`)
	}
	got, err := DecodeFrame(AppendFrame(nil, &Frame{From: "n1", Session: 1, First: 1, Messages: in}))
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Messages) != len(in) {
		t.Fatalf("%d messages, want %d", len(got.Messages), len(in))
	}
	for i, m := range got.Messages {
		w := in[i]
		if m.Topic != w.Topic || string(m.Payload) != string(w.Payload) || m.Seq != w.Seq || !m.Time.Equal(w.Time) ||
			m.Source != w.Source || m.Principal != w.Principal {
			t.Fatalf("message %d: %+v, want %+v", i, m, w)
		}
		if cap(m.Payload) != len(m.Payload) {
			t.Fatalf("message %d: payload cap %d > len %d", i, cap(m.Payload), len(m.Payload))
		}
	}
	got.Messages[0].Payload[1] = 'X'
	if string(got.Messages[1].Payload) != string(in[1].Payload) {
		t.Fatal("payloads overlap")
	}
	// A frame of one topic takes about two allocations per chunk of 16, not one per message.
	one := AppendFrame(nil, &Frame{From: "n1", Session: 1, First: 1, Messages: in[:100]})
	if a := testing.AllocsPerRun(20, func() { _, _ = DecodeFrame(one) }); a > 30 {
		t.Fatalf("decoding 100 messages of one topic takes %v allocations", a)
	}
}

// TestSlabChunks: chunks hold consecutive messages of one topic, double in size along a run
// (1, 2, 4, 8, 16, 16, …), hold at most slabMessages messages and slabBytes of payload, and a
// new topic or a payload that does not fit starts a new chunk.
func TestSlabChunks(t *testing.T) {
	for _, tc := range []struct {
		name   string
		topics string // one letter per message
		size   func(i int) int
		want   []int // messages per chunk
	}{
		{"run", strings.Repeat("a", 40), func(int) int { return 8 }, []int{1, 2, 4, 8, 16, 9}},
		{"alternating", "abababab", func(int) int { return 8 }, []int{1, 1, 1, 1, 1, 1, 1, 1}},
		{"new topic restarts", "aaaabbbbb", func(int) int { return 8 }, []int{1, 2, 1, 1, 2, 2}},
		{"large payloads", "aaaaaa", func(int) int { return 3000 }, []int{1, 1, 1, 1, 1, 1}},
		{"byte bound", strings.Repeat("a", 30), func(int) int { return 1000 }, []int{1, 2, 4, 4, 4, 4, 4, 4, 3}},
		{"empty payloads", strings.Repeat("a", 20), func(int) int { return 0 }, []int{1, 2, 4, 8, 5}},
		{"growing payload", "aaaa", func(i int) int { return 10 * (i + 1) }, []int{1, 1, 2}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var s slab
			var chunks []int
			bytes := 0
			for i := range len(tc.topics) {
				p := make([]byte, tc.size(i))
				for j := range p {
					p[j] = byte(i)
				}
				prev := s.ms
				m := s.next(i > 0 && tc.topics[i] == tc.topics[i-1], p)
				if string(m.Payload) != string(p) || cap(m.Payload) != len(p) {
					t.Fatalf("message %d: payload %v", i, m.Payload)
				}
				if len(prev) > 0 && m == &prev[0] {
					chunks[len(chunks)-1]++
					bytes += len(p)
				} else {
					chunks = append(chunks, 1)
					bytes = len(p)
				}
				if n := chunks[len(chunks)-1]; n > slabMessages || (n > 1 && bytes > slabBytes) {
					t.Fatalf("chunk of %d messages, %d bytes", n, bytes)
				}
			}
			if fmt.Sprint(chunks) != fmt.Sprint(tc.want) {
				t.Fatalf("chunks %v, want %v", chunks, tc.want)
			}
		})
	}
}

// TestSenderLossRuns: evictions are reported per topic exactly, whether they come in runs of
// one topic or interleaved, across frames and after a transit loss.
func TestSenderLossRuns(t *testing.T) {
	s := NewSender(Limits{QueueBytes: 10 * 20, WindowBytes: 1 << 20})
	s.Open(1)
	// 10 messages of 20 bytes (topic 4 + payload 16) fill the queue exactly.
	payload := `"` + strings.Repeat("p", 14) + `"`
	topics := []string{"a.aa", "a.aa", "a.aa", "b.bb", "a.aa", "b.bb", "b.bb", "c.cc"}
	for range 10 {
		s.Enqueue(msg("z.zz", 0, payload))
	}
	for _, tp := range topics { // evicts 8 "z.zz"
		s.Enqueue(msg(tp, 0, payload))
	}
	for range 10 { // evicts 2 "z.zz" and the 8 of topics
		s.Enqueue(msg("y.yy", 0, payload))
	}
	want := map[string]uint64{"z.zz": 10, "a.aa": 4, "b.bb": 3, "c.cc": 1}
	f := s.Next("n1")
	got := map[string]uint64{}
	for _, l := range f.Losses {
		got[l.Topic] += l.Count
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("loss report %v, want %v", got, want)
	}
	if st := s.Stats(); st.LostQueued != 18 || st.Enqueued != 28 || st.Enqueued != st.Acked+st.Lost()+uint64(st.Queued+st.InFlight) {
		t.Fatalf("stats %+v", st)
	}
	// A transit loss of the y.yy frame is reported in the next frame.
	if !s.Ack(&Ack{Session: 1, Through: f.First + uint64(len(f.Messages)) - 1, Missing: []Range{{From: f.First, To: f.First + 1}}}) {
		t.Fatal("ack did not move the window")
	}
	f2 := s.Next("n1")
	if f2 == nil || len(f2.Messages) != 0 || len(f2.Losses) != 1 || f2.Losses[0] != (Loss{Topic: "y.yy", Count: 2}) {
		t.Fatalf("second frame %+v", f2)
	}
	if s.Next("n1") != nil {
		t.Fatal("a loss was reported twice")
	}
}

// TestLimitsDefaults: zero limits take the documented defaults and BatchBytes is capped so a
// frame always fits the nodes' NATS payload limit.
func TestLimitsDefaults(t *testing.T) {
	l := Limits{}.WithDefaults()
	if l.QueueBytes != 8<<20 || l.WindowBytes != 4<<20 || l.BatchMessages != 1024 || l.BatchBytes != 256<<10 {
		t.Fatalf("defaults %+v", l)
	}
	if l := (Limits{BatchBytes: 1 << 30}).WithDefaults(); l.BatchBytes != MaxBatchBytes {
		t.Fatalf("BatchBytes not capped: %+v", l)
	}
}

// BenchmarkDecodeFrame decodes a full default frame of 128-byte messages on one topic; allocs/op
// shows the chunking (about 2 per 16 messages instead of 1 per message).
func BenchmarkDecodeFrame(b *testing.B) {
	var ms []*bus.Message
	for i := range DefaultBatchMessages {
		ms = append(ms, msg("bench.t", uint64(i), `"`+strings.Repeat("x", 126)+`"`))
	}
	buf := AppendFrame(nil, &Frame{From: "n1", Session: 1, First: 1, Messages: ms})
	b.SetBytes(int64(len(buf)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := DecodeFrame(buf); err != nil {
			b.Fatal(err)
		}
	}
}

// TestFrameCompactEncoding: fields equal to the previous message's are left out and sequence
// numbers and times travel as deltas, in both directions (concurrent publishers may enqueue
// out of sequence order), so a run of one topic costs little more than its payloads; every
// combination of repeated and changed fields round-trips.
func TestFrameCompactEncoding(t *testing.T) {
	base := msg("bench.data", 1000, `"`+strings.Repeat("x", 126)+`"`)
	var run []*bus.Message
	for i := range 100 {
		m := *base
		m.Seq = base.Seq + uint64(i)
		m.Time = base.Time.Add(time.Duration(i) * 300 * time.Nanosecond)
		run = append(run, &m)
	}
	b := AppendFrame(nil, &Frame{From: "n1", Session: 1, First: 1, Messages: run})
	if per := len(b) / len(run); per > len(base.Payload)+10 {
		t.Fatalf("%d bytes per message of a %d-byte payload", per, len(base.Payload))
	}
	other := uuid.New()
	mixed := []*bus.Message{
		{Seq: 10, Time: time.Unix(5, 0), Topic: "a", Payload: []byte(`1`), Source: other, Principal: bus.Verified("v")},
		{Seq: 8, Time: time.Unix(4, 0), Topic: "a", Payload: []byte(`2`), Source: other, Principal: bus.Claimed("v")},
		{Seq: 9, Time: time.Unix(6, 0), Topic: "b", Payload: []byte(`3`), Principal: bus.Claimed("v")},
		{Seq: 1 << 62, Time: time.Unix(0, 0), Topic: "b", Payload: []byte(``), Principal: bus.System()},
		{Seq: 0, Time: time.Unix(1<<33, 999), Topic: "a", Payload: []byte(`[]`), Source: other, Principal: bus.System()},
		{Seq: 3, Time: time.Time{}, Topic: "a", Payload: []byte(`4`), Source: other, Principal: bus.System()},
	}
	got, err := DecodeFrame(AppendFrame(nil, &Frame{From: "n1", Session: 1, First: 1, Messages: mixed}))
	if err != nil {
		t.Fatal(err)
	}
	for i, m := range mixed {
		g := got.Messages[i]
		want := m.Time
		if m.Time.IsZero() {
			want = time.Unix(0, 0) // not representable in Unix nanoseconds: the epoch, as before
		}
		if g.Seq != m.Seq || !g.Time.Equal(want) || g.Topic != m.Topic || string(g.Payload) != string(m.Payload) ||
			g.Source != m.Source || g.Principal != m.Principal {
			t.Fatalf("message %d: %+v, want %+v", i, g, m)
		}
	}
	one := AppendFrame(nil, &Frame{From: "n1", Session: 1, First: 1, Messages: []*bus.Message{base}})
	at := len(one) - 4 - (1 + 2 + 9 + 16 + 1 + 2 + len(base.Principal.ID) + 2 + len(base.Topic) + 2 + len(base.Payload)) // the flags byte
	if one[at] != 0 {
		t.Fatalf("flags byte of the first message is %#x: offsets changed", one[at])
	}
	for name, b := range map[string][]byte{
		"first repeats": func() []byte { c := slices.Clone(one); c[at] = sameTopic; return c }(),
		"unknown flag":  func() []byte { c := slices.Clone(one); c[at] = 0x80; return c }(),
		"bad varint": func() []byte {
			c := slices.Clone(one[:at+1])
			return append(c, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff)
		}(),
		"payload length": func() []byte {
			c := slices.Clone(one[:len(one)-4-len(base.Payload)-2])
			return append(c, 0xff, 0xff, 0xff, 0x0f, 0, 0, 0, 0)
		}(),
	} {
		if _, err := DecodeFrame(b); !errors.Is(err, ErrBadFrame) {
			t.Errorf("%s: err %v, want ErrBadFrame", name, err)
		}
	}
}
