package guest

import (
	"bytes"
	"testing"

	"github.com/astrid-actors/astrid-actors/abi"
)

// step is one scripted answer of a raw call: the status, the len_out value, and bytes to write.
type step struct {
	code abi.Code
	n    uint32
	data string
}

func TestFetch(t *testing.T) {
	tests := []struct {
		name      string
		start     int
		first     []step // answers of first (only the first element is used)
		again     []step // answers of again, in order
		wantCode  abi.Code
		wantData  string
		wantCaps  []int // buffer length seen by each call
		wantGrown int
	}{
		{
			name: "fits", start: 8,
			first:    []step{{abi.OK, 3, "abc"}},
			wantCode: abi.OK, wantData: "abc", wantCaps: []int{8}, wantGrown: 8,
		},
		{
			name: "empty result", start: 8,
			first:    []step{{abi.OK, 0, ""}},
			wantCode: abi.OK, wantData: "", wantCaps: []int{8}, wantGrown: 8,
		},
		{
			name: "grow once, retry with again", start: 4,
			first:    []step{{abi.BufferTooSmall, 10, ""}},
			again:    []step{{abi.OK, 10, "0123456789"}},
			wantCode: abi.OK, wantData: "0123456789", wantCaps: []int{4, 10}, wantGrown: 10,
		},
		{
			name: "head replaced between calls, grow twice", start: 4,
			first:    []step{{abi.BufferTooSmall, 10, ""}},
			again:    []step{{abi.BufferTooSmall, 20, ""}, {abi.OK, 2, "ok"}},
			wantCode: abi.OK, wantData: "ok", wantCaps: []int{4, 10, 20}, wantGrown: 20,
		},
		{
			name: "error passes through", start: 4,
			first:    []step{{abi.Cancelled, 0, ""}},
			wantCode: abi.Cancelled, wantCaps: []int{4}, wantGrown: 4,
		},
		{
			name: "error on retry passes through", start: 4,
			first:    []step{{abi.BufferTooSmall, 8, ""}},
			again:    []step{{abi.Closed, 0, ""}},
			wantCode: abi.Closed, wantCaps: []int{4, 8}, wantGrown: 8,
		},
		{
			name: "host asks for no more than it got", start: 8,
			first:    []step{{abi.BufferTooSmall, 8, ""}},
			wantCode: abi.BufferTooSmall, wantCaps: []int{8}, wantGrown: 8,
		},
		{
			name: "host asks for more than MaxBuffer", start: 8,
			first:    []step{{abi.BufferTooSmall, MaxBuffer + 1, ""}},
			wantCode: abi.BufferTooSmall, wantCaps: []int{8}, wantGrown: 8,
		},
		{
			name: "host keeps refusing", start: 1,
			first:    []step{{abi.BufferTooSmall, 2, ""}},
			again:    []step{{abi.BufferTooSmall, 3, ""}, {abi.BufferTooSmall, 4, ""}, {abi.BufferTooSmall, 5, ""}},
			wantCode: abi.BufferTooSmall, wantCaps: []int{1, 2, 3, 4}, wantGrown: 4,
		},
		{
			name: "host reports writing more than fits", start: 4,
			first:    []step{{abi.OK, 5, ""}},
			wantCode: abi.Unknown, wantCaps: []int{4}, wantGrown: 4,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var caps []int
			script := func(steps []step) bufCall {
				i := 0
				return func(buf []byte, n *uint32) abi.Code {
					caps = append(caps, len(buf))
					if i >= len(steps) {
						t.Fatalf("call %d: script exhausted", len(caps))
					}
					s := steps[i]
					i++
					copy(buf, s.data)
					*n = s.n
					return s.code
				}
			}
			grown, data, code := fetch(make([]byte, tt.start), script(tt.first), script(tt.again))
			if code != tt.wantCode {
				t.Errorf("code = %v, want %v", code, tt.wantCode)
			}
			if code == abi.OK && string(data) != tt.wantData {
				t.Errorf("data = %q, want %q", data, tt.wantData)
			}
			if code != abi.OK && data != nil {
				t.Errorf("data = %q on error", data)
			}
			if len(grown) != tt.wantGrown {
				t.Errorf("grown buffer = %d bytes, want %d", len(grown), tt.wantGrown)
			}
			if !equalInts(caps, tt.wantCaps) {
				t.Errorf("buffer sizes seen = %v, want %v", caps, tt.wantCaps)
			}
			if code == abi.OK && len(data) > 0 && !bytes.Equal(grown[:len(data)], data) {
				t.Errorf("result is not a prefix of the returned buffer")
			}
		})
	}
}

func equalInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestMillis(t *testing.T) {
	tests := []struct {
		in   string
		d    int64
		want int64
	}{
		{"negative", -5_000_000, 0},
		{"min int64", -1 << 63, 0},
		{"zero", 0, 0},
		{"1ns rounds up", 1, 1},
		{"1ms", 1_000_000, 1},
		{"1.5ms rounds up", 1_500_000, 2},
		{"5s", 5_000_000_000, 5000},
		{"2min is left for the host to clamp", 120_000_000_000, 120_000},
		{"max int64", 1<<63 - 1, 9_223_372_036_855},
	}
	for _, tt := range tests {
		if got := millis(durationOf(tt.d)); got != tt.want {
			t.Errorf("%s: millis(%d) = %d, want %d", tt.in, tt.d, got, tt.want)
		}
	}
}
