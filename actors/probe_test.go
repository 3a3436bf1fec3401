package actors

// Integration tests that drive the probe capsule (testdata/guests/probe, a real Go guest built
// with the guest SDK) over the bus: every host function is reached through the SDK or through
// the probe's raw imports, under the real runtime, and every status is checked by its ABI name.

import (
	"bytes"
	"cmp"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/astrid-actors/astrid-actors/abi"
	"github.com/astrid-actors/astrid-actors/bus"
	"github.com/astrid-actors/astrid-actors/hostfuncs"
	"github.com/astrid-actors/astrid-actors/internal/capsuleactor"
	"github.com/astrid-actors/astrid-actors/internal/testguests"
	"github.com/astrid-actors/astrid-actors/supervision"
)

const (
	probeCmdTopic    = "probe.cmd"
	probeResultTopic = "probe.result"
	// probeTimeout bounds the wait for one command's result.
	probeTimeout = 15 * time.Second
)

// probeTester is the principal the probe tests publish their commands as; the probe's results
// (and its other publishes while it handles a command) carry it too.
var probeTester = bus.Verified("tester")

// compileGoGuest builds the Go guest package pkg (module-relative) and compiles it for r.
func compileGoGuest(t testing.TB, r *Runtime, pkg string) *Module {
	t.Helper()
	m, err := r.Compile(context.Background(), testguests.Build(t, pkg))
	if err != nil {
		t.Fatalf("compile %s: %v", pkg, err)
	}
	return m
}

// newObservedRuntime is newRuntime with every log entry (debug and up) recorded, and a clock
// the test can advance.
func newObservedRuntime(t testing.TB) (*Runtime, *observer.ObservedLogs, *skewClock) {
	t.Helper()
	core, logs := observer.New(zapcore.DebugLevel)
	clock := &skewClock{}
	return newRuntimeWithClock(t, zap.New(core), clock), logs, clock
}

// probeSet drives the probe capsules of one runtime. Commands are published on probe.cmd, so
// every running probe of the runtime executes every command; results come back on
// probe.result and are told apart by their source (the probe's instance id) and the command
// id they echo. Tests with two probes give them different grants, so that a command meant for
// one is harmless (denied) in the other. A probe is stopped when the test that started it
// ends, so consecutive subtests can share the runtime.
type probeSet struct {
	r       *Runtime
	logs    *observer.ObservedLogs // nil unless the runtime's logs are observed
	clock   *skewClock             // the runtime's clock, nil for the real one
	mod     *Module
	results *bus.Subscription
	lastID  int
	got     map[probeKey]*bus.Message
}

type probeKey struct {
	source uuid.UUID
	id     string
}

// probeCapsule is one running probe.
type probeCapsule struct {
	set  *probeSet
	c    *Capsule
	inst uuid.UUID
}

// probeCmd is a probe command; see testdata/guests/probe/README.md.
type probeCmd map[string]any

// probeResult is a decoded result; numbers are json.Number.
type probeResult map[string]any

func newProbeSet(t testing.TB, r *Runtime) *probeSet {
	t.Helper()
	results, err := r.Bus().Subscribe(context.Background(), probeResultTopic,
		bus.SubscribeOptions{Mailbox: bus.MailboxLimits{Bytes: 256 << 20, PerPrincipal: 1 << 20}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = results.Close(context.Background()) })
	return &probeSet{r: r, mod: compileGoGuest(t, r, "testdata/guests/probe"), results: results, got: map[probeKey]*bus.Message{}}
}

// start starts a probe from spec, adding the grants the probe itself needs (subscribe
// probe.cmd, publish probe.result) and, unless spec has one, a policy without restarts, and
// waits until it is ready. The probe is stopped when t ends.
func (ps *probeSet) start(t testing.TB, spec CapsuleSpec) *probeCapsule {
	t.Helper()
	spec.Module = ps.mod
	spec.Grants.Publish = append([]string{probeResultTopic}, spec.Grants.Publish...)
	spec.Grants.Subscribe = append([]string{probeCmdTopic}, spec.Grants.Subscribe...)
	if spec.Policy == nil {
		spec.Policy = policy(0)
	}
	c := startCapsule(t, ps.r, spec)
	p := &probeCapsule{set: ps, c: c}
	t.Cleanup(func() { p.stop(t) })
	waitReady(t, c)
	p.inst = c.Status().InstanceID
	return p
}

// publishCmd publishes c, with a fresh id, on probe.cmd as principal p. It returns the id (as
// the probe echoes it) and the published message.
func (ps *probeSet) publishCmd(t testing.TB, p bus.Principal, c probeCmd) (string, *bus.Message) {
	t.Helper()
	ps.lastID++
	body := maps.Clone(c)
	body["id"] = ps.lastID
	b, err := json.Marshal(body)
	if err != nil {
		t.Fatal(err)
	}
	res, err := ps.r.Bus().Publish(probeCmdTopic, b, uuid.Nil, p)
	if err != nil {
		t.Fatalf("publish command %s: %v", b, err)
	}
	return strconv.Itoa(ps.lastID), res.Message
}

// send publishes c as probeTester and returns its id.
func (ps *probeSet) send(t testing.TB, c probeCmd) string {
	t.Helper()
	id, _ := ps.publishCmd(t, probeTester, c)
	return id
}

// sendAs publishes c as p and returns its id.
func (ps *probeSet) sendAs(t testing.TB, p bus.Principal, c probeCmd) string {
	t.Helper()
	id, _ := ps.publishCmd(t, p, c)
	return id
}

// collect waits up to wait for results and files every one that arrived.
func (ps *probeSet) collect(t testing.TB, wait time.Duration) {
	t.Helper()
	if _, err := ps.results.Mailbox().Wait(context.Background(), wait); err != nil {
		t.Fatal(err)
	}
	for {
		b := ps.results.Mailbox().Drain(nil, 1<<30, func(*bus.Message) bool { return true })
		if b.Dropped > 0 {
			t.Fatalf("%d probe results dropped", b.Dropped)
		}
		if len(b.Messages) == 0 {
			return
		}
		for _, m := range b.Messages {
			var r struct {
				ID json.RawMessage `json:"id"`
			}
			if err := json.Unmarshal(m.Payload, &r); err != nil {
				t.Fatalf("probe result %s: %v", m.Payload, err)
			}
			ps.got[probeKey{m.Source, string(r.ID)}] = m
		}
	}
}

// awaitMsg waits for p's result message of command id.
func (p *probeCapsule) awaitMsg(t testing.TB, id string) *bus.Message {
	t.Helper()
	key := probeKey{p.inst, id}
	deadline := time.Now().Add(probeTimeout)
	for {
		if m, ok := p.set.got[key]; ok {
			delete(p.set.got, key)
			return m
		}
		if st := p.c.Status(); st.State != StateReady {
			t.Fatalf("probe %s is %v (last error %q) while waiting for the result of command %s", st.ID, st.State, st.LastError, id)
		}
		left := time.Until(deadline)
		if left <= 0 {
			t.Fatalf("probe %s: no result for command %s within %v", p.c.ID(), id, probeTimeout)
		}
		p.set.collect(t, min(left, 50*time.Millisecond))
	}
}

// await waits for p's result of command id.
func (p *probeCapsule) await(t testing.TB, id string) probeResult {
	t.Helper()
	return decodeProbeResult(t, p.awaitMsg(t, id).Payload)
}

// cmd sends c as probeTester and waits for p's result.
func (p *probeCapsule) cmd(t testing.TB, c probeCmd) probeResult {
	t.Helper()
	return p.await(t, p.set.send(t, c))
}

// cmdAs sends c as principal pr and waits for p's result.
func (p *probeCapsule) cmdAs(t testing.TB, pr bus.Principal, c probeCmd) probeResult {
	t.Helper()
	return p.await(t, p.set.sendAs(t, pr, c))
}

// stop stops the probe.
func (p *probeCapsule) stop(t testing.TB) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := p.c.Stop(ctx); err != nil {
		t.Fatal(err)
	}
}

func decodeProbeResult(t testing.TB, b []byte) probeResult {
	t.Helper()
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	var r probeResult
	if err := d.Decode(&r); err != nil {
		t.Fatalf("probe result %s: %v", b, err)
	}
	return r
}

