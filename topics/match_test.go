package topics

import (
	"strings"
	"testing"
)

type matchCase struct {
	pattern, topic string
	want           bool
}

// depth returns a topic of n segments under "astrid".
func depth(n int) string {
	return "astrid" + strings.Repeat(".x", n-1)
}

func TestMatchRoute(t *testing.T) {
	tests := []matchCase{
		// Exact.
		{"a.b.c", "a.b.c", true},
		{"a.b.c", "a.b", false},
		{"a.b.c", "a.b.c.d", false},
		{"a.b.c", "a.b.x", false},
		{"user.prompt", "user.prompt", true},
		{"user.prompt", "user.prompt.extra", false},
		{"user.prompt", "user", false},
		// Middle wildcard.
		{"a.*.c", "a.b.c", true},
		{"a.*.c", "a.zz.c", true},
		{"a.*.c", "a.b.d", false},
		{"a.*.c", "a.b.c.d", false},
		{"a.*.c", "a.c", false},
		{"tool.v1.execute.*.result", "tool.v1.execute.read_file.result", true},
		{"tool.v1.execute.*.result", "tool.v1.execute.a.b.result", false},
		{"tool.v1.execute.*.result", "tool.v1.execute.result", false},
		{"*.b.*", "x.b.z", true},
		{"*.b.*", "x.b.z.w", true}, // trailing * is a subtree
		{"*.b.*", "x.c.z", false},
		{"*.b.c", "foo.b.c", true},
		// Trailing subtree.
		{"a.b.*", "a.b.c", true},
		{"a.b.*", "a.b.c.d", true},
		{"a.b.*", "a.b", false},
		{"a.b.*", "a.c.b", false},
		{"a.b.*", "a", false},
		{"astrid.*", "astrid.x", true},
		{"astrid.*", depth(20), true},
		{"astrid.*", depth(21), false},
		{"astrid.*", "astrid", false},
		{"astrid.v1.admin.*", "astrid.v1.admin.quota", true},
		{"astrid.v1.admin.*", "astrid.v1.admin.agent.list", true},
		{"astrid.v1.admin.*", "astrid.v1.admin.auth.pair.issue", true},
		{"astrid.v1.admin.*", "astrid.v1.admin", false},
		// a.*.* : at least 3 segments under a.
		{"a.*.*", "a.b.c", true},
		{"a.*.*", "a.b.c.d.e", true},
		{"a.*.*", "a.b", false},
		{"a.*.*", "b.c.d", false},
		{"astrid.v1.admin.*.*", "astrid.v1.admin.agent.list", true},
		{"astrid.v1.admin.*.*", "astrid.v1.admin.auth.pair.issue", true},
		{"astrid.v1.admin.*.*", "astrid.v1.admin.quota", false},
		{"astrid.v1.admin.*.*.*", "astrid.v1.admin.auth.pair.issue", true},
		{"astrid.v1.admin.*.*.*", "astrid.v1.admin.agent.list", false},
		// Bare *.
		{"*", "a", true},
		{"*", "*", true},
		{"*", "a.b", false},
		{"*.*", "a", false},
		{"*.*", "a.b", true},
		{"*.*", "a.b.c", true},
		// Depth limit.
		{depth(20), depth(20), true},
		{depth(21), depth(21), false},
		{"*" + strings.Repeat(".*", 19), depth(20), true},
		{"*" + strings.Repeat(".*", 20), depth(21), false},
		// Empty segments / empty strings.
		{"", "", false},
		{"", "a", false},
		{"a", "", false},
		{".", ".", false},
		{"a..b", "a..b", false},
		{"a.*.b", "a..b", false},
		{".a", ".a", false},
		{"*.a", ".a", false},
		{"a.", "a.", false},
		{"a.*", "a.", false},
		{"a.*", "a..", false},
		{"a..*", "a.b.c", false},
		{"*", "", false},
		// Literal a* and literal * topic segments.
		{"a*", "a*", true},
		{"a*", "ab", false},
		{"a*.b", "ax.b", false},
		{"*a", "ba", false},
		{"a.*", "a.*", true},
		{"a.b", "a.*", false},
		{"a.*.c", "a.*.c", true},
		{"**", "a", false},
		{"**", "**", true},
		// Audit cover examples (§3.4): pattern matched as topic.
		{"astrid.v1.audit.entry", "astrid.v1.audit.entry", true},
		{"astrid.v1.audit.*", "astrid.v1.audit.entry", true},
		{"astrid.v1.*", "astrid.v1.audit.entry", true},
		{"astrid.*", "astrid.v1.audit.entry", true},
		{"astrid.v1.request.*", "astrid.v1.audit.entry", false},
		{"astrid.v1.session.*", "astrid.v1.audit.entry", false},
		{"astrid.v1.audit", "astrid.v1.audit.entry", false},
		{"user.prompt", "astrid.v1.audit.entry", false},
		// Invalid UTF-8 is not the matcher's business: bytes compare.
		{"a.\xff", "a.\xff", true},
		{"a.*", "a.\xff", true},
	}
	for _, tc := range tests {
		if got := MatchRoute(tc.pattern, tc.topic); got != tc.want {
			t.Errorf("MatchRoute(%q, %q) = %v, want %v", tc.pattern, tc.topic, got, tc.want)
		}
	}
}

