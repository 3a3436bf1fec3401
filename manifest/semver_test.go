package manifest

import (
	"testing"

	"github.com/Masterminds/semver/v3"
)

func TestParseRequirement(t *testing.T) {
	for _, tc := range []struct {
		req      string
		match    []string
		notMatch []string
	}{
		{"^1.2", []string{"1.2.0", "1.9.9"}, []string{"1.1.9", "2.0.0", "1.3.0-rc.1"}},
		{"1.2", []string{"1.2.0", "1.9.0"}, []string{"2.0.0", "1.1.0"}}, // bare = caret (Cargo)
		{"1", []string{"1.0.0", "1.5.0"}, []string{"2.0.0", "0.9.0"}},
		{"1.2.3", []string{"1.2.3", "1.3.0"}, []string{"1.2.2", "2.0.0"}},
		{"0.8", []string{"0.8.0", "0.8.9"}, []string{"0.9.0", "1.0.0"}},
		{"=1.2.3", []string{"1.2.3"}, []string{"1.2.4"}},
		{"~1.2", []string{"1.2.0", "1.2.9"}, []string{"1.3.0"}},
		{">=1.0, <2", []string{"1.0.0", "1.99.0"}, []string{"2.0.0", "0.9.0"}},
		{"1.0, <1.5", []string{"1.4.0"}, []string{"1.5.0"}},
		{"*", []string{"0.0.1", "9.9.9"}, nil},
		{"1.x", []string{"1.0.0", "1.7.0"}, []string{"2.0.0"}},
		{"1.2.*", []string{"1.2.5"}, []string{"1.3.0"}},
		{"^0.8 || ^1", []string{"0.8.1", "1.4.0"}, []string{"0.9.0", "2.0.0"}},
		{"1.0.0-rc.1", []string{"1.0.0-rc.1", "1.0.0", "1.2.0"}, []string{"1.0.0-beta"}},
	} {
		c, err := ParseRequirement(tc.req)
		if err != nil {
			t.Errorf("ParseRequirement(%q): %v", tc.req, err)
			continue
		}
		for _, v := range tc.match {
			if !c.Check(semver.MustParse(v)) {
				t.Errorf("%q does not match %s", tc.req, v)
			}
		}
		for _, v := range tc.notMatch {
			if c.Check(semver.MustParse(v)) {
				t.Errorf("%q matches %s", tc.req, v)
			}
		}
	}
	for _, bad := range []string{"", "  ", "abc", "one.two", ">>1", "1.2.3.4", "^"} {
		if _, err := ParseRequirement(bad); err == nil {
			t.Errorf("ParseRequirement(%q) succeeded", bad)
		}
	}
}