func (r probeResult) code() string {
	s, _ := r["code"].(string)
	return s
}

// num returns the integer field key.
func (r probeResult) num(t testing.TB, key string) int64 {
	t.Helper()
	n, ok := r[key].(json.Number)
	if !ok {
		t.Fatalf("result %v: %s is not a number", r, key)
	}
	v, err := n.Int64()
	if err != nil {
		t.Fatalf("result %v: %s: %v", r, key, err)
	}
	return v
}

// decode re-decodes the result into v.
func (r probeResult) decode(t testing.TB, v any) {
	t.Helper()
	b, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("result %s: %v", b, err)
	}
}

// handle returns the handle of a successful subscribe.
func (r probeResult) handle(t testing.TB) uint32 {
	t.Helper()
	if r.code() != "ok" {
		t.Fatalf("subscribe failed: %v", r)
	}
	return uint32(r.num(t, "handle"))
}

// wantCode fails the test unless r has the ABI code want.
func (r probeResult) wantCode(t testing.TB, want string) {
	t.Helper()
	if got := r.code(); got != want {
		t.Fatalf("code %q, want %q (result %v)", got, want, r)
	}
}

// probeMsg is one message of a poll or recv result.
type probeMsg struct {
	Topic     string `json:"topic"`
	Payload   string `json:"payload"`
	Kind      string `json:"kind"`
	Principal string `json:"principal"`
	SourceID  string `json:"source_id"`
	Seq       uint64 `json:"seq"`
	Time      int64  `json:"time_unix_nano"`
}

// probeDelivery is the result of a poll or recv command.
type probeDelivery struct {
	Code     string     `json:"code"`
	Len      uint32     `json:"len"`
	Dropped  uint64     `json:"dropped"`
	Lagged   uint64     `json:"lagged"`
	Messages []probeMsg `json:"messages"`
}

func (p *probeCapsule) poll(t testing.TB, c probeCmd) probeDelivery {
	t.Helper()
	var d probeDelivery
	p.cmd(t, c).decode(t, &d)
	return d
}

func topicsOf(msgs []probeMsg) []string {
	out := []string{}
	for _, m := range msgs {
		out = append(out, m.Topic)
	}
	return out
}

// publishAsHost publishes payload on topic from the host as principal p.
func publishAsHost(t testing.TB, r *Runtime, topic, payload string, p bus.Principal) *bus.Message {
	t.Helper()
	res, err := r.Bus().Publish(topic, []byte(payload), uuid.Nil, p)
	if err != nil {
		t.Fatal(err)
	}
	return res.Message
}

// TestProbe runs the probe scenarios one after another on one runtime, whose logs are
// observed. Compiling the probe is the expensive part, so it is done once: with -race it takes
// about 0.8 s from a warm wazero compilation cache and over 30 s from a cold one.
func TestProbe(t *testing.T) {
	r, logs, clock := newObservedRuntime(t)
	ps := newProbeSet(t, r)
	ps.logs, ps.clock = logs, clock
	base := r.Bus().Stats().Subscriptions
	for _, tt := range []struct {
		name string
		run  func(*testing.T, *probeSet)
	}{
		{"PublishRecvAcrossCapsules", probePublishRecvAcrossCapsules},
		{"WildcardSubscription", probeWildcardSubscription},
		{"ACLDenials", probeACLDenials},
		{"EmptyACLs", probeEmptyACLs},
		{"PublishAs", probePublishAs},
		{"SubscriptionQuota", probeSubscriptionQuota},
		{"RateLimit", probeRateLimit},
		{"PayloadLimits", probePayloadLimits},
		{"PollEmptyAndClosedHandles", probePollEmptyAndClosedHandles},
		{"BufferTooSmallRetryLosesNothing", probeBufferTooSmallRetryLosesNothing},
		{"MixedPrincipalsSplitAcrossCalls", probeMixedPrincipalsSplitAcrossCalls},
		{"CallerPropagation", probeCallerPropagation},
		{"StopWhileBlockedInRecv", probeStopWhileBlockedInRecv},
		{"StopSpinningGuest", probeStopSpinningGuest},
		{"HostilePointers", probeHostilePointers},
		{"Sys", probeSys},
		{"SDKWaitCountsBytes", probeSDKWait},
		{"PublishBatch", probePublishBatch},
	} {
		t.Run(tt.name, func(t *testing.T) { tt.run(t, ps) })
	}
	if n := r.Bus().Stats().Subscriptions; n != base {
		t.Errorf("%d subscriptions left after the scenarios, want %d as before", n, base)
	}
}

func probePublishRecvAcrossCapsules(t *testing.T, ps *probeSet) {
	// a may only subscribe cross.t, b may only publish it: each command is executed by both, and
	// the one that is not meant for a probe is denied there.
	a := ps.start(t, CapsuleSpec{ID: "a", Grants: grants(nil, []string{"cross.t"})})
	b := ps.start(t, CapsuleSpec{ID: "b", Grants: grants([]string{"cross.t"}, nil)})

	id := ps.send(t, probeCmd{"op": "subscribe", "pattern": "cross.t"})
	h := a.await(t, id).handle(t)
	b.await(t, id).wantCode(t, "capability-denied")

	id = ps.sendAs(t, bus.Verified("carol"), probeCmd{"op": "publish", "topic": "cross.t", "payload": `{"from":"b"}`})
	a.await(t, id).wantCode(t, "capability-denied")
	b.await(t, id).wantCode(t, "ok")

	id = ps.send(t, probeCmd{"op": "recv", "handle": h, "timeout_ms": 5000})
	var got probeDelivery
	a.await(t, id).decode(t, &got)
	if got.Code != "ok" || len(got.Messages) != 1 || got.Dropped != 0 || got.Lagged != 0 {
		t.Fatalf("a's recv: %+v", got)
	}
	m := got.Messages[0]
	want := probeMsg{Topic: "cross.t", Payload: `{"from":"b"}`, Kind: "verified", Principal: "carol", SourceID: b.inst.String(), Seq: m.Seq, Time: m.Time}
	if m != want || m.Seq == 0 || m.Time == 0 {
		t.Fatalf("a received %+v, want %+v", m, want)
	}
	if wantLen := abi.EnvelopeHeaderSize + abi.MessageSize(len("cross.t"), len(`{"from":"b"}`), len("carol")); got.Len != uint32(wantLen) {
		t.Errorf("len %d, want %d", got.Len, wantLen)
	}
	// a's handle number means nothing in b: every use of it there is closed.
	b.await(t, id).wantCode(t, "closed")
	for _, c := range []probeCmd{{"op": "poll", "handle": h}, {"op": "wait", "handles": []uint32{h}, "timeout_ms": 0}, {"op": "drop", "handle": h}} {
		id := ps.send(t, c)
		b.await(t, id).wantCode(t, "closed")
		a.await(t, id).wantCode(t, "ok") // b's drop did not touch a's subscription
	}
	a.cmd(t, probeCmd{"op": "poll", "handle": h}).wantCode(t, "closed") // a's own drop did
}

func probeWildcardSubscription(t *testing.T, ps *probeSet) {
	r := ps.r
	p := ps.start(t, CapsuleSpec{ID: "wild", Grants: grants([]string{"x", "x.*", "y"}, []string{"x.*", "y"})})
	h := p.cmd(t, probeCmd{"op": "subscribe", "pattern": "x.*"}).handle(t)
	for _, topic := range []string{"x", "x.a", "y", "x.a.b"} {
		p.cmd(t, probeCmd{"op": "publish", "topic": topic, "payload": strconv.Quote(topic)}).wantCode(t, "ok")
	}
	publishAsHost(t, r, "x.b.c.d.e", `"host"`, bus.Verified("tester"))
	// The capsule's own publishes and the host's are two flows (same principal, different
	// publishers): one envelope each, the flow queued first served first.
	d := p.poll(t, probeCmd{"op": "poll", "handle": h})
	if d.Code != "ok" || !slices.Equal(topicsOf(d.Messages), []string{"x.a", "x.a.b"}) {
		t.Fatalf("x.* received %+v, want x.a and x.a.b", d)
	}
	d = p.poll(t, probeCmd{"op": "poll", "handle": h})
	if d.Code != "ok" || !slices.Equal(topicsOf(d.Messages), []string{"x.b.c.d.e"}) {
		t.Fatalf("x.* then received %+v, want x.b.c.d.e", d)
	}
	if d := p.poll(t, probeCmd{"op": "poll", "handle": h}); d.Code != "ok" || len(d.Messages) != 0 {
		t.Fatalf("second poll %+v, want nothing left", d)
	}
}

