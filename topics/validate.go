package topics

import (
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"
)

// Limits of the topic grammar.
const (
	// MaxBytes is the longest topic or pattern, in bytes, that the host
	// accepts from a guest: len("a.b") == 3 is fine, a 257-byte topic is not.
	MaxBytes = 256
	// MaxGuestSegments is the most segments a guest (capsule) topic or
	// pattern may have: "a.b.c.d.e.f.g.h" (8) is fine, 9 segments are not.
	MaxGuestSegments = 8
	// MaxDepth is the deepest topic the route matcher considers: a topic
	// with more than 20 segments never matches [MatchRoute] or [Index.Match],
	// not even the pattern "a.*".
	MaxDepth = 20
)

// Sentinel errors returned (wrapped) by [Validate] and
// [ValidateSubscribePattern] and by [Index.Add]. Test with errors.Is:
//
//	err := topics.Validate("a..b", topics.GuestLimits)
//	errors.Is(err, topics.ErrEmptySegment) // true
var (
	// ErrEmpty reports the empty string "".
	ErrEmpty = errors.New("empty topic")
	// ErrEmptySegment reports an empty segment, as in "a..b", ".a", "a." or ".".
	ErrEmptySegment = errors.New("empty topic segment")
	// ErrTooLong reports a topic longer than [Limits].MaxBytes bytes.
	ErrTooLong = errors.New("topic too long")
	// ErrTooManySegments reports a topic with more than [Limits].MaxSegments segments.
	ErrTooManySegments = errors.New("too many topic segments")
	// ErrInvalidUTF8 reports a topic that is not valid UTF-8, such as "a.\xff".
	ErrInvalidUTF8 = errors.New("topic is not valid UTF-8")
	// ErrWildcardPosition reports a subscribe pattern with a "*" segment
	// that is not the single trailing segment, such as "a.*.c", "*.b" or "a.*.*".
	ErrWildcardPosition = errors.New("wildcard '*' is only allowed as the last segment")
)

// Limits bounds the size of a topic or pattern checked by [Validate].
// Both fields are inclusive maxima; a zero field rejects every topic
// (fail closed), so always start from [GuestLimits] or [HostLimits]:
//
//	topics.Validate("a.b", topics.Limits{MaxBytes: 16, MaxSegments: 2}) // nil
type Limits struct {
	// MaxBytes is the longest accepted length in bytes (len(s)).
	MaxBytes int
	// MaxSegments is the most accepted '.'-separated segments.
	MaxSegments int
}

// GuestLimits are the limits applied to topics and patterns supplied by a
// capsule: at most 256 bytes and 8 segments.
//
//	topics.Validate("a.b.c.d.e.f.g.h", topics.GuestLimits)   // nil
//	topics.Validate("a.b.c.d.e.f.g.h.i", topics.GuestLimits) // ErrTooManySegments
var GuestLimits = Limits{MaxBytes: MaxBytes, MaxSegments: MaxGuestSegments}

// HostLimits are the limits for host-side (kernel) topics: at most 256 bytes
// and [MaxDepth] (20) segments, the deepest topic the route matcher accepts.
//
//	topics.Validate("astrid.v1.capsules_loaded", topics.HostLimits) // nil
var HostLimits = Limits{MaxBytes: MaxBytes, MaxSegments: MaxDepth}

// maxQuoted bounds how much of an offending input is quoted in an error, so
// that a huge guest-supplied string cannot flood the logs.
const maxQuoted = 2 * MaxBytes

// topicError wraps sentinel with the quoted input: `topic "a..b": empty
// topic segment`. Inputs longer than maxQuoted bytes are cut and their
// length is given instead.
func topicError(kind, s string, sentinel error) error {
	if len(s) > maxQuoted {
		return fmt.Errorf("%s %q... (%d bytes): %w", kind, s[:maxQuoted], len(s), sentinel)
	}
	return fmt.Errorf("%s %q: %w", kind, s, sentinel)
}

