package manifest

import (
	"errors"
	"regexp"
	"strings"

	"github.com/Masterminds/semver/v3"
)

// bareVersionRe matches a comparator without an operator and without wildcards: "1",
// "1.2", "1.2.3", "1.2.3-rc.1".
var bareVersionRe = regexp.MustCompile(`^v?[0-9]+(\.[0-9]+){0,2}(-[0-9A-Za-z.-]+)?(\+[0-9A-Za-z.-]+)?$`)

// ParseRequirement parses a semver requirement as used by astrid-version and [imports].
// The syntax is that of github.com/Masterminds/semver/v3 ("^1.2", "~1.2.3", ">=1.0, <2.0",
// "1.x", "*", "1.0 - 2.0", "^1 || ^2") with one change for Cargo compatibility: a
// comparator without an operator means caret, so "1.2" is "^1.2" (>=1.2.0, <2.0.0), not
// "=1.2". An empty requirement is an error.
func ParseRequirement(s string) (*semver.Constraints, error) {
	if strings.TrimSpace(s) == "" {
		return nil, errors.New("empty requirement")
	}
	ors := strings.Split(s, "||")
	for i, or := range ors {
		parts := strings.Split(or, ",")
		for j, part := range parts {
			if t := strings.TrimSpace(part); bareVersionRe.MatchString(t) {
				parts[j] = "^" + t
			}
		}
		ors[i] = strings.Join(parts, ",")
	}
	return semver.NewConstraint(strings.Join(ors, "||"))
}