func probeACLDenials(t *testing.T, ps *probeSet) {
	p := ps.start(t, CapsuleSpec{ID: "acl", Grants: grants([]string{"acl.pub", "acl.tree.*"}, []string{"acl.sub", "acl.tree.*"})})
	tests := []struct {
		cmd  probeCmd
		want string
	}{
		{probeCmd{"op": "publish", "topic": "acl.pub"}, "ok"},
		{probeCmd{"op": "publish", "topic": "acl.other"}, "capability-denied"},
		{probeCmd{"op": "publish", "topic": "acl.tree.x.y"}, "ok"},
		{probeCmd{"op": "publish", "topic": "acl.tree"}, "capability-denied"},
		{probeCmd{"op": "publish", "topic": "probe.cmd"}, "capability-denied"}, // subscribe-only
		{probeCmd{"op": "publish", "topic": "acl..pub"}, "invalid-input"},
		{probeCmd{"op": "publish_as", "topic": "acl.pub", "principal": "bob"}, "capability-denied"}, // no uplink
		{probeCmd{"op": "subscribe", "pattern": "acl.sub"}, "ok"},
		{probeCmd{"op": "subscribe", "pattern": "acl.other"}, "capability-denied"},
		{probeCmd{"op": "subscribe", "pattern": "acl.*"}, "capability-denied"},
		{probeCmd{"op": "subscribe", "pattern": "acl.tree.*"}, "ok"},
		{probeCmd{"op": "subscribe", "pattern": "acl.tree.a.*"}, "ok"},
		{probeCmd{"op": "subscribe", "pattern": "acl.tree"}, "capability-denied"},
		{probeCmd{"op": "subscribe", "pattern": "probe.result"}, "capability-denied"}, // publish-only
		{probeCmd{"op": "subscribe", "pattern": "acl.*.x"}, "invalid-input"},          // the gate runs first
	}
	for _, tt := range tests {
		tt.cmd["payload"] = "1"
		if got := p.cmd(t, tt.cmd); got.code() != tt.want {
			t.Errorf("%v: %v, want %s", tt.cmd, got, tt.want)
		}
	}
}

// probeEmptyACLs: an empty publish ACL denies even the probe's results, an empty subscribe
// ACL even its command topic. Both show up only in the logs.
func probeEmptyACLs(t *testing.T, ps *probeSet) {
	r, logs, mod := ps.r, ps.logs, ps.mod
	results := hostSubscribe(t, r, probeResultTopic)

	// No subscribe grant: the probe cannot subscribe probe.cmd and returns from run.
	temporary := &supervision.Policy{Restart: supervision.Temporary, Within: time.Minute}
	deaf := startCapsule(t, r, CapsuleSpec{ID: "deaf", Module: mod, Policy: temporary,
		Grants: hostfuncs.Grants{Publish: []string{probeResultTopic}}})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := deaf.WaitReady(ctx); err == nil {
		t.Fatal("a probe without subscribe grants became ready")
	}
	waitDone(t, deaf)
	if st := deaf.Status(); st.State != StateExited {
		t.Fatalf("deaf probe: %+v", st)
	}
	if n := logs.FilterMessage("probe: subscribe probe.cmd: astrid subscribe probe.cmd: capability-denied").Len(); n != 1 {
		t.Errorf("%d log lines about the denied subscribe, want 1", n)
	}
	if !auditHas(logs, "deaf", "astrid:ipc/subscribe", "probe.cmd", "capability-denied") {
		t.Error("no audit line for the denied subscribe")
	}

	// No publish grant: the probe runs, but neither its publish nor its result gets out.
	mute := startCapsule(t, r, CapsuleSpec{ID: "mute", Module: mod, Policy: policy(0),
		Grants: hostfuncs.Grants{Subscribe: []string{probeCmdTopic}}})
	t.Cleanup(func() { (&probeCapsule{c: mute}).stop(t) })
	waitReady(t, mute)
	publishAsHost(t, r, probeCmdTopic, `{"id":1,"op":"publish","topic":"anywhere","payload":"1"}`, probeTester)
	// Both refusals are counted exactly; the audit log has a line for the first of the
	// interval (the second is aggregated into a summary line, abi.md §11).
	checkFor(t, 10*time.Second, "the denied result publish", func() bool {
		rf := mute.Status().Refused
		return len(rf) == 1 && rf[0] == hostfuncs.Refusal{Fn: "astrid:ipc/publish", Code: abi.CapabilityDenied, Count: 2}
	})
	if !auditHas(logs, "mute", "astrid:ipc/publish", "anywhere", "capability-denied") {
		t.Error("no audit line for the first denied publish")
	}
	if n := results.Mailbox().Len(); n != 0 {
		t.Fatalf("%d results got out of a probe without publish grants", n)
	}
	if st := mute.Status(); st.State != StateReady {
		t.Fatalf("mute probe: %+v", st)
	}
}

// auditHas reports whether capsule wrote an audit line for fn on topic failing with code.
func auditHas(logs *observer.ObservedLogs, capsule, fn, topic, code string) bool {
	for _, e := range logs.FilterMessage("audit").All() {
		f := e.ContextMap()
		if f["capsule_id"] == capsule && f["fn"] == fn && f["topic"] == topic && f["error"] == code {
			return true
		}
	}
	return false
}

func probePublishAs(t *testing.T, ps *probeSet) {
	r := ps.r
	g := grants([]string{"pa.t"}, []string{"pa.t"})
	up := ps.start(t, CapsuleSpec{ID: "uplink", Grants: hostfuncs.Grants{Publish: g.Publish, Subscribe: g.Subscribe, Uplink: true}})
	plain := ps.start(t, CapsuleSpec{ID: "plain", Grants: g})
	host := hostSubscribe(t, r, "pa.t")
	id := ps.send(t, probeCmd{"op": "subscribe", "pattern": "pa.t"})
	hUp, hPlain := up.await(t, id).handle(t), plain.await(t, id).handle(t)

	long := strings.Repeat("p", abi.MaxPrincipalBytes)
	tests := []struct {
		topic, payload, principal string
		wantUplink                string // the uplink probe's code; the other one always gets capability-denied
	}{
		{"pa.t", `{"k":1}`, "bob", "ok"},
		{"pa.t", `{"k":2}`, long, "ok"},
		{"pa.t", `{"k":3}`, long + "p", "invalid-input"},
		{"pa.t", `{"k":4}`, "", "invalid-input"},
		{"pa.t", `{"k":5}`, "bob smith", "invalid-input"},
		{"pa.t", `{"k":6}`, "böb", "invalid-input"},
		{"pa.other", `{"k":7}`, "bob", "capability-denied"},
		{"pa.t", `{"k":`, "bob", "invalid-input"},
	}
	for _, tt := range tests {
		id := ps.send(t, probeCmd{"op": "publish_as", "topic": tt.topic, "payload": tt.payload, "principal": tt.principal})
		if got := up.await(t, id); got.code() != tt.wantUplink {
			t.Errorf("uplink publish_as %q as %q: %v, want %s", tt.payload, tt.principal, got, tt.wantUplink)
		}
		if got := plain.await(t, id); got.code() != "capability-denied" {
			t.Errorf("publish_as %q without uplink: %v, want capability-denied", tt.payload, got)
		}
	}
	// The host and both probes see the two accepted messages, claimed, from the uplink probe.
	msgs := receive(t, host, 2, 10*time.Second)
	slices.SortFunc(msgs, func(a, b *bus.Message) int { return cmp.Compare(a.Seq, b.Seq) })
	for i, want := range []bus.Principal{bus.Claimed("bob"), bus.Claimed(long)} {
		if m := msgs[i]; m.Principal != want || m.Source != up.inst {
			t.Errorf("host received %s from %v as %v, want %v from %v", m.Payload, m.Source, m.Principal, want, up.inst)
		}
	}
	for _, p := range []struct {
		p *probeCapsule
		h uint32
	}{{up, hUp}, {plain, hPlain}} {
		var all []probeMsg
		for range 2 { // one principal per envelope: two calls
			d := p.p.poll(t, probeCmd{"op": "poll", "handle": p.h})
			if d.Code != "ok" || len(d.Messages) != 1 {
				t.Fatalf("%s poll: %+v", p.p.c.ID(), d)
			}
			all = append(all, d.Messages...)
		}
		slices.SortFunc(all, func(a, b probeMsg) int { return len(a.Principal) - len(b.Principal) })
		for i, want := range []string{"bob", long} {
			if m := all[i]; m.Kind != "claimed" || m.Principal != want || m.SourceID != up.inst.String() {
				t.Errorf("%s received %+v, want claimed(%s) from %v", p.p.c.ID(), m, want, up.inst)
			}
		}
	}
}

