package abi

import (
	"bytes"
	"errors"
	"testing"
)

func TestEnvelopeRoundTrip(t *testing.T) {
	src := [16]byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16}
	b := make([]byte, EnvelopeHeaderSize)
	PutEnvelopeHeader(b, 2, 7, 3)
	b = AppendMessage(b, "a.b", []byte(`{"x":1}`), PrincipalClaimed, "alice", src, 42, 99)
	b = AppendMessage(b, "c", []byte(`[]`), PrincipalSystem, "", src, 43, 100)
	if want := EnvelopeHeaderSize + MessageSize(3, 7, 5) + MessageSize(1, 2, 0); len(b) != want {
		t.Fatalf("len = %d, want %d", len(b), want)
	}
	env, err := DecodeEnvelope(b)
	if err != nil {
		t.Fatal(err)
	}
	if env.Dropped != 7 || env.Lagged != 3 || len(env.Messages) != 2 {
		t.Fatalf("header = %+v", env)
	}
	m := env.Messages[0]
	if m.Topic != "a.b" || !bytes.Equal(m.Payload, []byte(`{"x":1}`)) || m.Principal != "alice" ||
		m.PrincipalKind != PrincipalClaimed || m.SourceID != src || m.Seq != 42 || m.TimeUnixNano != 99 {
		t.Fatalf("message 0 = %+v", m)
	}
	if env.Messages[1].Topic != "c" || env.Messages[1].PrincipalKind != PrincipalSystem {
		t.Fatalf("message 1 = %+v", env.Messages[1])
	}
	for n := 0; n < len(b); n++ {
		if _, err := DecodeEnvelope(b[:n]); !errors.Is(err, ErrTruncated) {
			t.Fatalf("DecodeEnvelope(%d bytes) err = %v, want ErrTruncated", n, err)
		}
	}
}

func TestCallerAndBindingsRoundTrip(t *testing.T) {
	src := [16]byte{9}
	c := AppendCaller(nil, PrincipalVerified, "bob", src, 5)
	got, err := DecodeCaller(c)
	if err != nil || got.Principal != "bob" || got.PrincipalKind != PrincipalVerified || got.SourceID != src || got.TimeUnixNano != 5 {
		t.Fatalf("DecodeCaller = %+v, %v", got, err)
	}
	if _, err := DecodeCaller(c[:len(c)-1]); !errors.Is(err, ErrTruncated) {
		t.Fatalf("short caller err = %v", err)
	}
	b := []byte{2, 0, 0, 0}
	b = AppendBinding(b, Binding{HandleID: 0, Priority: 10, Action: "on_x", Topic: "x.*"})
	b = AppendBinding(b, Binding{HandleID: 1, Priority: 100, Action: "y", Topic: "y"})
	bs, err := DecodeBindings(b)
	if err != nil || len(bs) != 2 || bs[0].Action != "on_x" || bs[0].Topic != "x.*" || bs[0].Priority != 10 || bs[1].HandleID != 1 {
		t.Fatalf("DecodeBindings = %+v, %v", bs, err)
	}
	if _, err := DecodeBindings(b[:len(b)-1]); !errors.Is(err, ErrTruncated) {
		t.Fatalf("short bindings err = %v", err)
	}
}

func TestCodeNames(t *testing.T) {
	tests := []struct {
		code Code
		want string
	}{
		{OK, "ok"}, {CapabilityDenied, "capability-denied"}, {InvalidInput, "invalid-input"},
		{Closed, "closed"}, {RateLimited, "rate-limited"}, {Backpressure, "backpressure"},
		{Quota, "quota"}, {Timeout, "timeout"}, {Unknown, "unknown"},
		{BufferTooSmall, "buffer-too-small"}, {TooLarge, "too-large"}, {Cancelled, "cancelled"},
		{NotFound, "not-found"}, {Code(99), "code(99)"}, {Code(-1), "code(-1)"},
	}
	for _, tt := range tests {
		if got := tt.code.String(); got != tt.want {
			t.Errorf("Code(%d).String() = %q, want %q", tt.code, got, tt.want)
		}
	}
	if OK.Err() != nil {
		t.Error("OK.Err() != nil")
	}
	if err := Closed.Err(); !errors.Is(err, Closed) {
		t.Errorf("Closed.Err() = %v", err)
	}
}

func TestValidPrincipal(t *testing.T) {
	long := string(bytes.Repeat([]byte("a"), 64))
	tests := []struct {
		id   string
		want bool
	}{
		{"alice", true}, {"A_b-9", true}, {long, true}, {long + "a", false},
		{"", false}, {"a.b", false}, {"a:b", false}, {"ä", false}, {"a b", false},
	}
	for _, tt := range tests {
		if got := ValidPrincipal(tt.id); got != tt.want {
			t.Errorf("ValidPrincipal(%q) = %v, want %v", tt.id, got, tt.want)
		}
	}
}
