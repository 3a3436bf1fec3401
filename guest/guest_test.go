package guest

import (
	"encoding/json"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/astrid-actors/astrid-actors/abi"
)

func durationOf(ns int64) time.Duration { return time.Duration(ns) }

var src = [16]byte{0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef, 0xfe, 0xdc, 0xba, 0x98, 0x76, 0x54, 0x32, 0x10}

const srcText = "01234567-89ab-cdef-fedc-ba9876543210"

// allCodes are the non-OK codes with their re-exported sentinels.
var allCodes = []struct {
	code     abi.Code
	sentinel error
}{
	{abi.CapabilityDenied, ErrCapabilityDenied}, {abi.InvalidInput, ErrInvalidInput},
	{abi.Closed, ErrClosed}, {abi.RateLimited, ErrRateLimited}, {abi.Backpressure, ErrBackpressure},
	{abi.Quota, ErrQuota}, {abi.Timeout, ErrTimeout}, {abi.Unknown, ErrUnknown},
	{abi.BufferTooSmall, ErrBufferTooSmall}, {abi.TooLarge, ErrTooLarge},
	{abi.Cancelled, ErrCancelled}, {abi.NotFound, ErrNotFound},
}

func TestPublishCodes(t *testing.T) {
	for _, tc := range allCodes {
		t.Run(tc.code.String(), func(t *testing.T) {
			h := unexpected(t)
			var gotTopic, gotPayload string
			h.publish = func(topic, payload string) abi.Code {
				gotTopic, gotPayload = topic, payload
				return tc.code
			}
			useHost(t, h)
			err := Publish("a.b", []byte(`{"x":1}`))
			if gotTopic != "a.b" || gotPayload != `{"x":1}` {
				t.Errorf("host got (%q, %q)", gotTopic, gotPayload)
			}
			if !errors.Is(err, tc.sentinel) || !errors.Is(err, tc.code) {
				t.Fatalf("err = %v, want %v", err, tc.code)
			}
			var e *Error
			if !errors.As(err, &e) || e.Func != "publish" || e.Arg != "a.b" || e.Code != tc.code {
				t.Errorf("err = %#v", err)
			}
			if got := CodeOf(err); got != tc.code {
				t.Errorf("CodeOf = %v", got)
			}
			if want := "astrid publish a.b: " + tc.code.String(); err.Error() != want {
				t.Errorf("Error() = %q, want %q", err.Error(), want)
			}
			for _, other := range allCodes {
				if other.code != tc.code && errors.Is(err, other.sentinel) {
					t.Errorf("errors.Is(err, %v) = true", other.code)
				}
			}
		})
	}
}

func TestPublishVariants(t *testing.T) {
	h := unexpected(t)
	var got []string
	h.publish = func(topic, payload string) abi.Code {
		got = append(got, topic+" "+payload)
		return abi.OK
	}
	h.publishAs = func(topic, payload, principal string) abi.Code {
		got = append(got, topic+" "+payload+" as "+principal)
		return abi.OK
	}
	useHost(t, h)
	if err := Publish("t.nil", nil); err != nil {
		t.Fatal(err)
	}
	if err := PublishJSON("t.json", map[string]any{"n": 1, "from": "pong"}); err != nil {
		t.Fatal(err)
	}
	if err := PublishAs("t.as", []byte(`"hi"`), "alice"); err != nil {
		t.Fatal(err)
	}
	want := []string{"t.nil ", `t.json {"from":"pong","n":1}`, `t.as "hi" as alice`}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("host got %q, want %q", got, want)
	}

	err := PublishJSON("t.json", make(chan int)) // not marshalable: no host call
	var ute *json.UnsupportedTypeError
	if !errors.As(err, &ute) || CodeOf(err) != abi.Unknown || len(got) != 3 {
		t.Errorf("PublishJSON(chan) = %v (code %v), host calls %d", err, CodeOf(err), len(got))
	}

	h.publishAs = func(string, string, string) abi.Code { return abi.CapabilityDenied }
	useHost(t, h)
	if err := PublishAs("t.as", []byte(`1`), "bob"); !errors.Is(err, ErrCapabilityDenied) {
		t.Errorf("PublishAs err = %v", err)
	}
}

