package topics

import (
	"errors"
	"strings"
	"testing"
)

// longTopic returns a one-segment topic of n bytes.
func longTopic(n int) string { return strings.Repeat("x", n) }

// segs returns a topic of n one-byte segments.
func segs(n int) string {
	parts := make([]string, n)
	for i := range parts {
		parts[i] = "s"
	}
	return strings.Join(parts, ".")
}

func TestSegments(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want int
	}{
		{"", 0}, {"a", 1}, {"a.b", 2}, {".", 2}, {"a..b", 3}, {".a", 2}, {"a.", 2}, {"*", 1}, {segs(21), 21},
	} {
		if got := Segments(tc.in); got != tc.want {
			t.Errorf("Segments(%q) = %d, want %d", tc.in, got, tc.want)
		}
	}
	if a := testing.AllocsPerRun(100, func() { Segments("a.b.c.d") }); a != 0 {
		t.Errorf("Segments allocates %v times", a)
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		in   string
		l    Limits
		want error
	}{
		{"a", GuestLimits, nil},
		{"a.b.c", GuestLimits, nil},
		{"user.v1.prompt", GuestLimits, nil},
		{"*", GuestLimits, nil},
		{"a.*.b", GuestLimits, nil},
		{"a.*.*", GuestLimits, nil}, // wildcards are not special for Validate
		{"a*", GuestLimits, nil},
		{"Ünïcödé.ok", GuestLimits, nil},
		{"with space.UPPER", GuestLimits, nil}, // no character class
		{"", GuestLimits, ErrEmpty},
		{".", GuestLimits, ErrEmptySegment},
		{"..", GuestLimits, ErrEmptySegment},
		{"a..b", GuestLimits, ErrEmptySegment},
		{"a...b", GuestLimits, ErrEmptySegment},
		{".a", GuestLimits, ErrEmptySegment},
		{"a.", GuestLimits, ErrEmptySegment},
		{".a.b", GuestLimits, ErrEmptySegment},
		{"a.b.", GuestLimits, ErrEmptySegment},
		{"a.\xff", GuestLimits, ErrInvalidUTF8},
		{"\xc3", GuestLimits, ErrInvalidUTF8},
		{longTopic(256), GuestLimits, nil},
		{longTopic(257), GuestLimits, ErrTooLong},
		{segs(8), GuestLimits, nil},
		{segs(9), GuestLimits, ErrTooManySegments},
		{segs(20), HostLimits, nil},
		{segs(21), HostLimits, ErrTooManySegments},
		{"a.b", Limits{}, ErrTooLong}, // zero limits fail closed
		{"a.b", Limits{MaxBytes: 3, MaxSegments: 2}, nil},
		{"a.b", Limits{MaxBytes: 3, MaxSegments: 1}, ErrTooManySegments},
		// Check order.
		{longTopic(300) + "..", GuestLimits, ErrTooLong},        // too long before empty segment
		{"\xff..", GuestLimits, ErrInvalidUTF8},                 // UTF-8 before empty segment
		{segs(9) + "..", GuestLimits, ErrEmptySegment},          // empty segment before count
		{strings.Repeat("\xff.", 200), GuestLimits, ErrTooLong}, // too long before UTF-8
		{strings.Repeat("é.", 9) + "é", GuestLimits, ErrTooManySegments},
	}
	for _, tc := range tests {
		err := Validate(tc.in, tc.l)
		if !errors.Is(err, tc.want) || (tc.want == nil) != (err == nil) {
			t.Errorf("Validate(%q, %+v) = %v, want %v", tc.in, tc.l, err, tc.want)
		}
		if err != nil && !strings.Contains(err.Error(), "topic ") {
			t.Errorf("Validate(%q) error %q lacks context", tc.in, err)
		}
	}
}

func TestValidateErrorMessage(t *testing.T) {
	err := Validate("a..b", GuestLimits)
	if got, want := err.Error(), `topic "a..b": empty topic segment`; got != want {
		t.Errorf("error = %q, want %q", got, want)
	}
	huge := strings.Repeat("x", 10000)
	err = Validate(huge, GuestLimits)
	if !errors.Is(err, ErrTooLong) || len(err.Error()) > 2*maxQuoted {
		t.Errorf("huge input error not bounded: %d bytes", len(err.Error()))
	}
	if !strings.Contains(err.Error(), "(10000 bytes)") {
		t.Errorf("huge input error lacks length: %q", err.Error()[len(err.Error())-60:])
	}
}

func TestValidateSubscribePattern(t *testing.T) {
	tests := []struct {
		in   string
		l    Limits
		want error
	}{
		{"a", GuestLimits, nil},
		{"a.b", GuestLimits, nil},
		{"a.b.*", GuestLimits, nil},
		{"*", GuestLimits, nil},
		{"a*", GuestLimits, nil},
		{"a.b*.c", GuestLimits, nil},
		{"*a.b", GuestLimits, nil},
		{"a.*.c", GuestLimits, ErrWildcardPosition},
		{"*.b", GuestLimits, ErrWildcardPosition},
		{"a.*.*", GuestLimits, ErrWildcardPosition},
		{"*.*", GuestLimits, ErrWildcardPosition},
		{"", GuestLimits, ErrEmpty},
		{".", GuestLimits, ErrEmptySegment},
		{"a..b", GuestLimits, ErrEmptySegment},
		{".a", GuestLimits, ErrEmptySegment},
		{"a.", GuestLimits, ErrEmptySegment},
		{"a.*.", GuestLimits, ErrEmptySegment}, // empty segment before wildcard position
		{"a.\xff.*", GuestLimits, ErrInvalidUTF8},
		{longTopic(256), GuestLimits, nil},
		{longTopic(257), GuestLimits, ErrTooLong},
		{longTopic(255) + ".*", GuestLimits, ErrTooLong},
		{segs(7) + ".*", GuestLimits, nil},
		{segs(8), GuestLimits, nil},
		{segs(9), GuestLimits, ErrTooManySegments},
		{segs(8) + ".*", GuestLimits, ErrTooManySegments},
		{"*." + segs(9), GuestLimits, ErrWildcardPosition}, // wildcard position before count
		{segs(20), HostLimits, nil},
		{segs(21), HostLimits, ErrTooManySegments},
	}
	for _, tc := range tests {
		err := ValidateSubscribePattern(tc.in, tc.l)
		if !errors.Is(err, tc.want) || (tc.want == nil) != (err == nil) {
			t.Errorf("ValidateSubscribePattern(%q, %+v) = %v, want %v", tc.in, tc.l, err, tc.want)
		}
	}
	if got, want := ValidateSubscribePattern("a.*.c", GuestLimits).Error(),
		`topic pattern "a.*.c": wildcard '*' is only allowed as the last segment`; got != want {
		t.Errorf("error = %q, want %q", got, want)
	}
}