func probeSubscriptionQuota(t *testing.T, ps *probeSet) {
	tests := []struct {
		limit, n    int
		ok, quota   int
		description string
	}{
		// probe.cmd holds one of the slots: 127 more fit the default 128.
		{0, 130, 127, 3, "default (abi.MaxSubscriptions)"},
		{3, 3, 2, 1, "lowered to 3"},
		{200, 200, 199, 1, "raised to 200"},
	}
	for i, tt := range tests {
		p := ps.start(t, CapsuleSpec{ID: fmt.Sprint("quota-", i), Grants: grants(nil, []string{"q.*"}),
			Limits: Limits{IPC: hostfuncs.Limits{MaxSubscriptions: tt.limit}}})
		var got struct {
			Codes   map[string]int `json:"codes"`
			Handles []uint32       `json:"handles"`
		}
		p.cmd(t, probeCmd{"op": "subscribe_n", "pattern": "q.t", "n": tt.n}).decode(t, &got)
		if want := map[string]int{"ok": tt.ok, "quota": tt.quota}; !maps.Equal(got.Codes, want) {
			t.Errorf("%s: subscribe ×%d gave %v, want %v", tt.description, tt.n, got.Codes, want)
		}
		if len(got.Handles) != tt.ok || slices.Contains(got.Handles, 0) || len(slices.Compact(slices.Sorted(slices.Values(got.Handles)))) != tt.ok {
			t.Errorf("%s: handles %v are not %d distinct non-zero numbers", tt.description, got.Handles, tt.ok)
		}
		// Dropping one frees its slot, once.
		p.cmd(t, probeCmd{"op": "drop", "handle": got.Handles[0]}).wantCode(t, "ok")
		h := p.cmd(t, probeCmd{"op": "subscribe", "pattern": "q.*"}).handle(t)
		if slices.Contains(got.Handles, h) {
			t.Errorf("%s: handle %d was reissued", tt.description, h)
		}
		p.cmd(t, probeCmd{"op": "subscribe", "pattern": "q.t"}).wantCode(t, "quota")
		p.stop(t)
	}
}

func probeRateLimit(t *testing.T, ps *probeSet) {
	const budget = 1000
	p := ps.start(t, CapsuleSpec{ID: "rate", Grants: hostfuncs.Grants{Publish: []string{"rl.t"}, Uplink: true},
		Limits: Limits{IPC: hostfuncs.Limits{ThroughputBytesPerSec: budget}}})

	// fill runs the publishes of one principal's window and returns when the first one was
	// answered (the window started before that). ok reports whether all happened within one
	// window; on a very slow machine the caller retries with a fresh principal.
	fill := func(steps []struct {
		cmd  probeCmd
		want string
	}, as bus.Principal) (windowStarted time.Time, ok bool) {
		start := time.Now()
		for i, s := range steps {
			got := p.cmdAs(t, as, s.cmd)
			if i == 0 {
				windowStarted = time.Now()
			}
			if time.Since(start) > 700*time.Millisecond {
				return windowStarted, false
			}
			if got.code() != s.want {
				t.Fatalf("step %d %v as %v: %v, want %s", i, s.cmd, as, got, s.want)
			}
		}
		return windowStarted, true
	}
	type step = struct {
		cmd  probeCmd
		want string
	}
	pubAs := func(principal string, size int) probeCmd {
		return probeCmd{"op": "publish_as", "topic": "rl.t", "principal": principal, "size": size}
	}
	pub := func(size int) probeCmd { return probeCmd{"op": "publish", "topic": "rl.t", "size": size} }

	for attempt := range 3 {
		// publish-as: the budget is per claimed principal; the results (published as probeTester)
		// are charged to probeTester's own window and keep flowing.
		claimed := fmt.Sprint("rl", attempt)
		started, ok := fill([]step{
			{pubAs(claimed, 600), "ok"},
			{pubAs(claimed, 600), "rate-limited"},
			{pubAs(claimed, 400), "ok"}, // exactly fills the window
			{pubAs(claimed, 2), "rate-limited"},
			{pubAs(claimed+"x", 600), "ok"}, // another principal, another window
		}, probeTester)
		if !ok {
			t.Logf("attempt %d did not fit one window; retrying", attempt)
			continue
		}
		// Plain publish as the command's principal: the results are charged to the same window
		// (about 25 bytes each), which still leaves room for them.
		plain := bus.Verified(fmt.Sprint("plain", attempt))
		plainStarted, ok := fill([]step{
			{pub(900), "ok"},
			{pub(900), "rate-limited"},
		}, plain)
		if !ok {
			t.Logf("attempt %d did not fit one window; retrying", attempt)
			continue
		}
		// Rejected publishes cost nothing, and the windows reset after 1 s of the runtime's
		// clock, which the rate limiter reads.
		ps.clock.Advance(max(0, time.Until(started.Add(time.Second+50*time.Millisecond))))
		p.cmd(t, pubAs(claimed, 600)).wantCode(t, "ok")
		ps.clock.Advance(max(0, time.Until(plainStarted.Add(time.Second+50*time.Millisecond))))
		p.cmdAs(t, plain, pub(900)).wantCode(t, "ok")
		return
	}
	t.Fatal("this machine is too slow to observe one rate-limit window")
}

func probePayloadLimits(t *testing.T, ps *probeSet) {
	r := ps.r
	p := ps.start(t, CapsuleSpec{ID: "big", Grants: grants([]string{"big.t"}, []string{"big.t"})})
	host, err := r.Bus().Subscribe(context.Background(), "big.t", bus.SubscribeOptions{Mailbox: bus.MailboxLimits{Bytes: 8 << 20}})
	if err != nil {
		t.Fatal(err)
	}
	defer host.Close(context.Background())
	h := p.cmd(t, probeCmd{"op": "subscribe", "pattern": "big.t"}).handle(t) // a default 1 MiB mailbox

	tests := []struct {
		cmd  probeCmd
		want string
	}{
		{probeCmd{"size": abi.MaxPayloadBytes}, "ok"},
		{probeCmd{"size": abi.MaxPayloadBytes + 1}, "invalid-input"},
		{probeCmd{"payload": "not json"}, "invalid-input"},
		{probeCmd{"payload": ""}, "invalid-input"},
		{probeCmd{"payload": `{"a":`}, "invalid-input"},
		{probeCmd{"payload": `{"a":1}{"b":2}`}, "invalid-input"},
		{probeCmd{"payload": " {\"a\": [1, 2]}\n"}, "ok"},
		{probeCmd{"payload": "null"}, "ok"},
	}
	var accepted []string
	for _, tt := range tests {
		tt.cmd["op"], tt.cmd["topic"] = "publish", "big.t"
		got := p.cmd(t, tt.cmd)
		if got.code() != tt.want {
			t.Errorf("publish %.40v: %v, want %s", tt.cmd, got, tt.want)
		}
		if tt.want == "ok" {
			if s, ok := tt.cmd["size"].(int); ok {
				accepted = append(accepted, `"`+strings.Repeat("x", s-2)+`"`)
			} else {
				accepted = append(accepted, tt.cmd["payload"].(string))
			}
		}
	}
	// A roomy subscriber gets the accepted payloads byte for byte, the 1 MiB one included.
	got := receive(t, host, len(accepted), 10*time.Second)
	for i, m := range got {
		if string(m.Payload) != accepted[i] {
			t.Errorf("message %d: %d bytes %.40q, want %d bytes %.40q", i, len(m.Payload), m.Payload, len(accepted[i]), accepted[i])
		}
	}
	// The probe's own subscription, with the default mailbox (bus.DefaultMailboxBytes: 1 MiB
	// of payload plus a maximal topic), holds the 1 MiB message too: a small buffer is told the
	// size of the whole record. (Its result would not fit a probe result, so it is not fetched.)
	need := abi.EnvelopeHeaderSize + abi.MessageSize(len("big.t"), abi.MaxPayloadBytes, len("tester"))
	if got := p.cmd(t, probeCmd{"op": "poll", "handle": h, "buf": 4096}); got.code() != "buffer-too-small" || got.num(t, "len") != int64(need) {
		t.Fatalf("probe poll: %v, want buffer-too-small with len %d", got, need)
	}
}