func TestPublishBatch(t *testing.T) {
	// decode reads records as the host does (ABI §6.1).
	decode := func(b []byte) (out []string) {
		for len(b) >= abi.BatchRecordHeaderSize {
			tl, pl := int(leU32(b)), int(leU32(b[4:]))
			b = b[abi.BatchRecordHeaderSize:]
			out = append(out, string(b[:tl])+" "+string(b[tl:tl+pl]))
			b = b[tl+pl:]
		}
		if len(b) != 0 {
			out = append(out, "trailing bytes")
		}
		return out
	}
	records := []Record{{"a.1", []byte(`1`)}, {"a.2", []byte(`{"k":2}`)}, {"denied", []byte(`3`)}, {"a.4", nil}}
	tests := []struct {
		name     string
		records  []Record
		code     abi.Code
		accepted uint32
		wantN    int
		wantErr  abi.Code
		wantMsg  string
		calls    int
	}{
		{name: "all published", records: records[:2], accepted: 2, wantN: 2, calls: 1},
		{name: "none", records: nil, accepted: 0, wantN: 0, calls: 1},
		{name: "stops at a denied record", records: records, code: abi.CapabilityDenied, accepted: 2, wantN: 2,
			wantErr: abi.CapabilityDenied, wantMsg: "denied", calls: 1},
		{name: "host over-reports", records: records[:1], accepted: 7, wantN: 1, calls: 1},
		{name: "too many records", records: make([]Record, abi.MaxBatchRecords+1), wantErr: abi.TooLarge},
		{name: "too many bytes", records: []Record{{"a", make([]byte, abi.MaxBatchBytes)}}, wantErr: abi.TooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := unexpected(t)
			calls := 0
			h.batch = func(b []byte, accepted *uint32) abi.Code {
				calls++
				var want []string
				for _, r := range tt.records {
					want = append(want, r.Topic+" "+string(r.Payload))
				}
				if got := decode(b); strings.Join(got, "|") != strings.Join(want, "|") {
					t.Errorf("host got records %q, want %q", got, want)
				}
				*accepted = tt.accepted
				return tt.code
			}
			useHost(t, h)
			n, err := PublishBatch(tt.records...)
			if n != tt.wantN || CodeOf(err) != tt.wantErr || calls != tt.calls {
				t.Fatalf("PublishBatch = %d, %v (%d host calls); want %d, %v (%d)", n, err, calls, tt.wantN, tt.wantErr, tt.calls)
			}
			if tt.wantMsg != "" && !strings.Contains(err.Error(), tt.wantMsg) {
				t.Fatalf("error %q does not name the failing record's topic %q", err, tt.wantMsg)
			}
		})
	}
}

func leU32(b []byte) uint32 {
	return uint32(b[0]) | uint32(b[1])<<8 | uint32(b[2])<<16 | uint32(b[3])<<24
}

func TestSubscribe(t *testing.T) {
	h := unexpected(t)
	h.subscribe = func(pattern string, out *uint32) abi.Code {
		if pattern == "denied.*" {
			return abi.CapabilityDenied
		}
		*out = 7
		return abi.OK
	}
	useHost(t, h)
	s, err := Subscribe("a.*")
	if err != nil || s.Handle() != 7 || s.Pattern() != "a.*" {
		t.Fatalf("Subscribe = %+v, %v", s, err)
	}
	s, err = Subscribe("denied.*")
	if s != nil || !errors.Is(err, ErrCapabilityDenied) || !strings.Contains(err.Error(), "subscribe denied.*") {
		t.Fatalf("Subscribe(denied) = %v, %v", s, err)
	}
}

// subscribed returns a Subscription with handle 3 on a fake host serving q.
func subscribed(t *testing.T, q *queue, recvCode abi.Code) *Subscription {
	t.Helper()
	h := unexpected(t)
	h.poll = func(handle uint32, buf []byte, n *uint32) abi.Code {
		if handle != 3 {
			return abi.Closed
		}
		q.calls = append(q.calls, "poll:"+itoa(len(buf)))
		return q.deliver(buf, n)
	}
	h.recv = func(handle uint32, ms int64, buf []byte, n *uint32) abi.Code {
		if handle != 3 {
			return abi.Closed
		}
		q.calls = append(q.calls, "recv:"+itoa(int(ms))+":"+itoa(len(buf)))
		if recvCode != abi.OK {
			return recvCode
		}
		return q.deliver(buf, n)
	}
	h.drop = func(handle uint32) abi.Code {
		q.calls = append(q.calls, "drop:"+itoa(int(handle)))
		return abi.OK
	}
	useHost(t, h)
	return &Subscription{handle: 3, pattern: "p.*"}
}

