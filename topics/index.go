package topics

import (
	"sync"
	"sync/atomic"
)

// Index maps route patterns to values and finds, for one topic, every value
// whose pattern matches it under [MatchRoute], in time proportional to the
// topic's segment count rather than to the number of patterns.
//
// Add and Remove must be called by ONE writer at a time: the caller
// serializes them (in this project the bus's router actor is the single
// writer). Match may run concurrently with the writer and with other Match
// calls from any number of goroutines; the read path takes no locks. A value
// added before a Match starts (Add happens-before Match) is found by it, and
// so is every value present during the whole Match.
//
//	ix := topics.NewIndex[string]()
//	_ = ix.Add("a.b.*", "sub1")
//	_ = ix.Add("a.*.c", "sub2")
//	_ = ix.Add("*", "sub3")
//	ix.Match("a.b.c", nil) // [sub1 sub2] in some order
//	ix.Match("a.b", nil)   // []
//	ix.Match("a", nil)     // [sub3]
//
// The zero value is an empty index ready to use. An Index must not be copied
// after first use. Values are compared with ==, so an interface-typed V must
// hold comparable dynamic values.
//
// Internally it is a segment trie: each node has literal children in a
// sync.Map (lock-free Load), a separate child for "*" pattern segments, and
// two value sets: exact (patterns ending at the node) and subtree (patterns
// "prefix.*" whose prefix ends at the node, matching topics with more
// segments than the node's depth). A value set is an append-only array of
// items published through an atomic pointer to an immutable view (the
// array's filled prefix); Add writes the next free item before publishing a
// longer view, Remove marks the item dead (an atomic flag) and the writer
// compacts the array once dead items outnumber live ones. So Add and Remove
// cost O(segments) amortized whatever the number of values under one
// pattern, readers never see an item move (no value is returned twice or
// skipped), and Match skips at most as many dead items as it returns live
// ones. docs/performance.md and RATIONALE.md have the measurements.
type Index[V comparable] struct {
	root node[V]
	n    atomic.Int64
	// pos locates every stored pair in its set's current array. Writer only.
	pos map[posKey[V]]int
}

// posKey identifies one stored pair: the set of its pattern and the value.
type posKey[V comparable] struct {
	s *valueSet[V]
	v V
}

// node is one trie node; its depth is the number of pattern segments on
// the path from the root.
type node[V comparable] struct {
	children sync.Map // string -> *node[V]; never holds the key "*"
	wild     atomic.Pointer[node[V]]
	exact    valueSet[V]
	subtree  valueSet[V]

	nchildren int // number of entries in children; touched by the writer only
}

// valueSet is the values stored under one pattern.
type valueSet[V comparable] struct {
	view atomic.Pointer[view[V]] // nil when the set is empty
	live int                     // live items in the current array; writer only
	dead int                     // dead items in the current array; writer only
}

// view is an immutable prefix of a set's item array. Items in it never
// change except for their dead flag; the writer appends past its end.
type view[V comparable] struct {
	items []item[V]
}

// item is one stored value. v is written once, before the item becomes
// visible; dead is set by Remove.
type item[V comparable] struct {
	v    V
	dead atomic.Bool
}

// Group is a snapshot of the values stored under one pattern, returned by
// [Index.Lookup]. It stays valid after later changes of the index: a value
// removed since is reported dead by At, a value added since is not in it.
type Group[V comparable] struct {
	v *view[V]
}

// Len is the number of items of g, live or dead (at most twice the live ones).
func (g Group[V]) Len() int { return len(g.v.items) }

// At returns the value of item i (0 <= i < Len) and whether it is still
// stored (false once removed).
//
//	for i := range g.Len() {
//		if v, ok := g.At(i); ok {
//			use(v)
//		}
//	}
func (g Group[V]) At(i int) (V, bool) {
	it := &g.v.items[i]
	return it.v, !it.dead.Load()
}

// AppendTo appends the live values of g to dst and returns the extended slice.
func (g Group[V]) AppendTo(dst []V) []V {
	return g.v.appendTo(dst)
}

func (v *view[V]) appendTo(dst []V) []V {
	for i := range v.items {
		if it := &v.items[i]; !it.dead.Load() {
			dst = append(dst, it.v)
		}
	}
	return dst
}

