//go:build wasip1

// Command probe is a test capsule that the host's integration tests drive over the bus. It
// subscribes to probe.cmd, signals ready, and executes each command message (JSON, see
// README.md), publishing one result per command on probe.result. Commands reach every host
// function, through the guest SDK and through raw imports that pass hostile values unchanged.
package main

import (
	"encoding/json"
	"errors"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/astrid-actors/astrid-actors/abi"
	"github.com/astrid-actors/astrid-actors/guest"
)

func main() {}

const (
	cmdTopic    = "probe.cmd"
	resultTopic = "probe.result"
	// defaultBuf is the raw poll/recv buffer unless a command says otherwise: room for the
	// largest legitimate envelope.
	defaultBuf = 1<<20 + 64<<10
	// maxBuf bounds a requested buffer, so a test cannot make the probe run out of memory.
	maxBuf = 64 << 20
)

// command is the union of all command fields; each op reads the ones it needs.
type command struct {
	ID        json.RawMessage `json:"id"`
	Op        string          `json:"op"`
	Topic     string          `json:"topic"`
	Payload   string          `json:"payload"`
	Size      *int            `json:"size"`
	Principal string          `json:"principal"`
	Pattern   string          `json:"pattern"`
	N         int             `json:"n"`
	Handle    json.Number     `json:"handle"`
	Handles   []json.Number   `json:"handles"`
	TimeoutMs json.Number     `json:"timeout_ms"`
	Buf       *int            `json:"buf"`
	Cap       *int            `json:"cap"`
	Fn        string          `json:"fn"`
	Args      []json.Number   `json:"args"`
	Write     *string         `json:"write"`
	Read      int             `json:"read"`
	Key       string          `json:"key"`
	Ns        json.Number     `json:"ns"`
	Level     json.Number     `json:"level"`
	Msg       string          `json:"msg"`
	Records   []struct {
		Topic   string `json:"topic"`
		Payload string `json:"payload"`
	} `json:"records"`
}

// result is one reply on probe.result.
type result map[string]any

// errStop ends the run loop after the current command's result is published.
var errStop = errors.New("stop")

//go:wasmexport run
func run() {
	cmds, err := guest.Subscribe(cmdTopic)
	if err != nil {
		guest.Errorf("probe: subscribe %s: %v", cmdTopic, err)
		return
	}
	if err := guest.SignalReady(); err != nil {
		guest.Errorf("probe: signal-ready: %v", err)
		return
	}
	for {
		batch, err := cmds.Recv(60 * time.Second)
		if errors.Is(err, guest.ErrCancelled) || errors.Is(err, guest.ErrClosed) {
			return
		}
		if err != nil {
			guest.Warnf("probe: recv %s: %v", cmdTopic, err)
			continue
		}
		for _, m := range batch.Messages {
			if execute(m.Payload) == errStop {
				return
			}
		}
	}
}

// execute runs one command and publishes its result. It returns errStop when the run loop
// should end (exit, or a blocking command cut short by the capsule's stop).
func execute(payload []byte) error {
	var c command
	if err := json.Unmarshal(payload, &c); err != nil {
		reply(result{"id": nil, "code": "invalid-command", "error": err.Error()})
		return nil
	}
	r := result{"id": c.ID}
	stop := dispatch(&c, r)
	reply(r)
	return stop
}

func dispatch(c *command, r result) error {
	switch c.Op {
	case "publish":
		r["code"] = name(guest.Publish(c.Topic, c.payload()))
	case "publish_batch":
		records := make([]guest.Record, len(c.Records))
		for i, rec := range c.Records {
			records[i] = guest.Record{Topic: rec.Topic, Payload: []byte(rec.Payload)}
		}
		n, err := guest.PublishBatch(records...)
		r["code"], r["accepted"] = name(err), n
	case "publish_as":
		r["code"] = name(guest.PublishAs(c.Topic, c.payload(), c.Principal))
	case "subscribe":
		s, err := guest.Subscribe(c.Pattern)
		r["code"] = name(err)
		if err == nil {
			r["handle"] = s.Handle()
			sdkSubs[s.Handle()] = s
		}
	case "subscribe_n":
		codes := map[string]int{}
		handles := []uint32{}
		for range c.N {
			s, err := guest.Subscribe(c.Pattern)
			codes[name(err)]++
			if err == nil {
				handles = append(handles, s.Handle())
			}
		}
		r["codes"], r["handles"] = codes, handles
	case "poll", "recv":
		receive(c, r)
	case "wait":
		wait(c, r)
	case "sdk_wait":
		sdkWait(c, r)
	case "drop":
		h, ok := u32Arg(c.Handle)
		if !ok {
			r["code"] = "invalid-arg"
			return nil
		}
		r["code"] = abi.Code(rawDrop(h)).String()
	case "raw":
		raw(c, r)
	case "scratch":
		r["code"], r["ptr"], r["len"] = "ok", scratchAddr(), len(scratch)
	case "caller":
		caller(r)
	case "bindings":
		bs, err := guest.InterceptorBindings()
		r["code"] = name(err)
		out := []result{}
		for _, b := range bs {
			out = append(out, result{"handle_id": b.HandleID, "priority": b.Priority, "action": b.Action, "topic": b.Topic})
		}
		r["bindings"] = out
	case "config":
		v, err := guest.Config(c.Key)
		r["code"], r["value"] = name(err), v
	case "sleep":
		ns, _ := i64Arg(c.Ns)
		r["code"] = name(guest.Sleep(time.Duration(ns)))
	case "random":
		b, err := guest.RandomBytes(c.N)
		r["code"], r["len"] = name(err), len(b)
	case "log":
		level, ok := u32Arg(c.Level)
		if !ok {
			r["code"] = "invalid-arg"
			return nil
		}
		r["code"] = abi.Code(logRaw(level, c.Msg)).String()
	case "spin":
		for {
		}
	case "trap":
		panic("probe: trap") // the Go runtime prints the panic and the module traps (unreachable)
	case "exit":
		r["code"] = "ok"
		return errStop
	case "block_recv":
		return blockRecv(c, r)
	default:
		r["code"] = "invalid-op"
	}
	return nil
}