// Segments reports the number of '.'-separated segments of s without
// allocating; empty segments are counted too.
//
//	topics.Segments("")      // 0
//	topics.Segments("a")     // 1
//	topics.Segments("a.b")   // 2
//	topics.Segments("a..b")  // 3
func Segments(s string) int {
	if s == "" {
		return 0
	}
	return strings.Count(s, ".") + 1
}

// Validate reports whether s is a well-formed topic (or pattern) within l.
// The checks run in this order and the first failure is returned, wrapped
// with the quoted input (`topic "a..b": empty topic segment`):
//
//  1. s is not "" ([ErrEmpty]);
//  2. len(s) <= l.MaxBytes ([ErrTooLong]);
//  3. s is valid UTF-8 ([ErrInvalidUTF8]);
//  4. no segment is empty, as in ".", ".a", "a." or "a..b" ([ErrEmptySegment]);
//  5. Segments(s) <= l.MaxSegments ([ErrTooManySegments]).
//
// Wildcards are not special here: "a.*.c" and "a*" are valid.
//
//	topics.Validate("user.v1.prompt", topics.GuestLimits) // nil
//	topics.Validate("a.", topics.GuestLimits)             // wraps ErrEmptySegment
func Validate(s string, l Limits) error {
	n, err := checkSegments("topic", s, l)
	if err != nil {
		return err
	}
	if n > l.MaxSegments {
		return topicError("topic", s, ErrTooManySegments)
	}
	return nil
}

// ValidateSubscribePattern is the runtime subscribe gate: it reports whether
// p may be subscribed to at run time. A pattern must be exact or end in a
// single trailing "*" segment; a bare "*" is accepted and "a*" is a literal.
// The checks run in this order (as in Astrid's host subscribe call, with the
// UTF-8 check placed as in [Validate]):
//
//  1. p is not "" ([ErrEmpty]);
//  2. len(p) <= l.MaxBytes ([ErrTooLong]);
//  3. p is valid UTF-8 ([ErrInvalidUTF8]);
//  4. no segment is empty ([ErrEmptySegment]);
//  5. no "*" segment is followed by another segment ([ErrWildcardPosition]);
//  6. Segments(p) <= l.MaxSegments ([ErrTooManySegments]).
//
// Examples:
//
//	topics.ValidateSubscribePattern("a.b.*", topics.GuestLimits) // nil
//	topics.ValidateSubscribePattern("*", topics.GuestLimits)     // nil
//	topics.ValidateSubscribePattern("a.*.c", topics.GuestLimits) // wraps ErrWildcardPosition
//	topics.ValidateSubscribePattern("a.*.*", topics.GuestLimits) // wraps ErrWildcardPosition
//
// Whether the subscriber may see the pattern is a separate question, see
// [AllowsSubscribe].
func ValidateSubscribePattern(p string, l Limits) error {
	n, err := checkSegments("topic pattern", p, l)
	if err != nil {
		return err
	}
	for rest, last := p, false; !last; {
		var seg string
		seg, rest, last = cut(rest)
		if seg == "*" && !last {
			return topicError("topic pattern", p, ErrWildcardPosition)
		}
	}
	if n > l.MaxSegments {
		return topicError("topic pattern", p, ErrTooManySegments)
	}
	return nil
}

// checkSegments runs the checks Validate and ValidateSubscribePattern share, in their order:
// not empty, at most l.MaxBytes, valid UTF-8, no empty segment. It returns the number of
// segments; kind names the input in errors ("topic", "topic pattern").
func checkSegments(kind, s string, l Limits) (int, error) {
	if s == "" {
		return 0, topicError(kind, s, ErrEmpty)
	}
	if len(s) > l.MaxBytes {
		return 0, topicError(kind, s, ErrTooLong)
	}
	if !utf8.ValidString(s) {
		return 0, topicError(kind, s, ErrInvalidUTF8)
	}
	n, ok := scan(s)
	if !ok {
		return 0, topicError(kind, s, ErrEmptySegment)
	}
	return n, nil
}