func itoa(n int) string { return strconv.Itoa(n) }

func TestPollDecodes(t *testing.T) {
	q := &queue{dropped: 2}
	ns := time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC).UnixNano()
	q.push("p.a", `{"n":1}`, abi.PrincipalVerified, "alice", src, 10, ns)
	q.push("p.b", `[1,2]`, abi.PrincipalClaimed, "bob", [16]byte{}, 11, ns+1)
	q.push("p.c", `null`, abi.PrincipalSystem, "", src, 12, 0)
	s := subscribed(t, q, abi.OK)

	b, err := s.Poll()
	if err != nil {
		t.Fatal(err)
	}
	if b.Dropped != 2 || b.Lagged != 0 || len(b.Messages) != 3 {
		t.Fatalf("batch = %+v", b)
	}
	m := b.Messages[0]
	if m.Topic != "p.a" || string(m.Payload) != `{"n":1}` || m.Seq != 10 || !m.Time.Equal(time.Unix(0, ns)) ||
		m.Principal != (Principal{abi.PrincipalVerified, "alice"}) || m.SourceID != src {
		t.Errorf("message 0 = %+v", m)
	}
	if got := m.SourceIDString(); got != srcText {
		t.Errorf("SourceIDString = %q, want %q", got, srcText)
	}
	var v struct{ N int }
	if err := m.Decode(&v); err != nil || v.N != 1 {
		t.Errorf("Decode = %+v, %v", v, err)
	}
	if got := b.Messages[1].Principal.String(); got != "claimed:bob" {
		t.Errorf("principal = %q", got)
	}
	if got := b.Messages[1].SourceIDString(); got != "00000000-0000-0000-0000-000000000000" {
		t.Errorf("zero source = %q", got)
	}
	if got := b.Messages[2].Principal.String(); got != "system" {
		t.Errorf("system principal = %q", got)
	}

	// The buffer is reused and the strings survive it.
	q.push("p.z", `"overwrite"`, abi.PrincipalVerified, "zed", src, 13, ns)
	b2, err := s.Poll()
	if err != nil || len(b2.Messages) != 1 || b2.Dropped != 0 {
		t.Fatalf("second poll = %+v, %v", b2, err)
	}
	if m.Topic != "p.a" || string(m.Payload) != `{"n":1}` {
		t.Errorf("first batch changed after reuse: %+v", m)
	}

	b3, err := s.Poll()
	if err != nil || len(b3.Messages) != 0 || b3.Messages != nil {
		t.Errorf("empty poll = %+v, %v", b3, err)
	}
	want := "poll:65536 poll:65536 poll:65536"
	if got := strings.Join(q.calls, " "); got != want {
		t.Errorf("calls = %s, want %s", got, want)
	}
}

func TestRecvTimeoutAndGrowth(t *testing.T) {
	q := &queue{}
	s := subscribed(t, q, abi.OK)

	b, err := s.Recv(-time.Second) // timeout with nothing queued: OK, no messages
	if err != nil || len(b.Messages) != 0 {
		t.Fatalf("Recv timeout = %+v, %v", b, err)
	}

	big := `"` + strings.Repeat("x", 100_000) + `"`
	q.push("p.big", big, abi.PrincipalVerified, "alice", src, 1, 1)
	q.push("p.small", `1`, abi.PrincipalVerified, "alice", src, 2, 2)
	b, err = s.Recv(1500 * time.Microsecond)
	if err != nil {
		t.Fatal(err)
	}
	// The big message did not fit 64 KiB: recv reported the size, the SDK grew the buffer to it
	// and retried as a poll; only the big message fits that buffer exactly.
	need := abi.EnvelopeHeaderSize + abi.MessageSize(len("p.big"), len(big), len("alice"))
	if len(b.Messages) != 1 || string(b.Messages[0].Payload) != big {
		t.Fatalf("got %d messages", len(b.Messages))
	}
	if len(s.buf) != need {
		t.Errorf("buffer = %d bytes, want %d", len(s.buf), need)
	}
	b, err = s.Recv(time.Second)
	if err != nil || len(b.Messages) != 1 || b.Messages[0].Topic != "p.small" {
		t.Fatalf("third Recv = %+v, %v", b, err)
	}
	want := "recv:0:65536 recv:2:65536 poll:" + itoa(need) + " recv:1000:" + itoa(need)
	if got := strings.Join(q.calls, " "); got != want {
		t.Errorf("calls = %s\nwant    %s", got, want)
	}
}

