package topics

import "strings"

// scan counts the segments of s and reports whether s is non-empty with no
// empty segment. It does not allocate.
func scan(s string) (n int, ok bool) {
	if s == "" {
		return 0, false
	}
	for {
		i := strings.IndexByte(s, '.')
		if i < 0 {
			return n + 1, true
		}
		if i == 0 {
			return 0, false
		}
		n++
		s = s[i+1:]
		if s == "" {
			return 0, false
		}
	}
}

// cut splits off the first segment of s. last reports whether seg was the
// final segment (then rest is "").
func cut(s string) (seg, rest string, last bool) {
	if i := strings.IndexByte(s, '.'); i >= 0 {
		return s[:i], s[i+1:], false
	}
	return s, "", true
}

// isSubtree reports whether the well-formed pattern p ends in a trailing
// wildcard after at least one other segment ("a.*", "a.b.*"), and returns
// the prefix before it ("a", "a.b"). A bare "*" is not a subtree pattern.
func isSubtree(p string) (prefix string, ok bool) {
	if strings.HasSuffix(p, ".*") {
		return p[:len(p)-2], true
	}
	return p, false
}

// prefixMatch reports whether the first k segments of pattern and topic
// match pairwise, a "*" pattern segment matching any one topic segment.
// Both must have at least k segments.
func prefixMatch(pattern, topic string, k int) bool {
	var ps, ts string
	for range k {
		ps, pattern, _ = cut(pattern)
		ts, topic, _ = cut(topic)
		if ps != "*" && ps != ts {
			return false
		}
	}
	return true
}

// MatchRoute is the route matcher, used for bus delivery and for the
// [publish]/[subscribe] ACL keys. It reports whether topic matches pattern:
//
//   - if either is "" or has an empty segment, or the topic has more than
//     [MaxDepth] segments, it is false;
//   - if the pattern has at least two segments and its last segment is
//     exactly "*", it is a subtree pattern: the topic must have strictly
//     more segments than the pattern's prefix (the segments before the
//     trailing "*"), and each prefix segment must be "*" or equal;
//   - otherwise the segment counts must be equal and each pattern segment
//     must be "*" (any one segment) or equal.
//
// A bare "*" matches one-segment topics only; "a*" is a literal segment; a
// "*" segment in the topic is a literal matched only by "*" in the pattern.
//
//	topics.MatchRoute("a.b.*", "a.b.c")   // true
//	topics.MatchRoute("a.b.*", "a.b.c.d") // true
//	topics.MatchRoute("a.b.*", "a.b")     // false
//	topics.MatchRoute("a.*.c", "a.zz.c")  // true
//	topics.MatchRoute("a.*.*", "a.b")     // false
//	topics.MatchRoute("*", "a.b")         // false
//	topics.MatchRoute("tool.v1.execute.*.result", "tool.v1.execute.read_file.result") // true
//	topics.MatchRoute("tool.v1.execute.*.result", "tool.v1.execute.a.b.result")       // false
func MatchRoute(pattern, topic string) bool {
	pn, ok := scan(pattern)
	if !ok {
		return false
	}
	tn, ok := scan(topic)
	if !ok || tn > MaxDepth {
		return false
	}
	if _, sub := isSubtree(pattern); sub {
		k := pn - 1
		return tn > k && prefixMatch(pattern, topic, k)
	}
	return tn == pn && prefixMatch(pattern, topic, pn)
}

// MatchStrict is the strict matcher, used to route to interceptor handlers.
// It reports whether both are non-empty with no empty segment, have the same
// number of segments, and each pattern segment is "*" (exactly one segment)
// or equal to the topic's. There is no depth limit and no subtree wildcard.
//
//	topics.MatchStrict("tool.execute.*.result", "tool.execute.search.result") // true
//	topics.MatchStrict("tool.execute.*.result", "tool.execute.result")        // false
//	topics.MatchStrict("astrid.v1.admin.*", "astrid.v1.admin.agent.list")     // false
//	topics.MatchStrict("*.b.*", "x.b.z")                                      // true
func MatchStrict(pattern, topic string) bool {
	pn, ok := scan(pattern)
	if !ok {
		return false
	}
	tn, ok := scan(topic)
	if !ok || tn != pn {
		return false
	}
	return prefixMatch(pattern, topic, pn)
}

// AllowsSubscribe reports whether the [subscribe] ACL key aclKey permits
// subscribing to the pattern requested. The requested pattern is matched as
// if it were a topic, with [MatchRoute](aclKey, requested), so a "*" in the
// request is only covered by a "*" (or a subtree) in the key. Whenever it
// returns true, every topic delivered for requested is also matched by
// aclKey (no scope escalation).
//
//	topics.AllowsSubscribe("foo.*", "foo.bar")       // true
//	topics.AllowsSubscribe("foo.*", "foo.bar.baz")   // true
//	topics.AllowsSubscribe("foo.*", "foo.*")         // true
//	topics.AllowsSubscribe("foo.*", "foo.bar.*")     // true
//	topics.AllowsSubscribe("foo.bar", "foo.*")       // false
//	topics.AllowsSubscribe("foo.*.*", "foo.*")       // false
//	topics.AllowsSubscribe("*", "x")                 // true
//	topics.AllowsSubscribe("*", "x.y")               // false
func AllowsSubscribe(aclKey, requested string) bool {
	return MatchRoute(aclKey, requested)
}
