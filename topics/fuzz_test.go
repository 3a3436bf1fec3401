package topics

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"
)

// refMatchRoute is an obviously-correct (allocating) model of MatchRoute.
func refMatchRoute(pattern, topic string) bool {
	if !refWellFormed(pattern) || !refWellFormed(topic) {
		return false
	}
	ps, ts := strings.Split(pattern, "."), strings.Split(topic, ".")
	if len(ts) > MaxDepth {
		return false
	}
	if len(ps) >= 2 && ps[len(ps)-1] == "*" {
		ps = ps[:len(ps)-1]
		if len(ts) <= len(ps) {
			return false
		}
		ts = ts[:len(ps)]
	} else if len(ps) != len(ts) {
		return false
	}
	for i := range ps {
		if ps[i] != "*" && ps[i] != ts[i] {
			return false
		}
	}
	return true
}

// refWellFormed reports whether s is non-empty with no empty segment.
func refWellFormed(s string) bool {
	return s != "" && !slices.Contains(strings.Split(s, "."), "")
}

var sentinels = []error{ErrEmpty, ErrEmptySegment, ErrTooLong, ErrTooManySegments, ErrInvalidUTF8, ErrWildcardPosition}

// checkOneSentinel fails unless err is nil or wraps exactly one sentinel.
func checkOneSentinel(t *testing.T, what string, err error) {
	t.Helper()
	if err == nil {
		return
	}
	n := 0
	for _, s := range sentinels {
		if errors.Is(err, s) {
			n++
		}
	}
	if n != 1 {
		t.Errorf("%s: error %v wraps %d sentinels", what, err, n)
	}
}

func FuzzMatchersNoPanic(f *testing.F) {
	for _, s := range [][3]string{
		{"a.b.*", "a.b.c", "a.b.c.d"},
		{"foo.*", "foo.bar.*", "foo.bar.baz"},
		{"foo.bar", "foo.*", "foo.x"},
		{"foo.*.*", "foo.*", "foo.x"},
		{"*", "*", "x"},
		{"a.*.c", "a.*.c", "a.b.c"},
		{"tool.v1.execute.*.result", "tool.v1.execute.read_file.result", "tool.v1.execute.a.b.result"},
		{"a..b", ".", ""},
		{"a*", "a.", "\xff.*"},
		{"astrid.*", depth(21), depth(20)},
		{"*.*", "a.*", "a.b.c"},
	} {
		f.Add(s[0], s[1], s[2])
	}
	f.Fuzz(func(t *testing.T, a, b, c string) {
		for _, s := range []string{a, b, c} {
			want := 0
			if s != "" {
				want = len(strings.Split(s, "."))
			}
			if got := Segments(s); got != want {
				t.Errorf("Segments(%q) = %d, want %d", s, got, want)
			}
			vg, vh := Validate(s, GuestLimits), Validate(s, HostLimits)
			sg, sh := ValidateSubscribePattern(s, GuestLimits), ValidateSubscribePattern(s, HostLimits)
			for _, e := range []error{vg, vh, sg, sh} {
				checkOneSentinel(t, s, e)
			}
			if vg == nil && vh != nil {
				t.Errorf("%q: valid for guests but not for the host: %v", s, vh)
			}
			if (sg == nil && vg != nil) || (sh == nil && vh != nil) {
				t.Errorf("%q: subscribe pattern valid but topic not", s)
			}
			if vg == nil && sg != nil && !errors.Is(sg, ErrWildcardPosition) {
				t.Errorf("%q: valid topic but subscribe gate says %v", s, sg)
			}
			if (vh == nil) != (refWellFormed(s) && len(s) <= MaxBytes && Segments(s) <= MaxDepth && utf8.ValidString(s)) {
				t.Errorf("%q: Validate(HostLimits) = %v disagrees with the model", s, vh)
			}
			if refWellFormed(s) {
				if !MatchStrict(s, s) {
					t.Errorf("MatchStrict(%q, itself) = false", s)
				}
				if MatchRoute(s, s) != (Segments(s) <= MaxDepth) {
					t.Errorf("MatchRoute(%q, itself) = %v", s, MatchRoute(s, s))
				}
			}
		}
		for _, pt := range [][2]string{{a, b}, {b, c}, {a, c}, {b, a}} {
			p, topic := pt[0], pt[1]
			route, strict := MatchRoute(p, topic), MatchStrict(p, topic)
			if want := refMatchRoute(p, topic); route != want {
				t.Errorf("MatchRoute(%q, %q) = %v, model says %v", p, topic, route, want)
			}
			if AllowsSubscribe(p, topic) != route {
				t.Errorf("AllowsSubscribe(%q, %q) != MatchRoute", p, topic)
			}
			if route && (!refWellFormed(p) || !refWellFormed(topic) || Segments(topic) > MaxDepth) {
				t.Errorf("MatchRoute(%q, %q) true on a malformed or too deep input", p, topic)
			}
			if strict && (Segments(p) != Segments(topic) || !refWellFormed(p) || !refWellFormed(topic)) {
				t.Errorf("MatchStrict(%q, %q) true with unequal segment counts or malformed input", p, topic)
			}
			depthOK := Segments(topic) <= MaxDepth
			if strict && depthOK && !route {
				t.Errorf("MatchStrict(%q, %q) but not MatchRoute", p, topic)
			}
			if !strings.HasSuffix(p, ".*") && route != (strict && depthOK) {
				t.Errorf("non-subtree pattern %q: MatchRoute=%v MatchStrict=%v on %q", p, route, strict, topic)
			}
		}
		// No scope escalation: if key a allows subscribing to b, every
		// topic c delivered for b is covered by a.
		if AllowsSubscribe(a, b) && MatchRoute(b, c) && !MatchRoute(a, c) {
			t.Errorf("key %q allows %q which delivers %q, but the key does not cover it", a, b, c)
		}
		if MatchStrict(a, b) && MatchStrict(b, c) && !MatchStrict(a, c) {
			t.Errorf("MatchStrict not transitive on %q, %q, %q", a, b, c)
		}
	})
}