func TestRecvErrors(t *testing.T) {
	for _, code := range []abi.Code{abi.Cancelled, abi.Closed, abi.InvalidInput} {
		s := subscribed(t, &queue{}, code)
		_, err := s.Recv(time.Second)
		if !errors.Is(err, code) {
			t.Errorf("Recv with host %v: err = %v", code, err)
		}
		var e *Error
		if !errors.As(err, &e) || e.Func != "subscription-recv" || e.Arg != "p.*" {
			t.Errorf("err = %#v", err)
		}
	}
}

func TestTruncatedEnvelope(t *testing.T) {
	h := unexpected(t)
	h.poll = func(_ uint32, buf []byte, n *uint32) abi.Code {
		abi.PutEnvelopeHeader(buf, 1, 0, 0) // one message announced, none written
		*n = abi.EnvelopeHeaderSize
		return abi.OK
	}
	useHost(t, h)
	_, err := (&Subscription{handle: 1, pattern: "x"}).Poll()
	if !errors.Is(err, ErrTruncated) || CodeOf(err) != abi.Unknown {
		t.Errorf("err = %v", err)
	}
}

func TestClose(t *testing.T) {
	q := &queue{}
	s := subscribed(t, q, abi.OK)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); !errors.Is(err, ErrClosed) {
		t.Errorf("second Close = %v", err)
	}
	if _, err := s.Poll(); !errors.Is(err, ErrClosed) {
		t.Errorf("Poll after Close = %v", err)
	}
	if _, err := s.Recv(time.Second); !errors.Is(err, ErrClosed) {
		t.Errorf("Recv after Close = %v", err)
	}
	if _, err := Wait(time.Second, s); !errors.Is(err, ErrClosed) {
		t.Errorf("Wait after Close = %v", err)
	}
	if got := strings.Join(q.calls, " "); got != "drop:3" {
		t.Errorf("host calls = %s, want one drop", got)
	}
}

func TestWait(t *testing.T) {
	a, b, c := &Subscription{handle: 1}, &Subscription{handle: 2}, &Subscription{handle: 3}
	tests := []struct {
		name    string
		subs    []*Subscription
		ready   []uint32
		code    abi.Code
		want    []*Subscription
		wantErr abi.Code
		calls   int
	}{
		{name: "one ready", subs: []*Subscription{a, b, c}, ready: []uint32{2}, want: []*Subscription{b}, calls: 1},
		{name: "order of subs", subs: []*Subscription{a, b, c}, ready: []uint32{3, 1}, want: []*Subscription{a, c}, calls: 1},
		{name: "timeout", subs: []*Subscription{a}, ready: nil, want: nil, calls: 1},
		{name: "duplicates once", subs: []*Subscription{a, a}, ready: []uint32{1, 1}, want: []*Subscription{a}, calls: 1},
		{name: "unknown handle ignored", subs: []*Subscription{a}, ready: []uint32{9}, want: nil, calls: 1},
		{name: "cancelled", subs: []*Subscription{a}, code: abi.Cancelled, wantErr: abi.Cancelled, calls: 1},
		{name: "no subs", subs: nil, wantErr: abi.InvalidInput},
		{name: "nil sub", subs: []*Subscription{a, nil}, wantErr: abi.InvalidInput},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := unexpected(t)
			calls := 0
			h.wait = func(handles []uint32, ms int64, ready []uint32, n *uint32) abi.Code {
				calls++
				if ms != 250 || len(handles) != len(tt.subs) || len(ready) != len(tt.subs) {
					t.Errorf("wait(%v, %d, cap %d)", handles, ms, len(ready))
				}
				if tt.code != abi.OK {
					return tt.code
				}
				*n = uint32(copy(ready, tt.ready)) * abi.WaitHandleSize // bytes, as the ABI says
				return abi.OK
			}
			useHost(t, h)
			got, err := Wait(250*time.Millisecond, tt.subs...)
			if CodeOf(err) != tt.wantErr {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			if len(got) != len(tt.want) {
				t.Fatalf("ready = %v, want %v", got, tt.want)
			}
			for i := range got {
				if got[i] != tt.want[i] {
					t.Errorf("ready[%d] = %v, want %v", i, got[i], tt.want[i])
				}
			}
			if calls != tt.calls {
				t.Errorf("host calls = %d, want %d", calls, tt.calls)
			}
		})
	}
}

