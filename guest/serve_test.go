package guest

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/astrid-actors/astrid-actors/abi"
)

// serveHost is a fake host for Serve: one queue per subscription, filled before Serve runs.
// A receive or wait with nothing queued reports cancelled, as the host does when the capsule is
// stopped, so every test's Serve ends once it has handled what was queued.
type serveHost struct {
	patterns []string          // by handle - 1
	queues   map[string]*queue // by pattern
	trace    []string
	logs     []string
	denied   string // a pattern whose subscribe is denied
}

func newServeHost(t *testing.T) *serveHost {
	h := &serveHost{queues: map[string]*queue{}}
	calls := unexpected(t)
	calls.subscribe = func(pattern string, out *uint32) abi.Code {
		h.trace = append(h.trace, "subscribe "+pattern)
		if pattern == h.denied {
			return abi.CapabilityDenied
		}
		h.patterns = append(h.patterns, pattern)
		*out = uint32(len(h.patterns))
		return abi.OK
	}
	calls.signalReady = func() abi.Code { h.trace = append(h.trace, "ready"); return abi.OK }
	calls.log = func(_ abi.LogLevel, msg string) abi.Code { h.logs = append(h.logs, msg); return abi.OK }
	calls.drop = func(handle uint32) abi.Code {
		h.trace = append(h.trace, "drop "+h.patterns[handle-1])
		return abi.OK
	}
	deliver := func(handle uint32, buf []byte, n *uint32) abi.Code {
		q := h.queue(h.patterns[handle-1])
		if len(q.msgs) == 0 && q.dropped == 0 {
			return abi.Cancelled
		}
		return q.deliver(buf, n)
	}
	calls.recv = func(handle uint32, _ int64, buf []byte, n *uint32) abi.Code {
		h.trace = append(h.trace, "recv "+h.patterns[handle-1])
		return deliver(handle, buf, n)
	}
	calls.poll = func(handle uint32, buf []byte, n *uint32) abi.Code {
		h.trace = append(h.trace, "poll "+h.patterns[handle-1])
		return deliver(handle, buf, n)
	}
	calls.wait = func(handles []uint32, _ int64, ready []uint32, n *uint32) abi.Code {
		count := 0
		for _, hd := range handles {
			if q := h.queue(h.patterns[hd-1]); len(q.msgs) > 0 || q.dropped > 0 {
				ready[count] = hd
				count++
			}
		}
		*n = uint32(count * abi.WaitHandleSize) // the host writes the length in bytes
		if count == 0 {
			return abi.Cancelled
		}
		return abi.OK
	}
	calls.sleepNs = func(int64) abi.Code { h.trace = append(h.trace, "sleep"); return abi.Cancelled }
	useHost(t, calls)
	return h
}

func (h *serveHost) queue(pattern string) *queue {
	q := h.queues[pattern]
	if q == nil {
		q = &queue{}
		h.queues[pattern] = q
	}
	return q
}

// push queues payloads on pattern, published on topic.
func (h *serveHost) push(pattern, topic string, payloads ...string) {
	for _, p := range payloads {
		h.queue(pattern).push(topic, p, abi.PrincipalVerified, "alice", [16]byte{1}, 1, 0)
	}
}

type num struct {
	N int `json:"n"`
}

