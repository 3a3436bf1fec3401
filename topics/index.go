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
// two immutable value slices replaced atomically on every change: exact
// (patterns ending at the node) and subtree (patterns "prefix.*" whose
// prefix ends at the node, matching topics with more segments than the
// node's depth). Add and Remove cost O(segments + values stored under the
// same pattern), since that pattern's slice is copied.
type Index[V comparable] struct {
	root node[V]
	n    atomic.Int64
}

// node is one trie node; its depth is the number of pattern segments on
// the path from the root.
type node[V comparable] struct {
	children sync.Map // string -> *node[V]; never holds the key "*"
	wild     atomic.Pointer[node[V]]
	exact    atomic.Pointer[[]V]
	subtree  atomic.Pointer[[]V]

	nchildren int // number of entries in children; touched by the writer only
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
func (n *node[V]) slot(subtree bool) *atomic.Pointer[[]V] {
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
	return n.exact.Load() == nil && n.subtree.Load() == nil &&
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
	slot := n.slot(sub)
	var cur []V
	if p := slot.Load(); p != nil {
		cur = *p
	}
	for _, x := range cur {
		if x == v {
			return nil
		}
	}
	next := make([]V, len(cur)+1)
	copy(next, cur)
	next[len(cur)] = v
	slot.Store(&next)
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
	slot := n.slot(sub)
	p := slot.Load()
	if p == nil {
		return false
	}
	cur := *p
	i := 0
	for i < len(cur) && cur[i] != v {
		i++
	}
	if i == len(cur) {
		return false
	}
	if len(cur) == 1 {
		slot.Store(nil)
	} else {
		next := make([]V, 0, len(cur)-1)
		next = append(next, cur[:i]...)
		next = append(next, cur[i+1:]...)
		slot.Store(&next)
	}
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
		if p := n.exact.Load(); p != nil {
			dst = append(dst, *p...)
		}
		return dst
	}
	if p := n.subtree.Load(); p != nil {
		dst = append(dst, *p...)
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