func TestCaller(t *testing.T) {
	tests := []struct {
		name     string
		rec      []byte
		code     abi.Code
		startCap int // if the host asks for more, the SDK must retry
		want     abi.Caller
		wantOK   bool
		wantErr  abi.Code
	}{
		{
			name: "none", rec: abi.AppendCaller(nil, abi.PrincipalSystem, "", [16]byte{}, 0),
			want: abi.Caller{}, wantOK: false,
		},
		{
			name: "verified", rec: abi.AppendCaller(nil, abi.PrincipalVerified, "alice", src, 42),
			want: abi.Caller{PrincipalKind: abi.PrincipalVerified, Principal: "alice", SourceID: src, TimeUnixNano: 42}, wantOK: true,
		},
		{
			name: "system message is still a caller", rec: abi.AppendCaller(nil, abi.PrincipalSystem, "", src, 7),
			want: abi.Caller{SourceID: src, TimeUnixNano: 7}, wantOK: true,
		},
		{
			name: "long principal needs a retry", rec: abi.AppendCaller(nil, abi.PrincipalClaimed, strings.Repeat("p", 300), src, 1),
			want: abi.Caller{PrincipalKind: abi.PrincipalClaimed, Principal: strings.Repeat("p", 300), SourceID: src, TimeUnixNano: 1}, wantOK: true,
		},
		{name: "truncated", rec: []byte{1, 0, 0}, wantErr: abi.Unknown},
		{name: "host error", code: abi.Unknown, wantErr: abi.Unknown},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := unexpected(t)
			h.caller = func(buf []byte, n *uint32) abi.Code {
				if tt.code != abi.OK {
					return tt.code
				}
				return writeResult(tt.rec, buf, n)
			}
			useHost(t, h)
			c, ok, err := Caller()
			if CodeOf(err) != tt.wantErr {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			if c != tt.want || ok != tt.wantOK {
				t.Errorf("Caller = %+v, %v; want %+v, %v", c, ok, tt.want, tt.wantOK)
			}
		})
	}
}

func TestConfig(t *testing.T) {
	long := strings.Repeat("v", 1000)
	values := map[string]string{"worker-name": "w1", "empty": "", "long": long}
	h := unexpected(t)
	h.config = func(key string, buf []byte, n *uint32) abi.Code {
		v, ok := values[key]
		if !ok {
			return abi.NotFound
		}
		return writeResult([]byte(v), buf, n)
	}
	useHost(t, h)
	tests := []struct {
		key, want string
		err       abi.Code
	}{
		{"worker-name", "w1", abi.OK}, {"empty", "", abi.OK}, {"long", long, abi.OK}, {"missing", "", abi.NotFound},
	}
	for _, tt := range tests {
		got, err := Config(tt.key)
		if got != tt.want || CodeOf(err) != tt.err {
			t.Errorf("Config(%q) = %.20q, %v; want %.20q, %v", tt.key, got, err, tt.want, tt.err)
		}
	}
	if _, err := Config("missing"); !errors.Is(err, ErrNotFound) || !strings.Contains(err.Error(), "get-config missing") {
		t.Errorf("err = %v", err)
	}
}