func FuzzIndexAgreesWithMatchRoute(f *testing.F) {
	for _, s := range [][2]string{
		{"a.b.*\na.*.c\na.b.c\n*\n*.*", "a.b.c"},
		{"a.b.*\na.b.*\na.b", "a.b"},
		{"astrid.*\nastrid.v1.admin.*.*", "astrid.v1.admin.agent.list"},
		{"tool.v1.execute.*.result", "tool.v1.execute.read_file.result"},
		{"tool.v1.execute.*.result", "tool.v1.execute.a.b.result"},
		{"a*\n*\na.*", "a*"},
		{"a.*\na.b", "a.*"},
		{"\na..b\n.\n.a\na.", "a.b"},
		{"astrid.*\n" + depth(21), depth(21)},
		{"astrid.*\n" + depth(20) + "\n*" + repeatWild(19), depth(20)},
		{"*.*.*\n*.*\n*", "x.y.z.w"},
	} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, patternList, topic string) {
		patterns := strings.Split(patternList, "\n")
		if len(patterns) > 64 {
			patterns = patterns[:64]
		}
		ix := NewIndex[int]()
		var entries []entry
		for i, p := range patterns {
			err := ix.Add(p, i)
			if refWellFormed(p) != (err == nil) {
				t.Fatalf("Add(%q) = %v", p, err)
			}
			if err != nil {
				if !errors.Is(err, ErrEmpty) && !errors.Is(err, ErrEmptySegment) {
					t.Fatalf("Add(%q) = %v, want ErrEmpty or ErrEmptySegment", p, err)
				}
				continue
			}
			entries = append(entries, entry{p, i})
			// A duplicate pair is a no-op.
			if err := ix.Add(p, i); err != nil || ix.Len() != len(entries) {
				t.Fatalf("duplicate Add(%q, %d): err %v, Len %d, want %d", p, i, err, ix.Len(), len(entries))
			}
		}
		check := func(when string) {
			t.Helper()
			for _, tp := range append([]string{topic}, patterns...) {
				got := sorted(ix.Match(tp, nil))
				if want := bruteMatch(entries, tp); !slices.Equal(got, want) {
					t.Fatalf("%s: Match(%q) = %v, want %v", when, tp, got, want)
				}
			}
		}
		check("after Add")
		// Remove every other pair, then the rest.
		var kept []entry
		for j, e := range entries {
			if j%2 == 1 {
				kept = append(kept, e)
				continue
			}
			if !ix.Remove(e.pattern, e.v) {
				t.Fatalf("Remove(%q, %d) = false", e.pattern, e.v)
			}
		}
		entries = kept
		if ix.Len() != len(entries) {
			t.Fatalf("Len = %d, want %d", ix.Len(), len(entries))
		}
		check("after removing half")
		for _, e := range entries {
			if !ix.Remove(e.pattern, e.v) {
				t.Fatalf("Remove(%q, %d) = false", e.pattern, e.v)
			}
		}
		entries = nil
		check("after removing all")
		if ix.Len() != 0 {
			t.Fatalf("Len = %d after removing all", ix.Len())
		}
		assertPruned(t, ix)
	})
}