func probePollEmptyAndClosedHandles(t *testing.T, ps *probeSet) {
	p := ps.start(t, CapsuleSpec{ID: "handles", Grants: grants(nil, []string{"ps.t"})})
	h := p.cmd(t, probeCmd{"op": "subscribe", "pattern": "ps.t"}).handle(t)

	if d := p.poll(t, probeCmd{"op": "poll", "handle": h}); d.Code != "ok" || d.Len != abi.EnvelopeHeaderSize || len(d.Messages) != 0 || d.Dropped != 0 {
		t.Fatalf("poll of an empty subscription: %+v", d)
	}
	start := time.Now()
	if d := p.poll(t, probeCmd{"op": "recv", "handle": h, "timeout_ms": 50}); d.Code != "ok" || len(d.Messages) != 0 {
		t.Fatalf("recv timeout: %+v, want ok with no messages", d)
	} else if el := time.Since(start); el < 50*time.Millisecond {
		t.Fatalf("recv with a 50 ms timeout returned after %v", el)
	}
	if got := p.cmd(t, probeCmd{"op": "wait", "handles": []uint32{h}, "timeout_ms": 10}); got.code() != "ok" || got.num(t, "len") != 0 {
		t.Fatalf("wait timeout: %v", got)
	}
	p.cmd(t, probeCmd{"op": "poll", "handle": h, "buf": abi.EnvelopeHeaderSize - 1}).wantCode(t, "buffer-too-small")

	p.cmd(t, probeCmd{"op": "drop", "handle": h}).wantCode(t, "ok")
	for _, c := range []probeCmd{
		{"op": "poll", "handle": h},
		{"op": "recv", "handle": h, "timeout_ms": 1000},
		{"op": "wait", "handles": []uint32{h}, "timeout_ms": 1000},
		{"op": "drop", "handle": h},
		{"op": "poll", "handle": 0},
		{"op": "poll", "handle": -1},
		{"op": "drop", "handle": h + 1000},
	} {
		if got := p.cmd(t, c); got.code() != "closed" {
			t.Errorf("%v: %v, want closed", c, got)
		}
	}
	if h2 := p.cmd(t, probeCmd{"op": "subscribe", "pattern": "ps.t"}).handle(t); h2 == h {
		t.Fatalf("dropped handle %d was reissued", h)
	}
}

func probeBufferTooSmallRetryLosesNothing(t *testing.T, ps *probeSet) {
	p := ps.start(t, CapsuleSpec{ID: "bts", Grants: grants([]string{"bts.t"}, []string{"bts.t"})})
	h := p.cmd(t, probeCmd{"op": "subscribe", "pattern": "bts.t"}).handle(t)
	for range 2 {
		p.cmd(t, probeCmd{"op": "publish", "topic": "bts.t", "size": 202}).wantCode(t, "ok")
	}
	// One message: 24-byte header + 48-byte record header + topic + payload + principal.
	need := abi.EnvelopeHeaderSize + abi.MessageSize(len("bts.t"), 202, len("tester"))
	for _, c := range []probeCmd{
		{"op": "poll", "handle": h, "buf": 100},
		{"op": "poll", "handle": h, "buf": need - 1},
		{"op": "recv", "handle": h, "buf": need - 1, "timeout_ms": 1000},
	} {
		got := p.cmd(t, c)
		if got.code() != "buffer-too-small" || got.num(t, "len") != int64(need) {
			t.Fatalf("%v: %v, want buffer-too-small with len %d", c, got, need)
		}
	}
	// Retrying with the size asked for returns the messages, one per call here since only one
	// fits, then nothing.
	var seqs []uint64
	for range 2 {
		d := p.poll(t, probeCmd{"op": "poll", "handle": h, "buf": need})
		if d.Code != "ok" || d.Len != uint32(need) || len(d.Messages) != 1 || len(d.Messages[0].Payload) != 202 || d.Dropped != 0 {
			t.Fatalf("retry with %d bytes: %+v", need, d)
		}
		seqs = append(seqs, d.Messages[0].Seq)
	}
	if seqs[0] >= seqs[1] {
		t.Fatalf("messages out of order: seqs %v", seqs)
	}
	if d := p.poll(t, probeCmd{"op": "poll", "handle": h}); d.Code != "ok" || len(d.Messages) != 0 || d.Dropped != 0 {
		t.Fatalf("after the retries: %+v, want nothing left and nothing dropped", d)
	}
}

func probeMixedPrincipalsSplitAcrossCalls(t *testing.T, ps *probeSet) {
	r := ps.r
	p := ps.start(t, CapsuleSpec{ID: "mix", Grants: grants(nil, []string{"mix.t"})})
	h := p.cmd(t, probeCmd{"op": "subscribe", "pattern": "mix.t"}).handle(t)
	principals := []bus.Principal{bus.Verified("p0"), bus.Claimed("p1"), bus.System(), bus.Claimed("p0")}
	const n = 40
	for i := range n {
		publishAsHost(t, r, "mix.t", fmt.Sprint(i), principals[i%len(principals)])
	}
	seen := map[int]int{}
	last := map[string]int{}
	envelopes := 0
	for {
		d := p.poll(t, probeCmd{"op": "poll", "handle": h})
		if d.Code != "ok" || d.Dropped != 0 {
			t.Fatalf("poll: %+v", d)
		}
		if len(d.Messages) == 0 {
			break
		}
		envelopes++
		first := d.Messages[0]
		for _, m := range d.Messages {
			if m.Kind != first.Kind || m.Principal != first.Principal {
				t.Fatalf("one envelope mixes %s(%s) and %s(%s)", first.Kind, first.Principal, m.Kind, m.Principal)
			}
			i, err := strconv.Atoi(m.Payload)
			if err != nil {
				t.Fatal(err)
			}
			want := principals[i%len(principals)]
			if m.Kind != want.Kind.String() || m.Principal != want.ID {
				t.Fatalf("message %d arrived as %s(%s), published as %v", i, m.Kind, m.Principal, want)
			}
			pk := m.Kind + "/" + m.Principal
			if prev, ok := last[pk]; ok && i <= prev {
				t.Fatalf("%s: message %d after %d", pk, i, prev)
			}
			last[pk] = i
			seen[i]++
		}
	}
	for i := range n {
		if seen[i] != 1 {
			t.Errorf("message %d received %d times", i, seen[i])
		}
	}
	if envelopes < len(principals) {
		t.Errorf("%d envelopes for %d principals", envelopes, len(principals))
	}
}