func TestInterceptorBindings(t *testing.T) {
	want := []abi.Binding{{HandleID: 0, Priority: 10, Action: "on_x", Topic: "x.*"}, {HandleID: 1, Priority: 100, Action: strings.Repeat("a", 5000), Topic: "y"}}
	rec := []byte{2, 0, 0, 0}
	for _, b := range want {
		rec = abi.AppendBinding(rec, b)
	}
	h := unexpected(t)
	calls := 0
	h.bindings = func(buf []byte, n *uint32) abi.Code { calls++; return writeResult(rec, buf, n) }
	useHost(t, h)
	got, err := InterceptorBindings()
	if err != nil || len(got) != 2 || got[0] != want[0] || got[1] != want[1] {
		t.Fatalf("InterceptorBindings = %+v, %v", got, err)
	}
	if calls != 2 {
		t.Errorf("host calls = %d, want 2 (4 KiB is too small for a 5000-byte action)", calls)
	}

	h.bindings = func(buf []byte, n *uint32) abi.Code { return writeResult([]byte{1, 0, 0, 0}, buf, n) }
	useHost(t, h)
	if _, err := InterceptorBindings(); !errors.Is(err, ErrTruncated) {
		t.Errorf("truncated bindings err = %v", err)
	}
}

func TestSleep(t *testing.T) {
	tests := []struct {
		d      time.Duration
		wantNs int64
		code   abi.Code
	}{
		{time.Second, 1e9, abi.OK}, {0, 0, abi.OK}, {-time.Second, 0, abi.OK},
		{61 * time.Second, 61e9, abi.TooLarge}, {time.Millisecond, 1e6, abi.Cancelled},
	}
	for _, tt := range tests {
		h := unexpected(t)
		var gotNs int64 = -1
		h.sleepNs = func(ns int64) abi.Code { gotNs = ns; return tt.code }
		useHost(t, h)
		err := Sleep(tt.d)
		if gotNs != tt.wantNs || CodeOf(err) != tt.code {
			t.Errorf("Sleep(%v): host got %d, err %v; want %d, %v", tt.d, gotNs, err, tt.wantNs, tt.code)
		}
	}
}

func TestRandomBytes(t *testing.T) {
	tests := []struct {
		n        int
		hostCode abi.Code
		wantErr  abi.Code
		wantCall bool
	}{
		{16, abi.OK, abi.OK, true}, {0, abi.OK, abi.OK, true}, {abi.MaxRandomBytes, abi.OK, abi.OK, true},
		{abi.MaxRandomBytes + 1, abi.OK, abi.TooLarge, false}, {-1, abi.OK, abi.InvalidInput, false},
		{8, abi.Unknown, abi.Unknown, true},
	}
	for _, tt := range tests {
		h := unexpected(t)
		called := false
		h.random = func(buf []byte) abi.Code {
			called = true
			if len(buf) != tt.n {
				t.Errorf("host got %d bytes, want %d", len(buf), tt.n)
			}
			for i := range buf {
				buf[i] = 0xAA
			}
			return tt.hostCode
		}
		if !tt.wantCall {
			h.random = nil // a call would panic
		}
		useHost(t, h)
		b, err := RandomBytes(tt.n)
		if CodeOf(err) != tt.wantErr || called != tt.wantCall {
			t.Errorf("RandomBytes(%d) err = %v, called = %v", tt.n, err, called)
		}
		if err == nil && (len(b) != tt.n || (tt.n > 0 && b[tt.n-1] != 0xAA)) {
			t.Errorf("RandomBytes(%d) = %d bytes", tt.n, len(b))
		}
	}
}

func TestClocksLogReady(t *testing.T) {
	h := unexpected(t)
	var logs []string
	h.clockMs = func() int64 { return 1_700_000_000_123 }
	h.monotonicNs = func() int64 { return 5_000_000_007 }
	h.log = func(level abi.LogLevel, msg string) abi.Code {
		logs = append(logs, strconv.Itoa(int(level))+" "+msg)
		return abi.InvalidInput // ignored: logging is best effort
	}
	readies := 0
	h.signalReady = func() abi.Code { readies++; return abi.OK }
	useHost(t, h)
	if got := Now(); !got.Equal(time.UnixMilli(1_700_000_000_123)) {
		t.Errorf("Now = %v", got)
	}
	if got := Monotonic(); got != 5*time.Second+7 {
		t.Errorf("Monotonic = %v", got)
	}
	if err := SignalReady(); err != nil || readies != 1 {
		t.Errorf("SignalReady = %v, calls %d", err, readies)
	}
	Log(LogTrace, "t")
	Debugf("d %d", 1)
	Infof("i %s", "x")
	Warnf("w")
	Errorf("e %v", errors.New("boom"))
	want := []string{"0 t", "1 d 1", "2 i x", "3 w", "4 e boom"}
	if strings.Join(logs, "|") != strings.Join(want, "|") {
		t.Errorf("logs = %q, want %q", logs, want)
	}
}