// add appends v to the set and returns its position. Writer only.
func (s *valueSet[V]) add(ix *Index[V], v V) int {
	var items []item[V]
	if cur := s.view.Load(); cur != nil {
		items = cur.items
	}
	if len(items) == cap(items) {
		// One item for a new set (most patterns hold one value), then doubling.
		items = s.compact(ix, items, 2*s.live+1)
	}
	i := len(items)
	items = items[:i+1]
	// Item i lies past the end of every published view of this array:
	// no reader reads it before the Store below.
	items[i].v = v
	s.view.Store(&view[V]{items: items})
	s.live++
	return i
}

// remove marks item i dead and compacts when dead items outnumber live
// ones. Writer only.
func (s *valueSet[V]) remove(ix *Index[V], i int) {
	cur := s.view.Load()
	cur.items[i].dead.Store(true)
	s.live--
	s.dead++
	switch {
	case s.live == 0:
		s.view.Store(nil)
		s.dead = 0
	case s.dead > s.live:
		items := s.compact(ix, cur.items, max(4, 2*s.live))
		s.view.Store(&view[V]{items: items})
	}
}

// compact copies the live items of items into a new array of capacity
// capacity (>= s.live), updates their positions and returns it. The old
// array is left as it is for readers still holding a view of it. Writer only.
func (s *valueSet[V]) compact(ix *Index[V], items []item[V], capacity int) []item[V] {
	next := make([]item[V], 0, capacity)
	for i := range items {
		if it := &items[i]; !it.dead.Load() {
			ix.pos[posKey[V]{s, it.v}] = len(next)
			next = next[:len(next)+1]
			next[len(next)-1].v = it.v
		}
	}
	s.dead = 0
	return next
}

// NewIndex returns an empty index.
//
//	ix := topics.NewIndex[int]()
//	ix.Len() // 0
func NewIndex[V comparable]() *Index[V] {
	return &Index[V]{}
}

// Len reports the number of (pattern, value) pairs in the index.
//
//	_ = ix.Add("a.b", 1)
//	_ = ix.Add("a.b", 2)
//	_ = ix.Add("a.b", 1) // no-op
//	ix.Len()             // 2
func (ix *Index[V]) Len() int {
	return int(ix.n.Load())
}

// checkPattern returns an error for a pattern that can never match.
func checkPattern(p string) error {
	if p == "" {
		return topicError("topic pattern", p, ErrEmpty)
	}
	if _, ok := scan(p); !ok {
		return topicError("topic pattern", p, ErrEmptySegment)
	}
	return nil
}

// slot returns the value slice of n that a pattern of the given kind uses.
func (n *node[V]) slot(subtree bool) *valueSet[V] {
	if subtree {
		return &n.subtree
	}
	return &n.exact
}

// child returns the child of n for pattern segment seg, or nil.
func (n *node[V]) child(seg string) *node[V] {
	if seg == "*" {
		return n.wild.Load()
	}
	if c, ok := n.children.Load(seg); ok {
		return c.(*node[V])
	}
	return nil
}

// childOrCreate returns the child of n for seg, creating it if needed.
// Writer only.
func (n *node[V]) childOrCreate(seg string) *node[V] {
	if c := n.child(seg); c != nil {
		return c
	}
	c := new(node[V])
	if seg == "*" {
		n.wild.Store(c)
	} else {
		n.children.Store(seg, c)
		n.nchildren++
	}
	return c
}

// empty reports whether n holds no values and has no children. Writer only.
func (n *node[V]) empty() bool {
	return n.exact.view.Load() == nil && n.subtree.view.Load() == nil &&
		n.wild.Load() == nil && n.nchildren == 0
}

// Add inserts the pair (pattern, v). Adding a pair that is already present
// is a no-op. Patterns follow [MatchRoute]; a pattern that is "" or has an
// empty segment returns an error wrapping [ErrEmpty] or [ErrEmptySegment].
// Size limits are not checked here (use [Validate]); a pattern that could
// only match topics deeper than [MaxDepth] is stored but never matches.
//
//	ix.Add("svc.*", "audit")   // nil
//	ix.Add("svc..x", "audit")  // wraps ErrEmptySegment
//
// Add must not run concurrently with Add or Remove.
func (ix *Index[V]) Add(pattern string, v V) error {
	if err := checkPattern(pattern); err != nil {
		return err
	}
	prefix, sub := isSubtree(pattern)
	n := &ix.root
	for rest, last := prefix, false; !last; {
		var seg string
		seg, rest, last = cut(rest)
		n = n.childOrCreate(seg)
	}
	s := n.slot(sub)
	key := posKey[V]{s, v}
	if _, ok := ix.pos[key]; ok {
		return nil
	}
	if ix.pos == nil {
		ix.pos = make(map[posKey[V]]int)
	}
	ix.pos[key] = s.add(ix, v)
	ix.n.Add(1)
	return nil
}