// probeCallerPropagation: after the probe received a message from claimed(bob), what it
// publishes while handling it carries claimed(bob); a command from the runtime (system) makes
// it act as its owner.
func probeCallerPropagation(t *testing.T, ps *probeSet) {
	r := ps.r
	p := ps.start(t, CapsuleSpec{ID: "caller", Owner: "alice", Grants: grants([]string{"cp.out"}, []string{"cp.t"})})
	out := hostSubscribe(t, r, "cp.out")
	h := p.cmd(t, probeCmd{"op": "subscribe", "pattern": "cp.t"}).handle(t)
	bobSource := uuid.New()
	res, err := r.Bus().Publish("cp.t", []byte(`{"who":"bob"}`), bobSource, bus.Claimed("bob"))
	if err != nil {
		t.Fatal(err)
	}
	bobMsg := res.Message

	// Keep the probe busy so that the next three commands arrive in one batch: the recv
	// installs bob as the caller, and the two commands after it run as bob.
	delivered := p.c.Status().Delivered + 1
	sleepID := ps.send(t, probeCmd{"op": "sleep", "ns": int64(400 * time.Millisecond)})
	waitYielding(t, p.c, delivered, true) // the probe has taken the sleep command and sleeps
	recvID := ps.send(t, probeCmd{"op": "recv", "handle": h, "timeout_ms": 1000})
	callerID := ps.send(t, probeCmd{"op": "caller"})
	pubID := ps.send(t, probeCmd{"op": "publish", "topic": "cp.out", "payload": `"as bob"`})

	if m := p.awaitMsg(t, sleepID); m.Principal != probeTester {
		t.Errorf("sleep result carries %v, want the command's %v", m.Principal, probeTester)
	}
	m := p.awaitMsg(t, recvID)
	var d probeDelivery
	decodeProbeResult(t, m.Payload).decode(t, &d)
	if d.Code != "ok" || len(d.Messages) != 1 || d.Messages[0].Kind != "claimed" || d.Messages[0].Principal != "bob" {
		t.Fatalf("recv: %+v", d)
	}
	if m.Principal != bus.Claimed("bob") {
		t.Errorf("the recv's result, published after the recv, carries %v, want claimed(bob)", m.Principal)
	}
	m = p.awaitMsg(t, callerID)
	c := decodeProbeResult(t, m.Payload)
	if c.code() != "ok" || c["kind"] != "claimed" || c["principal"] != "bob" || c["source_id"] != bobSource.String() ||
		c.num(t, "time_unix_nano") != bobMsg.Time.UnixNano() || c["none"] != false {
		t.Errorf("caller after recv: %v, want claimed(bob) from %v at %d", c, bobSource, bobMsg.Time.UnixNano())
	}
	if m.Principal != bus.Claimed("bob") {
		t.Errorf("caller result carries %v, want claimed(bob)", m.Principal)
	}
	p.await(t, pubID).wantCode(t, "ok")
	if got := receive(t, out, 1, 10*time.Second)[0]; got.Principal != bus.Claimed("bob") || got.Source != p.inst || string(got.Payload) != `"as bob"` {
		t.Errorf("publish after recv: %s from %v as %v, want claimed(bob) from the probe", got.Payload, got.Source, got.Principal)
	}

	// The next command is the new caller.
	id, cmdMsg := ps.publishCmd(t, probeTester, probeCmd{"op": "caller"})
	m = p.awaitMsg(t, id)
	c = decodeProbeResult(t, m.Payload)
	if c["kind"] != "verified" || c["principal"] != "tester" || c["source_id"] != uuid.Nil.String() ||
		c.num(t, "time_unix_nano") != cmdMsg.Time.UnixNano() || m.Principal != probeTester {
		t.Errorf("caller of a command from %v: %v (result carries %v)", probeTester, c, m.Principal)
	}

	// A system command: the caller is system, and publishes carry the owner, verified.
	id, cmdMsg = ps.publishCmd(t, bus.System(), probeCmd{"op": "caller"})
	m = p.awaitMsg(t, id)
	c = decodeProbeResult(t, m.Payload)
	if c["kind"] != "system" || c["principal"] != "" || c["source_id"] != uuid.Nil.String() ||
		c.num(t, "time_unix_nano") != cmdMsg.Time.UnixNano() || c["none"] != false {
		t.Errorf("caller of a system command: %v", c)
	}
	if m.Principal != bus.Verified("alice") {
		t.Errorf("result of a system command carries %v, want the owner verified(alice)", m.Principal)
	}
	p.cmdAs(t, bus.System(), probeCmd{"op": "publish", "topic": "cp.out", "payload": `"as owner"`}).wantCode(t, "ok")
	if got := receive(t, out, 1, 10*time.Second)[0]; got.Principal != bus.Verified("alice") {
		t.Errorf("publish while handling a system command carries %v, want verified(alice)", got.Principal)
	}
	// An empty poll keeps the caller.
	id = ps.send(t, probeCmd{"op": "poll", "handle": h})
	if m := p.awaitMsg(t, id); m.Principal != probeTester {
		t.Errorf("result after an empty poll carries %v, want %v", m.Principal, probeTester)
	}
}

func probeStopWhileBlockedInRecv(t *testing.T, ps *probeSet) {
	r := ps.r
	var durations []time.Duration
	for i := range 5 {
		base := r.Bus().Stats().Subscriptions
		p := ps.start(t, CapsuleSpec{ID: fmt.Sprint("blocked-", i), Grants: grants(nil, []string{"blk.t"})})
		ready := r.Bus().Stats().Subscriptions
		ps.send(t, probeCmd{"op": "block_recv", "pattern": "blk.t", "timeout_ms": 60000})
		checkFor(t, 10*time.Second, "the block_recv subscription", func() bool { return r.Bus().Stats().Subscriptions > ready })
		waitYielding(t, p.c, 0, true) // from subscribe to recv
		start := time.Now()
		p.stop(t)
		durations = append(durations, time.Since(start))
		if st := p.c.Status(); st.State != StateStopped || st.Instances != 1 || st.LastError != "" {
			t.Fatalf("status after stop: %+v", st)
		}
		if n := r.Bus().Stats().Subscriptions; n != base {
			t.Fatalf("%d subscriptions after the stop, want %d", n, base)
		}
	}
	slices.Sort(durations)
	t.Logf("stop of a Go guest blocked in recv: %v", durations)
	// The recv would block for 60 s and a stop abandons a guest after capsuleactor.ShutdownGrace (5 s):
	// well under a second means the cancellation woke the recv (typically under 10 ms; the
	// bound is loose so that a loaded machine passes).
	if median := durations[len(durations)/2]; median >= time.Second {
		t.Fatalf("median stop took %v, want < 1s (all: %v)", median, durations)
	}
}

func probeStopSpinningGuest(t *testing.T, ps *probeSet) {
	// The watchdog is off for this capsule: only the stop can end the loop.
	p := ps.start(t, CapsuleSpec{ID: "spin", Watchdog: &supervision.Watchdog{}})
	delivered := p.c.Status().Delivered + 1
	id := ps.send(t, probeCmd{"op": "spin"})
	waitYielding(t, p.c, delivered, false) // it took the spin command, and spins without yielding
	ps.collect(t, 0)
	if _, replied := ps.got[probeKey{p.inst, id}]; replied {
		t.Fatal("spin replied")
	}
	if st := p.c.Status(); st.State != StateReady {
		t.Fatalf("spinning probe: %+v", st)
	}
	start := time.Now()
	p.stop(t)
	took := time.Since(start)
	t.Logf("stop of a spinning Go guest: %v", took)
	if took >= capsuleactor.ShutdownGrace/2 {
		t.Fatalf("stop took %v: the loop was not interrupted (grace %v)", took, capsuleactor.ShutdownGrace)
	}
	if st := p.c.Status(); st.State != StateStopped || st.LastError != "" {
		t.Fatalf("status after stop: %+v", st)
	}
}