// payload returns the bytes to publish: a JSON string of exactly size bytes when size is set,
// else the payload string's bytes as given.
func (c *command) payload() []byte {
	if c.Size != nil {
		n := min(max(*c.Size, 2), maxBuf)
		return []byte(`"` + strings.Repeat("x", n-2) + `"`)
	}
	return []byte(c.Payload)
}

// recvBuf is reused by raw poll and recv; it only grows.
var recvBuf []byte

// receive is a raw subscription-poll or subscription-recv with a buffer of c.Buf bytes and no
// retry, so tests see buffer-too-small and the size needed.
func receive(c *command, r result) {
	handle, ok1 := u32Arg(c.Handle)
	timeout, ok2 := i64Arg(c.TimeoutMs)
	size := defaultBuf
	if c.Buf != nil {
		size = *c.Buf
	}
	if !ok1 || !ok2 || size < 0 || size > maxBuf {
		r["code"] = "invalid-arg"
		return
	}
	if cap(recvBuf) < size {
		recvBuf = make([]byte, size)
	}
	buf := recvBuf[:size]
	outU32 = 0
	var code abi.Code
	if c.Op == "poll" {
		code = abi.Code(rawPoll(handle, addr(buf), uint32(size), outAddr()))
	} else {
		code = abi.Code(rawRecv(handle, timeout, addr(buf), uint32(size), outAddr()))
	}
	runtime.KeepAlive(buf)
	n := outU32
	r["code"], r["len"] = code.String(), n
	if code != abi.OK {
		return
	}
	if uint64(n) > uint64(len(buf)) {
		r["code"], r["error"] = "probe-bad-len", "len_out exceeds the buffer"
		return
	}
	env, err := abi.DecodeEnvelope(buf[:n])
	if err != nil {
		r["code"], r["error"] = "probe-bad-envelope", err.Error()
		return
	}
	msgs := make([]result, 0, len(env.Messages))
	for _, m := range env.Messages {
		msgs = append(msgs, result{
			"topic":          m.Topic,
			"payload":        string(m.Payload),
			"kind":           m.PrincipalKind.String(),
			"principal":      m.Principal,
			"source_id":      guest.UUIDString(m.SourceID),
			"seq":            m.Seq,
			"time_unix_nano": m.TimeUnixNano,
		})
	}
	r["dropped"], r["lagged"], r["messages"] = env.Dropped, env.Lagged, msgs
}

// wait is a raw subscription-wait on the given handles with room for cap ready handles
// (default: as many as handles).
func wait(c *command, r result) {
	handles := make([]uint32, len(c.Handles))
	for i, h := range c.Handles {
		v, ok := u32Arg(h)
		if !ok {
			r["code"] = "invalid-arg"
			return
		}
		handles[i] = v
	}
	timeout, ok := i64Arg(c.TimeoutMs)
	capacity := len(handles)
	if c.Cap != nil {
		capacity = *c.Cap
	}
	if !ok || capacity < 0 || capacity > maxBuf/4 {
		r["code"] = "invalid-arg"
		return
	}
	ready := make([]uint32, capacity)
	outU32 = 0
	// ready_cap and ready_len_out are bytes, 4 per handle (ABI §3).
	code := abi.Code(rawWait(addrU32s(handles), uint32(len(handles)), timeout, addrU32s(ready), uint32(capacity)*abi.WaitHandleSize, outAddr()))
	runtime.KeepAlive(handles)
	runtime.KeepAlive(ready)
	n := outU32
	r["code"], r["len"] = code.String(), n
	if code == abi.OK {
		r["ready"] = ready[:min(int(n/abi.WaitHandleSize), capacity)]
	} else {
		r["ready"] = []uint32{}
	}
}