// Remove deletes the pair (pattern, v) and reports whether it was present.
// Trie nodes left without values or children are pruned.
//
//	_ = ix.Add("a.*", 1)
//	ix.Remove("a.*", 1) // true
//	ix.Remove("a.*", 1) // false
//
// Remove must not run concurrently with Add or Remove.
func (ix *Index[V]) Remove(pattern string, v V) bool {
	if checkPattern(pattern) != nil {
		return false
	}
	prefix, sub := isSubtree(pattern)
	type step struct {
		parent *node[V]
		seg    string
	}
	var buf [MaxDepth + 1]step
	path := buf[:0]
	n := &ix.root
	for rest, last := prefix, false; !last; {
		var seg string
		seg, rest, last = cut(rest)
		c := n.child(seg)
		if c == nil {
			return false
		}
		path = append(path, step{n, seg})
		n = c
	}
	s := n.slot(sub)
	key := posKey[V]{s, v}
	i, ok := ix.pos[key]
	if !ok {
		return false
	}
	delete(ix.pos, key)
	s.remove(ix, i)
	ix.n.Add(-1)

	// Prune from the leaf up. A reader still inside a pruned node only sees
	// empty slots, and a node on the path to a stored value is never empty.
	for j := len(path) - 1; j >= 0 && n.empty(); j-- {
		parent, seg := path[j].parent, path[j].seg
		if seg == "*" {
			parent.wild.Store(nil)
		} else {
			parent.children.Delete(seg)
			parent.nchildren--
		}
		n = parent
	}
	return true
}

// Match appends to dst every value whose pattern matches topic under
// [MatchRoute] and returns the extended slice: one entry per matching
// (pattern, value) pair, in unspecified order. A topic that is "", has an
// empty segment, or has more than [MaxDepth] segments matches nothing.
// Match does not allocate when dst has enough spare capacity, and may run
// concurrently with the single writer and with other Match calls.
//
//	buf := make([]string, 0, 16)
//	buf = ix.Match("svc.orders.created", buf[:0])
func (ix *Index[V]) Match(topic string, dst []V) []V {
	if n, ok := scan(topic); !ok || n > MaxDepth {
		return dst
	}
	return ix.root.match(topic, false, dst)
}

// match appends the values of n and its descendants that match rest, the
// segments of the topic below n's depth (done: no segments remain).
func (n *node[V]) match(rest string, done bool, dst []V) []V {
	if done {
		if v := n.exact.view.Load(); v != nil {
			dst = v.appendTo(dst)
		}
		return dst
	}
	if v := n.subtree.view.Load(); v != nil {
		dst = v.appendTo(dst)
	}
	seg, next, last := cut(rest)
	if c, ok := n.children.Load(seg); ok {
		dst = c.(*node[V]).match(next, last, dst)
	}
	if w := n.wild.Load(); w != nil {
		dst = w.match(next, last, dst)
	}
	return dst
}

// Lookup appends to dst one [Group] per pattern that matches topic and
// holds values, and returns the extended slice; the values are those
// [Index.Match] returns, without copying them. Its cost depends on the
// topic's segments and the number of matching patterns, not on the number
// of values stored under them, so a caller caching the groups of a topic
// refreshes them in O(patterns) after a change. It does not allocate when
// dst has enough spare capacity and may run concurrently with the writer.
//
//	groups := ix.Lookup("svc.orders.created", nil)
//	for _, g := range groups {
//		for i := range g.Len() {
//			if v, ok := g.At(i); ok {
//				use(v)
//			}
//		}
//	}
func (ix *Index[V]) Lookup(topic string, dst []Group[V]) []Group[V] {
	if n, ok := scan(topic); !ok || n > MaxDepth {
		return dst
	}
	return ix.root.lookup(topic, false, dst)
}

func (n *node[V]) lookup(rest string, done bool, dst []Group[V]) []Group[V] {
	if done {
		if v := n.exact.view.Load(); v != nil {
			dst = append(dst, Group[V]{v})
		}
		return dst
	}
	if v := n.subtree.view.Load(); v != nil {
		dst = append(dst, Group[V]{v})
	}
	seg, next, last := cut(rest)
	if c, ok := n.children.Load(seg); ok {
		dst = c.(*node[V]).lookup(next, last, dst)
	}
	if w := n.wild.Load(); w != nil {
		dst = w.lookup(next, last, dst)
	}
	return dst
}