func probeHostilePointers(t *testing.T, ps *probeSet) {
	p := ps.start(t, CapsuleSpec{ID: "hostile", Config: map[string]string{"k": "v"},
		Grants: hostfuncs.Grants{Publish: []string{"h.t"}, Subscribe: []string{"h.t"}, Uplink: true}})
	sc := p.cmd(t, probeCmd{"op": "scratch"})
	P := sc.num(t, "ptr")
	if sc.num(t, "len") != 64<<10 {
		t.Fatalf("scratch: %v", sc)
	}
	h := int64(p.cmd(t, probeCmd{"op": "subscribe", "pattern": "h.t"}).handle(t))
	const (
		top = 4294967295 // the last byte of the 32-bit address space
		far = 1 << 31    // far past any memory the capsule may have (64 MiB limit)
	)
	tests := []struct {
		name  string
		fn    string
		args  []int64
		write string
		want  string
	}{
		{"publish topic at the top", "publish", []int64{top, 2, P, 2}, "", "invalid-input"},
		{"publish topic over 256 bytes", "publish", []int64{P, 257, P, 2}, "", "invalid-input"},
		{"publish payload at the top", "publish", []int64{P, 3, top, 2}, "h.t", "invalid-input"},
		{"publish payload far away", "publish", []int64{P, 3, far, 2}, "h.t", "invalid-input"},
		{"publish huge payload length", "publish", []int64{P, 3, P + 3, top}, "h.t{}", "invalid-input"}, // §2: range checks come first
		{"publish from the scratch buffer", "publish", []int64{P, 3, P + 3, 2}, "h.t{}", "ok"},
		{"publish-as principal at the top", "publish-as", []int64{P, 3, P + 3, 2, top, 3}, "h.t{}bob", "invalid-input"},
		{"publish-as principal over 64 bytes", "publish-as", []int64{P, 3, P + 3, 2, P + 5, 65}, "h.t{}bob", "invalid-input"},
		{"publish-as from the scratch buffer", "publish-as", []int64{P, 3, P + 3, 2, P + 5, 3}, "h.t{}bob", "ok"},
		{"subscribe pattern at the top", "subscribe", []int64{top, 3, P + 100}, "", "invalid-input"},
		{"subscribe handle_out past the end", "subscribe", []int64{P, 3, top - 2}, "h.t", "invalid-input"},
		{"poll buffer at the top", "subscription-poll", []int64{h, top, 2, P + 100}, "", "invalid-input"},
		{"poll buffer far away", "subscription-poll", []int64{h, far, 1024, P + 100}, "", "invalid-input"},
		{"poll len_out at the top", "subscription-poll", []int64{h, P, 1024, top}, "", "invalid-input"},
		{"recv buffer far away", "subscription-recv", []int64{h, 1000, far, 100, P + 100}, "", "invalid-input"},
		{"recv len_out past the end", "subscription-recv", []int64{h, 1000, P, 1024, top - 2}, "", "invalid-input"},
		{"wait too many handles", "subscription-wait", []int64{P, 129, 0, P + 1024, 1, P + 100}, "", "too-large"},
		{"wait handles at the top", "subscription-wait", []int64{top, 1, 0, P + 1024, 1, P + 100}, "", "invalid-input"},
		{"wait ready_cap overflowing", "subscription-wait", []int64{P, 1, 0, P + 1024, 1 << 30, P + 100}, "", "invalid-input"},
		{"drop of a never-issued handle", "subscription-drop", []int64{top}, "", "closed"},
		{"bindings buffer at the top", "get-interceptor-bindings", []int64{top, 4, P + 100}, "", "invalid-input"},
		{"log message at the top", "log", []int64{2, top, 2}, "", "invalid-input"},
		{"log message over 64 KiB", "log", []int64{2, P, 65537}, "", "too-large"},
		{"log level 5", "log", []int64{5, P, 1}, "x", "invalid-input"},
		{"log level -1", "log", []int64{-1, P, 1}, "x", "invalid-input"},
		{"get-caller buffer at the top", "get-caller", []int64{top, 64, P + 100}, "", "invalid-input"},
		{"get-caller buffer too small", "get-caller", []int64{P, 1, P + 100}, "", "buffer-too-small"},
		{"random-bytes at the top", "random-bytes", []int64{top, 1}, "", "invalid-input"},
		{"random-bytes over 4096", "random-bytes", []int64{P, 4097}, "", "too-large"},
		{"random-bytes 4096", "random-bytes", []int64{P, 4096}, "", "ok"},
		{"get-config key at the top", "get-config", []int64{top, 1, P + 8, 64, P + 100}, "", "invalid-input"},
		{"get-config key over 256 bytes", "get-config", []int64{P, 257, P + 8, 64, P + 100}, "", "too-large"},
		{"get-config missing key, bad buffer", "get-config", []int64{P, 1, top, 64, P + 100}, "z", "invalid-input"},
		{"get-config missing key", "get-config", []int64{P, 1, P + 8, 64, P + 100}, "z", "not-found"},
		{"sleep-ns negative", "sleep-ns", []int64{-1}, "", "invalid-input"},
		{"sleep-ns over 60 s", "sleep-ns", []int64{abi.MaxSleepNanos + 1}, "", "too-large"},
		{"signal-ready again", "signal-ready", nil, "", "ok"},
	}
	for _, tt := range tests {
		c := probeCmd{"op": "raw", "fn": tt.fn, "args": tt.args}
		if tt.args == nil {
			c["args"] = []int64{}
		}
		if tt.write != "" {
			c["write"] = tt.write
		}
		if got := p.cmd(t, c); got.code() != tt.want {
			t.Errorf("%s: %v, want %s", tt.name, got, tt.want)
		}
	}

	// Results written through raw pointers land where they were asked to.
	var out struct {
		Code string `json:"code"`
		Out  []byte `json:"out"`
	}
	p.cmd(t, probeCmd{"op": "raw", "fn": "get-config", "args": []int64{P, 1, P + 8, 64, P + 100}, "write": "k", "read": 104}).decode(t, &out)
	if out.Code != "ok" || out.Out[8] != 'v' || binary.LittleEndian.Uint32(out.Out[100:]) != 1 {
		t.Errorf("raw get-config: %+v", out)
	}
	p.cmd(t, probeCmd{"op": "raw", "fn": "get-caller", "args": []int64{P, 1, P + 100}, "read": 104}).decode(t, &out)
	if need := binary.LittleEndian.Uint32(out.Out[100:]); need != abi.CallerHeaderSize+uint32(len("tester")) {
		t.Errorf("get-caller asked for %d bytes, want %d", need, abi.CallerHeaderSize+len("tester"))
	}

	// The probe survived all of it: it still answers, and the two raw publishes arrived (two
	// principals: two envelopes).
	var got []string
	for range 3 {
		d := p.poll(t, probeCmd{"op": "poll", "handle": h})
		if d.Code != "ok" || d.Dropped != 0 {
			t.Fatalf("poll after the hostile calls: %+v", d)
		}
		for _, m := range d.Messages {
			got = append(got, m.Kind+"("+m.Principal+") "+m.Payload)
		}
	}
	slices.Sort(got)
	if want := []string{"claimed(bob) {}", "verified(tester) {}"}; !slices.Equal(got, want) {
		t.Fatalf("raw publishes received as %q, want %q", got, want)
	}
	if st := p.c.Status(); st.State != StateReady || st.Instances != 1 {
		t.Fatalf("status after the hostile calls: %+v", st)
	}
}

