package kv

import (
	"errors"
	"strings"
	"testing"

	"go.uber.org/goleak"

	"github.com/astrid-actors/astrid-actors/internal/leakcheck"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, leakcheck.Options()...)
}

func TestValidKey(t *testing.T) {
	for _, c := range []struct {
		s             string
		key, asPrefix bool
	}{
		{"", false, true},
		{"a", true, true},
		{strings.Repeat("k", 256), true, true},
		{strings.Repeat("k", 257), false, false},
		{strings.Repeat("é", 128), true, true}, // 256 bytes
		{"a\x00", false, false},
		{"\x1f", false, false},
		{" ~", true, true},
		{"\x7f", false, false},
		{"\u0080", false, false},
		{"\u009f", false, false},
		{"\u00a0", true, true},
		{"\xff", false, false},
		{"\xe2\x82", false, false}, // truncated
		{"\U0001F600", true, true},
	} {
		if got := ValidKey(c.s) == nil; got != c.key {
			t.Errorf("ValidKey(%q) valid = %v, want %v", c.s, got, c.key)
		}
		err := ValidPrefix(c.s)
		if got := err == nil; got != c.asPrefix {
			t.Errorf("ValidPrefix(%q) valid = %v, want %v", c.s, got, c.asPrefix)
		}
		if err != nil && !errors.Is(err, ErrInvalidKey) {
			t.Errorf("ValidPrefix(%q) = %v, does not wrap ErrInvalidKey", c.s, err)
		}
	}
}

func TestLimitsAndQuota(t *testing.T) {
	for _, c := range []struct{ in, want int }{{0, 1024}, {-1, 1024}, {1, 1}, {1024, 1024}, {1025, 1024}} {
		if got := PageLimit(c.in); got != c.want {
			t.Errorf("PageLimit(%d) = %d, want %d", c.in, got, c.want)
		}
	}
	if (Namespace{}).Quota() != DefaultQuotaBytes || (Namespace{QuotaBytes: 5}).Quota() != 5 {
		t.Error("Quota defaults wrong")
	}
	for _, c := range []struct {
		usage, old, new, quota, after int64
		ok                            bool
	}{
		{0, 0, 10, 10, 10, true},
		{0, 0, 11, 10, 11, false},
		{20, 5, 5, 10, 20, true}, // over a lowered quota, not growing
		{20, 5, 4, 10, 19, true}, // shrinking
		{20, 5, 6, 10, 21, false},
	} {
		after, ok := Grows(c.usage, c.old, c.new, c.quota)
		if after != c.after || ok != c.ok {
			t.Errorf("Grows(%d, %d, %d, %d) = %d, %v; want %d, %v", c.usage, c.old, c.new, c.quota, after, ok, c.after, c.ok)
		}
	}
	if NamespaceName("alice", "counter") != "alice:capsule:counter" {
		t.Error(NamespaceName("alice", "counter"))
	}
}