func TestUUIDString(t *testing.T) {
	tests := []struct {
		id   [16]byte
		want string
	}{
		{[16]byte{}, "00000000-0000-0000-0000-000000000000"},
		{src, srcText},
		{[16]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, "ffffffff-ffff-ffff-ffff-ffffffffffff"},
	}
	for _, tt := range tests {
		if got := UUIDString(tt.id); got != tt.want {
			t.Errorf("UUIDString(%x) = %q, want %q", tt.id, got, tt.want)
		}
	}
}

func TestPrincipalString(t *testing.T) {
	tests := []struct {
		p    Principal
		want string
	}{
		{Principal{}, "system"},
		{Principal{PrincipalVerified, "alice"}, "verified:alice"},
		{Principal{PrincipalClaimed, "bob"}, "claimed:bob"},
		{Principal{abi.PrincipalKind(9), "x"}, "kind(9):x"},
	}
	for _, tt := range tests {
		if got := tt.p.String(); got != tt.want {
			t.Errorf("%+v.String() = %q, want %q", tt.p, got, tt.want)
		}
	}
}

func TestCodeOf(t *testing.T) {
	tests := []struct {
		err  error
		want abi.Code
	}{
		{nil, abi.OK},
		{abi.Quota, abi.Quota},
		{&Error{Func: "subscribe", Code: abi.Quota}, abi.Quota},
		{errors.Join(errors.New("x"), &Error{Code: abi.Closed}), abi.Closed},
		{errors.New("other"), abi.Unknown},
	}
	for _, tt := range tests {
		if got := CodeOf(tt.err); got != tt.want {
			t.Errorf("CodeOf(%v) = %v, want %v", tt.err, got, tt.want)
		}
	}
}

// TestStandIns checks the non-wasm stand-ins the real host table uses outside wasip1: every
// call fails with ErrUnknown and the clocks read zero.
func TestStandIns(t *testing.T) {
	useHost(t, realHost())
	if err := Publish("a", []byte("1")); !errors.Is(err, ErrUnknown) {
		t.Errorf("Publish = %v", err)
	}
	if err := PublishAs("a", []byte("1"), "p"); !errors.Is(err, ErrUnknown) {
		t.Errorf("PublishAs = %v", err)
	}
	if _, err := Subscribe("a"); !errors.Is(err, ErrUnknown) {
		t.Errorf("Subscribe = %v", err)
	}
	s := &Subscription{handle: 1}
	if _, err := s.Poll(); !errors.Is(err, ErrUnknown) {
		t.Errorf("Poll = %v", err)
	}
	if _, err := s.Recv(time.Millisecond); !errors.Is(err, ErrUnknown) {
		t.Errorf("Recv = %v", err)
	}
	if _, err := Wait(0, s); !errors.Is(err, ErrUnknown) {
		t.Errorf("Wait = %v", err)
	}
	if err := s.Close(); !errors.Is(err, ErrUnknown) {
		t.Errorf("Close = %v", err)
	}
	if _, err := InterceptorBindings(); !errors.Is(err, ErrUnknown) {
		t.Errorf("InterceptorBindings = %v", err)
	}
	Infof("ignored")
	if err := SignalReady(); !errors.Is(err, ErrUnknown) {
		t.Errorf("SignalReady = %v", err)
	}
	if _, _, err := Caller(); !errors.Is(err, ErrUnknown) {
		t.Errorf("Caller = %v", err)
	}
	if !Now().Equal(time.Unix(0, 0)) || Monotonic() != 0 {
		t.Errorf("clocks = %v, %v", Now(), Monotonic())
	}
	if err := Sleep(time.Millisecond); !errors.Is(err, ErrUnknown) {
		t.Errorf("Sleep = %v", err)
	}
	if _, err := RandomBytes(4); !errors.Is(err, ErrUnknown) {
		t.Errorf("RandomBytes = %v", err)
	}
	if _, err := Config("k"); !errors.Is(err, ErrUnknown) {
		t.Errorf("Config = %v", err)
	}
}
