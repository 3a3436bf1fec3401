package cluster

import (
	"sync"
	"time"
	_ "unsafe" // go:linkname

	_ "github.com/nats-io/nats-server/v2/server" // the variables below live there
)

// The embedded NATS server's RAFT timings are package variables without an option: a follower
// waits 4–9 s without a heartbeat (sent every second) before it calls an election. With those
// values a lease bucket whose stream leader was SIGKILLed accepts no write for up to 9 s,
// which breaks the 1.5 s takeover bound (docs/cluster.md, RATIONALE.md "Placement"). The node
// shortens them once per process, before its first server starts; nats-server's own tests set
// the same variables.
var (
	//go:linkname raftMinElectionTimeout github.com/nats-io/nats-server/v2/server.minElectionTimeout
	raftMinElectionTimeout time.Duration
	//go:linkname raftMaxElectionTimeout github.com/nats-io/nats-server/v2/server.maxElectionTimeout
	raftMaxElectionTimeout time.Duration
	//go:linkname raftHBInterval github.com/nats-io/nats-server/v2/server.hbInterval
	raftHBInterval time.Duration
	//go:linkname raftLostQuorumInterval github.com/nats-io/nats-server/v2/server.lostQuorumInterval
	raftLostQuorumInterval time.Duration
	//go:linkname raftLostQuorumCheck github.com/nats-io/nats-server/v2/server.lostQuorumCheck
	raftLostQuorumCheck time.Duration
)

// RAFT timings of the embedded servers (see above).
const (
	raftHeartbeat      = 100 * time.Millisecond
	raftElectionMin    = 300 * time.Millisecond
	raftElectionMax    = 600 * time.Millisecond
	raftLostQuorumTime = time.Second
)

var raftTimingOnce sync.Once

func setRaftTiming() {
	raftTimingOnce.Do(func() {
		raftHBInterval = raftHeartbeat
		raftMinElectionTimeout = raftElectionMin
		raftMaxElectionTimeout = raftElectionMax
		raftLostQuorumInterval = raftLostQuorumTime
		raftLostQuorumCheck = raftLostQuorumTime
	})
}