func TestMatchStrict(t *testing.T) {
	tests := []matchCase{
		{"user.prompt", "user.prompt", true},
		{"tool.execute.*.result", "tool.execute.search.result", true},
		{"tool.execute.*.result", "tool.execute.code-run.result", true},
		{"tool.execute.*.result", "tool.execute.result", false},
		{"user.prompt", "user.prompt.extra", false},
		{"user.prompt", "user", false},
		{"*.bar.baz", "foo.bar.baz", true},
		{"foo.bar.*", "foo.bar.baz", true},
		{"foo.bar.*", "foo.bar.baz.qux", false}, // no subtree
		{"foo.bar.*", "foo.bar", false},
		{"*.b.*", "a.b.c", true},
		{"*.b.*", "x.b.z", true},
		{"*.b.*", "x.c.z", false},
		{"astrid.v1.admin.*", "astrid.v1.admin.quota", true},
		{"astrid.v1.admin.*", "astrid.v1.admin.agent.list", false},
		{"registry.v1.*", "registry.v1.providers", true},
		{"registry.v1.*", "registry.v1.selection.callback", false},
		{"*", "a", true},
		{"*", "a.b", false},
		{"a*", "ab", false},
		{"a*", "a*", true},
		{"a.*", "a.*", true},
		{"a.b", "a.*", false},
		// No depth limit.
		{depth(21), depth(21), true},
		{"astrid" + strings.Repeat(".*", 20), depth(21), true},
		// Empty segments / empty strings.
		{"a..b", "a..b", false},
		{"a.*.b", "a..b", false},
		{".a.b", ".a.b", false},
		{"a.b.", "a.b.", false},
		{".", ".", false},
		{"", "", false},
		{"*", "", false},
		{"", "a", false},
		{"foo..bar", "foo.x.bar", false},
	}
	for _, tc := range tests {
		if got := MatchStrict(tc.pattern, tc.topic); got != tc.want {
			t.Errorf("MatchStrict(%q, %q) = %v, want %v", tc.pattern, tc.topic, got, tc.want)
		}
	}
}

func TestAllowsSubscribe(t *testing.T) {
	tests := []struct {
		key, requested string
		want           bool
	}{
		{"foo.*", "foo.bar", true},
		{"foo.*", "foo.bar.baz", true},
		{"foo.*", "foo.*", true},
		{"foo.*", "foo.bar.*", true},
		{"foo.*", "foo", false},
		{"foo.bar", "foo.bar", true},
		{"foo.bar", "foo.*", false}, // scope-escalation guard
		{"foo.*.*", "foo.*", false},
		{"foo.*.*", "foo.a.*", true},
		{"*", "x", true},
		{"*", "*", true},
		{"*", "x.y", false},
		{"*", "x.*", false},
		{"a.*.c", "a.x.c", true},
		{"a.*.c", "a.*.c", true},
		{"a.b.c", "a.*.c", false},
		{"foo..bar", "foo.x.bar", false}, // malformed key denies
		{"foo.*", "", false},
		{"foo.*", "foo..x", false},
		{"astrid.v1.admin.*", "astrid.v1.admin", false},
	}
	for _, tc := range tests {
		if got := AllowsSubscribe(tc.key, tc.requested); got != tc.want {
			t.Errorf("AllowsSubscribe(%q, %q) = %v, want %v", tc.key, tc.requested, got, tc.want)
		}
	}
}

func TestMatchersDoNotAllocate(t *testing.T) {
	p, topic := "tool.v1.execute.*.result", "tool.v1.execute.read_file.result"
	if a := testing.AllocsPerRun(100, func() {
		MatchRoute(p, topic)
		MatchStrict(p, topic)
		AllowsSubscribe("tool.*", topic)
	}); a != 0 {
		t.Errorf("matchers allocate %v times per run", a)
	}
}
