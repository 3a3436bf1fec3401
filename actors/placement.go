package actors

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/google/uuid"
	"go.uber.org/zap"

	"github.com/astrid-actors/astrid-actors/cluster"
)

// placedStopTimeout bounds the stop of a cluster-placed capsule's instances when this node
// loses its lease.
const placedStopTimeout = 5 * time.Second

// placed is a capsule with placement "cluster" on a cluster node: the node bids for the lease
// named after the capsule id. While it holds the lease the capsule runs here (under its own
// supervision policy); otherwise a standby handle (StateStandby) stands in its place.
type placed struct {
	rt   *Runtime
	spec CapsuleSpec
	log  *zap.Logger

	mu       sync.Mutex // held by the claim's callbacks and by release
	claim    *cluster.Claim
	running  *Capsule
	released bool

	fmu    sync.Mutex
	fenced []uuid.UUID // instance ids of the current tenure
}

// startPlaced registers a cluster-placed capsule (Start validated it and opened its store): a
// standby handle now, the capsule itself when this node acquires its lease.
func (r *Runtime) startPlaced(spec CapsuleSpec) (*Capsule, error) {
	p := &placed{rt: r, spec: spec, log: r.log.With(zap.String("capsule_id", spec.ID))}
	r.mu.Lock()
	if err := r.admitLocked(spec.ID); err != nil {
		r.mu.Unlock()
		return nil, err
	}
	if r.placed == nil {
		r.placed = map[string]*placed{}
	}
	r.placed[spec.ID] = p
	sb := r.standbyLocked(spec.ID)
	r.mu.Unlock()
	p.mu.Lock() // the callbacks wait until claim is set
	defer p.mu.Unlock()
	claim, err := r.cluster.Claim(spec.ID, p.own, p.lose)
	if err != nil {
		r.mu.Lock()
		delete(r.placed, spec.ID)
		r.mu.Unlock()
		r.forget(sb)
		return nil, fmt.Errorf("capsule %s: %w", spec.ID, err)
	}
	p.claim = claim
	return sb, nil
}

// standbyLocked installs a standby handle for id (r.mu held): no actor, stopped at once.
func (r *Runtime) standbyLocked(id string) *Capsule {
	c := newCapsule(r, id)
	c.status.State = StateStandby
	close(c.spawned)
	close(c.done)
	r.capsules[id] = c
	r.order = append(r.order, id)
	return c
}

// own runs when this node acquired the lease: the standby handle gives way to the capsule.
func (p *placed) own(token uint64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.released {
		return
	}
	r := p.rt
	if sb := r.Capsule(p.spec.ID); sb != nil && sb.Status().State == StateStandby {
		r.forget(sb)
	}
	spec := p.spec
	spec.Placement = ""
	spec.fence = func(id uuid.UUID) {
		p.claim.Fence(id)
		p.fmu.Lock()
		p.fenced = append(p.fenced, id)
		p.fmu.Unlock()
	}
	c, err := r.Start(context.Background(), spec)
	if err != nil {
		p.log.Error("start the cluster-placed capsule", zap.Uint64("lease_token", token), zap.Error(err))
		p.standby()
		return
	}
	p.running = c
	p.log.Info("cluster-placed capsule runs here", zap.Uint64("lease_token", token))
}

// lose runs when this node lost the lease (or gives it up): the capsule stops at once and a
// standby handle takes its place unless the capsule is being removed.
func (p *placed) lose(why string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if c := p.running; c != nil {
		p.running = nil
		ctx, cancel := context.WithTimeout(context.Background(), placedStopTimeout)
		if err := c.Stop(ctx); err != nil {
			p.log.Error("stop the cluster-placed capsule after losing its lease", zap.Error(err))
		}
		cancel()
		p.fmu.Lock()
		for _, id := range p.fenced {
			p.claim.Unfence(id)
		}
		p.fenced = nil
		p.fmu.Unlock()
		p.log.Warn("cluster-placed capsule stopped here", zap.String("why", why))
	}
	if !p.released {
		p.standby()
	}
}

// standby installs the standby handle (p.mu held).
func (p *placed) standby() {
	r := p.rt
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.capsules[p.spec.ID]; !ok && !r.closed {
		r.standbyLocked(p.spec.ID)
	}
}

// release gives the lease up and stops the capsule if it runs here.
func (p *placed) release() {
	p.mu.Lock()
	p.released = true
	claim := p.claim
	p.mu.Unlock()
	if claim != nil {
		claim.Release()
	}
}

// releasePlaced releases every cluster-placed capsule (Close).
func (r *Runtime) releasePlaced() {
	r.mu.Lock()
	ps := make([]*placed, 0, len(r.placed))
	for _, p := range r.placed {
		ps = append(ps, p)
	}
	r.mu.Unlock()
	for _, p := range ps {
		p.release()
	}
}

// unplace releases the cluster-placed capsule id and reports whether it was one (Unload).
func (r *Runtime) unplace(id string) bool {
	r.mu.Lock()
	p := r.placed[id]
	delete(r.placed, id)
	r.mu.Unlock()
	if p != nil {
		p.release()
	}
	return p != nil
}