func probeSys(t *testing.T, ps *probeSet) {
	logs := ps.logs
	bindings := []abi.Binding{{HandleID: 7, Priority: 10, Action: "on_never", Topic: "never.published"}}
	p := ps.start(t, CapsuleSpec{ID: "sys", Bindings: bindings,
		Config: map[string]string{"greeting": "hello", "empty": "", "long": strings.Repeat("v", 1000)}})

	t.Run("config", func(t *testing.T) {
		tests := []struct{ key, code, value string }{
			{"greeting", "ok", "hello"},
			{"empty", "ok", ""},
			{"long", "ok", strings.Repeat("v", 1000)}, // over the SDK's first 256-byte buffer
			{"missing", "not-found", ""},
			{"Greeting", "not-found", ""},
			{strings.Repeat("k", abi.MaxTopicBytes+1), "too-large", ""},
		}
		for _, tt := range tests {
			got := p.cmd(t, probeCmd{"op": "config", "key": tt.key})
			if got.code() != tt.code || got["value"] != tt.value {
				t.Errorf("config %.20q: %.60v, want %s %.20q", tt.key, got, tt.code, tt.value)
			}
		}
	})
	t.Run("random", func(t *testing.T) {
		tests := []struct {
			n    int
			code string
			len  int64
		}{{0, "ok", 0}, {32, "ok", 32}, {abi.MaxRandomBytes, "ok", abi.MaxRandomBytes}, {abi.MaxRandomBytes + 1, "too-large", 0}, {-1, "invalid-input", 0}}
		for _, tt := range tests {
			if got := p.cmd(t, probeCmd{"op": "random", "n": tt.n}); got.code() != tt.code || got.num(t, "len") != tt.len {
				t.Errorf("random %d: %v, want %s with %d bytes", tt.n, got, tt.code, tt.len)
			}
		}
		// The host's own answer past the limit (the SDK refuses before calling it).
		sc := p.cmd(t, probeCmd{"op": "scratch"})
		p.cmd(t, probeCmd{"op": "raw", "fn": "random-bytes", "args": []int64{sc.num(t, "ptr"), abi.MaxRandomBytes + 1}}).wantCode(t, "too-large")
	})
	t.Run("sleep", func(t *testing.T) {
		start := time.Now()
		p.cmd(t, probeCmd{"op": "sleep", "ns": int64(20 * time.Millisecond)}).wantCode(t, "ok")
		if el := time.Since(start); el < 20*time.Millisecond {
			t.Errorf("a 20 ms sleep returned after %v", el)
		}
		for _, tt := range []struct {
			ns   int64
			code string
		}{{0, "ok"}, {-5, "ok"}, {abi.MaxSleepNanos + 1, "too-large"}, {1 << 62, "too-large"}} {
			if got := p.cmd(t, probeCmd{"op": "sleep", "ns": tt.ns}); got.code() != tt.code {
				t.Errorf("sleep %d: %v, want %s", tt.ns, got, tt.code)
			}
		}
	})
	t.Run("log", func(t *testing.T) {
		levels := []struct {
			level int
			zap   zapcore.Level
			trace bool
		}{{0, zapcore.DebugLevel, true}, {1, zapcore.DebugLevel, false}, {2, zapcore.InfoLevel, false}, {3, zapcore.WarnLevel, false}, {4, zapcore.ErrorLevel, false}}
		for _, l := range levels {
			msg := fmt.Sprint("probe-log-", l.level)
			p.cmd(t, probeCmd{"op": "log", "level": l.level, "msg": msg}).wantCode(t, "ok")
			entries := logs.FilterMessage(msg).All()
			if len(entries) != 1 {
				t.Fatalf("%d log entries %q", len(entries), msg)
			}
			e := entries[0]
			f := e.ContextMap()
			if e.Level != l.zap || e.LoggerName != "capsule" || f["capsule_id"] != "sys" || f["principal"] != "verified(tester)" {
				t.Errorf("level %d logged as %v by %q with %v", l.level, e.Level, e.LoggerName, f)
			}
			if trace, _ := f["trace"].(bool); trace != l.trace {
				t.Errorf("level %d: trace field %v", l.level, f["trace"])
			}
		}
		for _, tt := range []struct {
			level int64
			msg   string
			code  string
		}{{5, "x", "invalid-input"}, {-1, "x", "invalid-input"}, {4294967296 + 2, "wrapped", "ok"}, {2, strings.Repeat("m", hostfuncs.MaxLogBytes), "ok"}, {2, strings.Repeat("m", hostfuncs.MaxLogBytes+1), "too-large"}} {
			if got := p.cmd(t, probeCmd{"op": "log", "level": tt.level, "msg": tt.msg}); got.code() != tt.code {
				t.Errorf("log level %d, %d bytes: %v, want %s", tt.level, len(tt.msg), got, tt.code)
			}
		}
	})
	t.Run("caller", func(t *testing.T) {
		// Every command is itself a message, so the probe always has a caller here: the
		// "none" case (no message handled yet) cannot be reached through the probe.
		id, cmdMsg := ps.publishCmd(t, probeTester, probeCmd{"op": "caller"})
		got := p.await(t, id)
		if got.code() != "ok" || got["kind"] != "verified" || got["principal"] != "tester" || got["none"] != false ||
			got["source_id"] != uuid.Nil.String() || got.num(t, "time_unix_nano") != cmdMsg.Time.UnixNano() {
			t.Errorf("caller: %v", got)
		}
	})
	t.Run("bindings", func(t *testing.T) {
		var got struct {
			Code     string `json:"code"`
			Bindings []struct {
				HandleID uint64 `json:"handle_id"`
				Priority uint32 `json:"priority"`
				Action   string `json:"action"`
				Topic    string `json:"topic"`
			} `json:"bindings"`
		}
		p.cmd(t, probeCmd{"op": "bindings"}).decode(t, &got)
		if got.Code != "ok" || len(got.Bindings) != 1 || got.Bindings[0].HandleID != 7 || got.Bindings[0].Priority != 10 ||
			got.Bindings[0].Action != "on_never" || got.Bindings[0].Topic != "never.published" {
			t.Errorf("bindings: %+v", got)
		}
	})
	t.Run("clocks", func(t *testing.T) {
		before := time.Now().UnixMilli()
		wall := p.cmd(t, probeCmd{"op": "raw", "fn": "clock-ms", "args": []int64{}}).num(t, "value")
		after := time.Now().UnixMilli()
		if wall < before-1000 || wall > after+1000 {
			t.Errorf("clock-ms %d, host clock %d..%d", wall, before, after)
		}
		m1 := p.cmd(t, probeCmd{"op": "raw", "fn": "clock-monotonic-ns", "args": []int64{}}).num(t, "value")
		m2 := p.cmd(t, probeCmd{"op": "raw", "fn": "clock-monotonic-ns", "args": []int64{}}).num(t, "value")
		if m1 <= 0 || m2 <= m1 {
			t.Errorf("clock-monotonic-ns %d then %d", m1, m2)
		}
	})
	if st := p.c.Status(); st.State != StateReady || st.Instances != 1 {
		t.Fatalf("status: %+v", st)
	}
}

// BenchmarkProbeCommandRoundTrip measures one command through a Go guest: host publish, the
// probe's recv, JSON decode, a caller lookup, its publish, the host's receive.
func BenchmarkProbeCommandRoundTrip(b *testing.B) {
	r := newRuntime(b)
	ps := newProbeSet(b, r)
	p := ps.start(b, CapsuleSpec{ID: "bench", Limits: benchLimits})
	b.ResetTimer()
	for range b.N {
		if got := p.cmd(b, probeCmd{"op": "caller"}); got.code() != "ok" {
			b.Fatal(got)
		}
	}
}

// probeSDKWait runs guest.Wait in a real Go guest: the SDK passes ready_cap in bytes and reads
// the length back in bytes (4 per handle), so it sees every ready subscription.
func probeSDKWait(t *testing.T, ps *probeSet) {
	r := ps.r
	p := ps.start(t, CapsuleSpec{ID: "sdkwait", Grants: grants(nil, []string{"sw.*"})})
	ha := p.cmd(t, probeCmd{"op": "subscribe", "pattern": "sw.a"}).handle(t)
	hb := p.cmd(t, probeCmd{"op": "subscribe", "pattern": "sw.b"}).handle(t)
	hc := p.cmd(t, probeCmd{"op": "subscribe", "pattern": "sw.c"}).handle(t)
	publishAsHost(t, r, "sw.b", `1`, bus.System())
	publishAsHost(t, r, "sw.c", `2`, bus.System())
	var got struct {
		Code  string   `json:"code"`
		Ready []uint32 `json:"ready"`
	}
	p.cmd(t, probeCmd{"op": "sdk_wait", "handles": []uint32{ha, hb, hc}, "timeout_ms": 1000}).decode(t, &got)
	if got.Code != "ok" || !slices.Equal(got.Ready, []uint32{hb, hc}) {
		t.Fatalf("guest.Wait = %+v, want ok with [%d %d]", got, hb, hc)
	}
}

// probePublishBatch runs guest.PublishBatch (astrid:ipc@1.1.0) in a real Go guest: records are
// published in order as the command's principal until the first failing one.
func probePublishBatch(t *testing.T, ps *probeSet) {
	sub := hostSubscribe(t, ps.r, "pb.*")
	p := ps.start(t, CapsuleSpec{ID: "batcher", Grants: grants([]string{"pb.*"}, nil)})
	type rec = map[string]string
	got := p.cmd(t, probeCmd{"op": "publish_batch", "records": []rec{
		{"topic": "pb.1", "payload": "1"}, {"topic": "pb.2", "payload": `{"k":2}`},
		{"topic": "nope", "payload": "3"}, {"topic": "pb.3", "payload": "4"}}})
	if got.code() != "capability-denied" || got.num(t, "accepted") != 2 {
		t.Fatalf("publish_batch = %v, want capability-denied with 2 accepted", got)
	}
	msgs := receive(t, sub, 2, probeTimeout)
	if len(msgs) != 2 || string(msgs[0].Payload) != "1" || msgs[1].Topic != "pb.2" ||
		msgs[0].Principal != probeTester || msgs[0].Source != p.inst {
		t.Fatalf("received %+v", msgs)
	}
	if n := sub.Mailbox().Len(); n != 0 {
		t.Fatalf("%d more messages after the failing record", n)
	}
}
