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

// waitRenewals waits until p renewed its lease n times: the lease bucket's RAFT group is past
// its first second (a stream leader killed right after the bucket was created stalled the
// bucket for more than 4 s in a trial).
func waitRenewals(t *testing.T, p *proc, n uint64) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for p.do("owner").Leases.Renewals < n {
		if time.Now().After(deadline) {
			t.Fatalf("%s did not renew its lease %d times", p.name, n)
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
	waitRenewals(t, ps[owner], 4)
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

// TestProcessesPlacementSIGSTOPFencing: the owner of the lease is frozen with SIGSTOP. A
// survivor takes the lease over (newer token) and its instance runs; the frozen node, resumed
// with SIGCONT, finds its lease gone and stops its instance at once. After the new owner
// started, no message of the old instance reaches a subscriber on the other nodes: whatever
// the old instance published after its lease lapsed is refused (fenced, counted) at its node or
// at the receivers.
func TestProcessesPlacementSIGSTOPFencing(t *testing.T) {
	ps := startProcTrio(t)
	for _, p := range ps {
		p.do("sub placed.*")
		p.do("claim")
	}
	waitBuckets(t, ps)
	old, r := waitOneOwner(t, ps, nil, 20*time.Second, 0)
	first := r.Token
	waitRenewals(t, ps[old], 4)
	var others []*proc
	for i, p := range ps {
		if i != old {
			others = append(others, p)
			waitTokenSeen(t, p, first, 50)
		}
	}
	if err := ps[old].cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	stopped := time.Now()
	resumed := false
	defer func() {
		if !resumed {
			_ = ps[old].cmd.Process.Signal(syscall.SIGCONT)
		}
	}()
	next, r := waitOneOwner(t, ps, map[int]bool{old: true}, 10*time.Second, first)
	second, started := r.Token, r.OwnedAtNs
	t.Logf("owner %s (token %d) frozen; %s took over with token %d after %v", ps[old].name, first, ps[next].name, second,
		time.Duration(started-stopped.UnixNano()))
	for _, p := range others {
		waitTokenSeen(t, p, second, 50)
	}
	if err := ps[old].cmd.Process.Signal(syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	resumed = true
	deadline := time.Now().Add(10 * time.Second)
	var oldRep nodeReply
	for {
		oldRep = ps[old].do("owner")
		if !oldRep.Owned && oldRep.LostAtNs > oldRep.OwnedAtNs {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the resumed %s still holds the lease: %+v", ps[old].name, oldRep)
		}
	}
	t.Logf("resumed %s stopped its instance %v after SIGCONT was sent", ps[old].name, time.Duration(oldRep.LostAtNs-time.Now().UnixNano()).Abs())
	for _, p := range ps {
		if r := p.do("members 3"); !r.OK {
			t.Fatalf("after SIGCONT %s sees %v", p.name, r.Members)
		}
	}
	// The lease normally stays with the new owner; on a loaded machine the JetStream group of
	// the lease bucket may re-elect its leader when the frozen node rejoins, and an owner that
	// cannot renew within the TTL gives the lease up (safety before liveness), so it may move
	// again. What must hold either way: one owner at a time, with a newer token each time, and
	// no subscriber gets a message of an instance after a newer one started.
	cur, cr := waitOneOwner(t, ps, nil, 10*time.Second, first)
	if cr.Token < second {
		t.Fatalf("owner after the resume: %s token %d, older than %s's token %d", ps[cur].name, cr.Token, ps[next].name, second)
	}
	if cr.Token != second {
		t.Logf("the lease moved again after the resume: %s holds token %d (the owner of token %d could not renew within the TTL)", ps[cur].name, cr.Token, second)
	}
	// Whatever the old node still had queued has had its chance: the subscribers got another
	// 100 messages of the current owner since it rejoined.
	var fencedIn, fencedOut uint64
	for _, p := range others {
		base := p.do("stats").Tokens[cr.Token].Count
		got := waitTokenSeen(t, p, cr.Token, base+100)
		if ts, ok := got.Tokens[first]; ok && ts.LastNs >= started {
			t.Errorf("%s got a message of the old instance (token %d) %v after the new owner started", p.name, first, time.Duration(ts.LastNs-started))
		}
		if ts, ok := got.Tokens[second]; ok && cr.Token != second && ts.LastNs >= cr.OwnedAtNs {
			t.Errorf("%s got a message of token %d %v after the owner of token %d started", p.name, second, time.Duration(ts.LastNs-cr.OwnedAtNs), cr.Token)
		}
		for tok := range got.Tokens {
			if tok != first && tok < second {
				t.Errorf("%s got messages of an unexpected instance (token %d): %v", p.name, tok, got.Tokens)
			}
		}
		fencedIn += got.Leases.FencedIn
	}
	fencedOut = ps[old].do("owner").Leases.FencedOut
	t.Logf("fenced: %d refused at the old owner (lease lapsed), %d refused by the receivers (stale token)", fencedOut, fencedIn)
	if o, r := waitOneOwner(t, ps, nil, time.Second, 0); r.Token < cr.Token {
		t.Fatalf("owner at the end: %s token %d, older than token %d", ps[o].name, r.Token, cr.Token)
	}
	for _, p := range ps {
		p.quit()
	}
}
