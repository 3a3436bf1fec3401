// Package topics implements the Astrid topic grammar and its three matchers.
//
// # Grammar
//
// A topic (or a pattern) is a non-empty, '.'-separated list of non-empty
// segments: "a", "a.b", "user.v1.prompt", "tool.v1.execute.read_file.result".
// "", ".", ".a", "a." and "a..b" are malformed (they contain an empty
// segment). No character class is enforced: any bytes other than '.' may
// appear in a segment, but [Validate] requires valid UTF-8 and applies byte
// and segment limits ([GuestLimits] for capsule-supplied strings: at most
// 256 bytes and 8 segments).
//
// A segment that is exactly "*" is a wildcard. A '*' inside a longer segment
// ("a*", "*x") is a plain literal. In a topic (as opposed to a pattern) a
// "*" segment is just the literal string "*": publishing the topic "a.*" is
// allowed when an ACL key matches it, and delivery then treats it literally.
//
// # Matchers
//
// There are three different matchers, mirroring Astrid OS:
//
//   - The route matcher [MatchRoute] is used for bus delivery and for the
//     [publish]/[subscribe] ACLs. A "*" pattern segment matches exactly one
//     topic segment, except a trailing "*" after at least one other segment,
//     which matches ONE OR MORE remaining segments (a subtree):
//     "a.b.*" matches "a.b.c" and "a.b.c.d" but not "a.b"; "a.*.c" matches
//     "a.x.c" but not "a.x.y.c"; a bare "*" matches only one-segment topics.
//     Topics deeper than [MaxDepth] segments never match.
//
//   - The strict matcher [MatchStrict] is used for interceptor handler keys:
//     segment counts must be equal and every "*" matches exactly one
//     segment, so "astrid.v1.admin.*" matches "astrid.v1.admin.quota" but
//     not "astrid.v1.admin.agent.list".
//
//   - The runtime subscribe gate [ValidateSubscribePattern] accepts only
//     patterns with no wildcard or a single trailing "*" segment: "a.b",
//     "a.b.*" and "*" pass; "a.*.c", "*.b" and "a.*.*" are rejected with
//     [ErrWildcardPosition].
//
// Subscribe ACLs use [AllowsSubscribe], which matches the requested pattern
// as if it were a topic: key "foo.*" allows subscribing to "foo.bar.*", but
// key "foo.bar" does not allow "foo.*".
//
// [Index] matches one topic against many route patterns in time proportional
// to the topic's segment count rather than to the number of subscriptions,
// with lock-free concurrent readers.
package topics