// sdkSubs are the subscriptions made by the subscribe op, for sdk_wait.
var sdkSubs = map[uint32]*guest.Subscription{}

// sdkWait is guest.Wait on subscriptions of earlier subscribe ops.
func sdkWait(c *command, r result) {
	subs := make([]*guest.Subscription, len(c.Handles))
	for i, h := range c.Handles {
		v, ok := u32Arg(h)
		if !ok || sdkSubs[v] == nil {
			r["code"] = "invalid-arg"
			return
		}
		subs[i] = sdkSubs[v]
	}
	timeout, ok := i64Arg(c.TimeoutMs)
	if !ok {
		r["code"] = "invalid-arg"
		return
	}
	ready, err := guest.Wait(time.Duration(timeout)*time.Millisecond, subs...)
	r["code"] = name(err)
	handles := []uint32{}
	for _, s := range ready {
		handles = append(handles, s.Handle())
	}
	r["ready"] = handles
}

// raw calls the import c.Fn with c.Args exactly: each argument is truncated to 32 bits for an
// i32 parameter (so -1 and 4294967295 are the same) and taken as 64 bits for an i64 one. With
// "write", the string's bytes are first copied to the start of the scratch buffer; with "read",
// the first read bytes of the scratch buffer are returned afterwards as "out" (base64).
func raw(c *command, r result) {
	fn, ok := rawFns[c.Fn]
	if !ok {
		r["code"] = "invalid-op"
		return
	}
	if len(c.Args) != len(fn.params) || c.Read < 0 || c.Read > len(scratch) {
		r["code"] = "invalid-arg"
		return
	}
	args := make([]uint64, len(c.Args))
	for i, a := range c.Args {
		v, ok := anyIntArg(a)
		if !ok {
			r["code"] = "invalid-arg"
			return
		}
		args[i] = v
	}
	if c.Write != nil {
		copy(scratch[:], *c.Write)
	}
	v := fn.call(args)
	if fn.value {
		r["code"], r["value"] = "ok", v
	} else {
		r["code"] = abi.Code(int32(v)).String()
	}
	if c.Read > 0 {
		r["out"] = append([]byte(nil), scratch[:c.Read]...)
	}
}

func caller(r result) {
	cl, ok, err := guest.Caller()
	r["code"] = name(err)
	r["kind"] = cl.PrincipalKind.String()
	r["principal"] = cl.Principal
	r["source_id"] = guest.UUIDString(cl.SourceID)
	r["time_unix_nano"] = cl.TimeUnixNano
	r["none"] = !ok
}

// blockRecv subscribes to c.Pattern and blocks in Recv until a message, the timeout, or the
// capsule's stop. On cancellation the result is still attempted, then the run loop ends.
func blockRecv(c *command, r result) error {
	timeout, ok := i64Arg(c.TimeoutMs)
	if !ok {
		r["code"] = "invalid-arg"
		return nil
	}
	s, err := guest.Subscribe(c.Pattern)
	if err != nil {
		r["code"] = name(err)
		return nil
	}
	r["handle"] = s.Handle()
	b, err := s.Recv(time.Duration(timeout) * time.Millisecond)
	r["code"], r["count"] = name(err), len(b.Messages)
	if errors.Is(err, guest.ErrCancelled) || errors.Is(err, guest.ErrClosed) {
		return errStop
	}
	return nil
}

// reply publishes a result; a failure can only be logged.
func reply(r result) {
	b, err := json.Marshal(r)
	if err != nil {
		b, _ = json.Marshal(result{"id": r["id"], "code": "probe-marshal", "error": err.Error()})
	}
	if err := guest.Publish(resultTopic, b); err != nil {
		guest.Warnf("probe: publish %s: %v", resultTopic, err)
	}
}

// name is the ABI name of err's code ("ok" for nil).
func name(err error) string { return guest.CodeOf(err).String() }

// u32Arg reads a JSON integer as an i32 argument: missing is 0, negative values and values up
// to 2^64-1 are truncated to 32 bits.
func u32Arg(n json.Number) (uint32, bool) {
	v, ok := anyIntArg(n)
	return uint32(v), ok
}

// i64Arg reads a JSON integer as an i64 argument (missing is 0).
func i64Arg(n json.Number) (int64, bool) {
	v, ok := anyIntArg(n)
	return int64(v), ok
}

// anyIntArg parses a JSON integer in [-2^63, 2^64-1] as 64 raw bits.
func anyIntArg(n json.Number) (uint64, bool) {
	if n == "" {
		return 0, true
	}
	if v, err := strconv.ParseInt(string(n), 10, 64); err == nil {
		return uint64(v), true
	}
	v, err := strconv.ParseUint(string(n), 10, 64)
	return v, err == nil
}
