package cluster

import (
	"syscall"
	"testing"
	"time"
)

// owners polls every node's claim until exactly one holds the lease (and at least one node
// other than those in skip answers), returning the owner's index and reply.
func waitOneOwner(t *testing.T, ps []*proc, skip map[int]bool, d time.Duration, after uint64) (int, nodeReply) {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		owner, count := -1, 0
		var rep nodeReply
		for i, p := range ps {
			if skip[i] {
				continue
			}
			if r := p.do("owner"); r.Owned && r.OwnedAtNs > r.LostAtNs { // onOwn ran
				owner, rep = i, r
				count++
			}
		}
		if count == 1 && rep.Token > after {
			return owner, rep
		}
		if count > 1 {
			t.Fatalf("%d nodes hold the lease at once", count)
		}
		if time.Now().After(deadline) {
			t.Fatalf("no single owner (token > %d) after %v: %d owners", after, d, count)
		}
	}
}

// waitTokenSeen polls p's subscriber until it got messages of the instance with token.
func waitTokenSeen(t *testing.T, p *proc, token uint64, n uint64) nodeReply {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		r := p.do("stats")
		if r.Tokens[token].Count >= n {
			return r
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s got %d messages of token %d, want %d (tokens %v)", p.name, r.Tokens[token].Count, token, n, r.Tokens)
		}
	}
}

// waitBuckets waits until every node opened the lease bucket with 3 replicas.
func waitBuckets(t *testing.T, ps []*proc) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for _, p := range ps {
		for {
			r := p.do("owner")
			if r.Leases.Bucket && r.Leases.Replicas == 3 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: lease bucket %+v", p.name, r.Leases)
			}
		}
	}
}

// TestProcessesPlacementOneOwnerSIGKILLTakeover: three node processes bid for the same lease
// (a cluster-placed capsule every node loads): exactly one holds it, and its instance is the
// only one whose messages anyone gets. The owner is killed with SIGKILL: a survivor takes the
// lease over within 1.5 s with a newer token and its instance runs there; the survivors close
// without a goroutine left.
func TestProcessesPlacementOneOwnerSIGKILLTakeover(t *testing.T) {
	ps := startProcTrio(t)
	for _, p := range ps {
		p.do("sub placed.*")
		p.do("claim")
	}
	waitBuckets(t, ps)
	owner, r := waitOneOwner(t, ps, nil, 20*time.Second, 0)
	first := r.Token
	// The owner stays the only one: a few more rounds, and every subscriber gets the messages
	// of that instance only.
	for range 5 {
		if o, r2 := waitOneOwner(t, ps, nil, time.Second, 0); o != owner || r2.Token != first {
			t.Fatalf("owner moved from %s (token %d) to %s (token %d) without a failure", ps[owner].name, first, ps[o].name, r2.Token)
		}
	}
	for _, p := range ps {
		if got := waitTokenSeen(t, p, first, 50).Tokens; len(got) != 1 {
			t.Fatalf("%s got messages of %d instances: %v", p.name, len(got), got)
		}
	}
	killed := time.Now()
	if err := ps[owner].cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = ps[owner].cmd.Wait()
	next, r := waitOneOwner(t, ps, map[int]bool{owner: true}, 10*time.Second, first)
	takeover := time.Duration(r.OwnedAtNs - killed.UnixNano())
	t.Logf("owner %s (token %d) killed; %s took over with token %d after %v", ps[owner].name, first, ps[next].name, r.Token, takeover)
	if takeover > 1500*time.Millisecond {
		t.Errorf("takeover after SIGKILL took %v, want ≤ 1.5 s", takeover)
	}
	var survivors []*proc
	for i, p := range ps {
		if i != owner {
			survivors = append(survivors, p)
			waitTokenSeen(t, p, r.Token, 50)
		}
	}
	for _, p := range survivors {
		p.quit()
	}
}