func TestServe(t *testing.T) {
	for _, tt := range []struct {
		name  string
		setup func(h *serveHost)
		// handlers get got, where they record what they handle.
		handlers func(got *[]string) []Handler
		wantErr  error // errors.Is target; nil for a nil return
		want     []string
		trace    []string
		logs     []string // substrings, in order
	}{
		{
			name:  "one handler, in order, until cancelled",
			setup: func(h *serveHost) { h.push("a.in", "a.in", `{"n":1}`, `{"n":2}`, `{"n":3}`) },
			handlers: func(got *[]string) []Handler {
				return []Handler{Handle("a.in", func(v num, m Message) error {
					*got = append(*got, fmt.Sprintf("%s %d %s", m.Topic, v.N, m.Principal))
					return nil
				})}
			},
			want:  []string{"a.in 1 verified:alice", "a.in 2 verified:alice", "a.in 3 verified:alice"},
			trace: []string{"subscribe a.in", "ready", "recv a.in", "recv a.in"},
		},
		{
			name:  "a payload that does not decode is logged and skipped",
			setup: func(h *serveHost) { h.push("a.in", "a.in", `{"n":1}`, `"text"`, `{"n":3}`) },
			handlers: func(got *[]string) []Handler {
				return []Handler{Handle("a.in", func(v num, _ Message) error {
					*got = append(*got, fmt.Sprint(v.N))
					return nil
				})}
			},
			want: []string{"1", "3"},
			logs: []string{"serve a.in: a.in: payload does not decode as guest.num, skipped"},
		},
		{
			name:  "a handler error is logged and serving goes on",
			setup: func(h *serveHost) { h.push("a.*", "a.x", `1`, `2`) },
			handlers: func(got *[]string) []Handler {
				return []Handler{On("a.*", func(m Message) error {
					*got = append(*got, string(m.Payload))
					return errors.New("boom")
				})}
			},
			want: []string{"1", "2"},
			logs: []string{"serve a.*: handling a.x: boom", "serve a.*: handling a.x: boom"},
		},
		{
			name: "losses are logged for per-message handlers",
			setup: func(h *serveHost) {
				h.push("a.in", "a.in", `1`)
				h.queue("a.in").dropped = 4
			},
			handlers: func(got *[]string) []Handler {
				return []Handler{On("a.in", func(m Message) error { *got = append(*got, string(m.Payload)); return nil })}
			},
			want: []string{"1"},
			logs: []string{"serve a.in: lost 4 message(s) (dropped 4, lagged 0)"},
		},
		{
			name: "OnBatch sees the losses itself",
			setup: func(h *serveHost) {
				h.push("a.in", "a.in", `1`, `2`)
				h.queue("a.in").dropped = 2
			},
			handlers: func(got *[]string) []Handler {
				return []Handler{OnBatch("a.in", func(b Batch) error {
					*got = append(*got, fmt.Sprintf("%d messages, %d dropped", len(b.Messages), b.Dropped))
					return nil
				})}
			},
			want: []string{"2 messages, 2 dropped"},
		},
		{
			name: "several handlers take one batch each per round",
			setup: func(h *serveHost) {
				h.push("a", "a", `1`)
				h.push("b", "b", `1`)
				h.push("a", "a", `2`)
			},
			handlers: func(got *[]string) []Handler {
				rec := func(m Message) error { *got = append(*got, m.Topic+string(m.Payload)); return nil }
				return []Handler{On("a", rec), On("b", rec)}
			},
			want:  []string{"a1", "a2", "b1"},
			trace: []string{"subscribe a", "subscribe b", "ready", "poll a", "poll b"},
		},
		{
			name:  "ErrStop closes the subscriptions and returns nil",
			setup: func(h *serveHost) { h.push("a", "a", `1`, `2`, `3`) },
			handlers: func(got *[]string) []Handler {
				return []Handler{
					On("a", func(m Message) error {
						*got = append(*got, string(m.Payload))
						if string(m.Payload) == "2" {
							return ErrStop
						}
						return nil
					}),
					On("b", func(Message) error { return nil }),
				}
			},
			want:  []string{"1", "2"},
			trace: []string{"subscribe a", "subscribe b", "ready", "poll a", "drop a", "drop b"},
			logs:  []string{"serve a: 1 message(s) of the batch not handled"},
		},
		{
			name:  "a cancelled host call in a handler ends Serve",
			setup: func(h *serveHost) { h.push("a", "a", `1`, `2`) },
			handlers: func(got *[]string) []Handler {
				return []Handler{On("a", func(m Message) error {
					*got = append(*got, string(m.Payload))
					return &Error{Func: fnRecv, Code: abi.Cancelled}
				})}
			},
			want:  []string{"1"},
			trace: []string{"subscribe a", "ready", "recv a"},
			logs:  []string{"serve a: 1 message(s) of the batch not handled: astrid subscription-recv: cancelled"},
		},
		{
			name:  "a denied subscribe closes the earlier ones and is returned",
			setup: func(h *serveHost) { h.denied = "b" },
			handlers: func(*[]string) []Handler {
				return []Handler{On("a", func(Message) error { return nil }), On("b", func(Message) error { return nil })}
			},
			wantErr: ErrCapabilityDenied,
			trace:   []string{"subscribe a", "subscribe b", "drop a"},
		},
		{
			name:     "no handlers: ready, then block until stopped",
			handlers: func(*[]string) []Handler { return nil },
			trace:    []string{"ready", "sleep"},
		},
		{
			name:     "a zero Handler is invalid input",
			handlers: func(*[]string) []Handler { return []Handler{{}} },
			wantErr:  ErrInvalidInput,
			trace:    []string{},
		},
	} {
		t.Run(tt.name, func(t *testing.T) {
			h := newServeHost(t)
			if tt.setup != nil {
				tt.setup(h)
			}
			var got []string
			err := Serve(tt.handlers(&got)...)
			if tt.wantErr == nil && err != nil || tt.wantErr != nil && !errors.Is(err, tt.wantErr) {
				t.Fatalf("Serve = %v, want %v", err, tt.wantErr)
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("handled %q, want %q", got, tt.want)
			}
			if tt.trace != nil && !slices.Equal(h.trace, tt.trace) {
				t.Errorf("host calls %q, want %q", h.trace, tt.trace)
			}
			logs := strings.Join(h.logs, "\n")
			for _, want := range tt.logs {
				i := strings.Index(logs, want)
				if i < 0 {
					t.Fatalf("logs %q lack %q", h.logs, want)
				}
				logs = logs[i+len(want):]
			}
			if tt.logs == nil && len(h.logs) > 0 {
				t.Errorf("unexpected logs %q", h.logs)
			}
		})
	}
}
