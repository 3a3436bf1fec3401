package manifest

import "fmt"

// Structural limits of a manifest, checked by a linear scan before the TOML parser runs: the
// parser's cost grows faster than linearly with nesting depth and with the number of keys
// and values (RATIONALE.md, "Manifest parsing"), so a document over these limits is refused
// without being parsed. A real Capsule.toml is far below all three.
const (
	// MaxDepth is the deepest path a value may have: the parts of its table header, plus
	// the parts of its (dotted) key, plus one per enclosing inline table or array. In
	// [imports.astrid] session = { version = "^1" }, version is at depth 4.
	MaxDepth = 10
	// MaxKeys is the most keys a manifest may define: every key of a key/value pair
	// (inline tables included) and every table header counts once.
	MaxKeys = 1024
	// MaxArrayElements is the most array elements a manifest may hold, over all arrays.
	MaxArrayElements = 16384
)

// scanFrame is one open inline table ('{') or array ('[') and the depth of its value.
type scanFrame struct {
	kind  byte
	depth int
}

// scanner walks a TOML document once, tracking strings, comments, keys and brackets, and
// stops at the first structural limit exceeded. It does not validate TOML: anything it does
// not understand is skipped as a scalar and left to the parser, but strings and comments are
// recognized exactly as TOML does (a quote or '#' outside a string always starts one), so
// every bracket it counts is one the parser sees.
type scanner struct {
	data                []byte
	i, line             int
	stack               []scanFrame
	expectKey           bool // the next token is a key (start of line at top level, after '{' or ',' in an inline table)
	headerDepth         int  // the parts of the last table header
	valueDepth          int  // the depth of the value after the last key
	keys, arrayElements int
}

// prescan checks data against MaxDepth, MaxKeys and MaxArrayElements in one pass. The error
// names the line where the limit was exceeded.
func prescan(data []byte) error {
	s := &scanner{data: data, line: 1, expectKey: true}
	return s.run()
}

func (s *scanner) errf(format string, args ...any) error {
	return fmt.Errorf("line %d: %s", s.line, fmt.Sprintf(format, args...))
}

func (s *scanner) top() *scanFrame {
	if len(s.stack) == 0 {
		return nil
	}
	return &s.stack[len(s.stack)-1]
}

func (s *scanner) run() error {
	for s.i < len(s.data) {
		c := s.data[s.i]
		top := s.top()
		switch {
		case c == ' ' || c == '\t' || c == '\r':
			s.i++
		case c == '\n':
			s.line++
			s.i++
			if top == nil {
				s.expectKey = true
			}
		case c == '#':
			s.skipComment()
		case c == ']' || c == '}':
			if top != nil && (top.kind == '[') == (c == ']') {
				s.stack = s.stack[:len(s.stack)-1]
			}
			s.expectKey = false
			s.i++
		case c == ',':
			s.expectKey = top != nil && top.kind == '{'
			s.i++
		case s.expectKey && top == nil && c == '[':
			if err := s.header(); err != nil {
				return err
			}
		case s.expectKey:
			if err := s.key(); err != nil {
				return err
			}
		default:
			if err := s.value(c); err != nil {
				return err
			}
		}
	}
	return nil
}

// value scans the start of a value: an inline table or array is opened, a string or
// scalar is skipped.
func (s *scanner) value(c byte) error {
	depth := s.valueDepth
	if top := s.top(); top != nil && top.kind == '[' {
		s.arrayElements++
		if s.arrayElements > MaxArrayElements {
			return s.errf("more than %d array elements (the limit of this runtime)", MaxArrayElements)
		}
		depth = top.depth + 1
	}
	if depth > MaxDepth {
		return s.errf("keys, tables and values nest deeper than %d levels (the limit of this runtime)", MaxDepth)
	}
	switch c {
	case '[', '{':
		s.stack = append(s.stack, scanFrame{kind: c, depth: depth})
		s.expectKey = c == '{'
		s.i++
	case '"', '\'':
		s.skipString()
	default:
		s.skipScalar()
	}
	return nil
}

// header scans a table header [a.b] or [[a.b]].
func (s *scanner) header() error {
	s.i++ // '['
	if s.i < len(s.data) && s.data[s.i] == '[' {
		s.i++
	}
	parts := s.keyParts(']')
	if s.i < len(s.data) && s.data[s.i] == ']' {
		s.i++
		if s.i < len(s.data) && s.data[s.i] == ']' {
			s.i++
		}
	}
	s.headerDepth = parts
	s.expectKey = false // the rest of the line is a comment or a syntax error
	return s.countKey(parts)
}

// key scans a (dotted) key up to and including its '='.
func (s *scanner) key() error {
	parts := s.keyParts('=')
	base := s.headerDepth
	if top := s.top(); top != nil {
		base = top.depth
	}
	if s.i < len(s.data) && s.data[s.i] == '=' {
		s.i++
	}
	s.expectKey = false
	s.valueDepth = base + parts
	return s.countKey(base + parts)
}

func (s *scanner) countKey(depth int) error {
	s.keys++
	if s.keys > MaxKeys {
		return s.errf("more than %d keys and table headers (the limit of this runtime)", MaxKeys)
	}
	if depth > MaxDepth {
		return s.errf("keys, tables and values nest deeper than %d levels (the limit of this runtime)", MaxDepth)
	}
	return nil
}

// keyParts scans a key up to end (not consumed), a line end or another bracket, and returns
// its number of dot-separated parts. It always consumes at least one byte unless at end.
func (s *scanner) keyParts(end byte) int {
	parts := 1
	start := s.i
	for s.i < len(s.data) {
		switch c := s.data[s.i]; c {
		case end, '\n', '#', '[', ']', '{', '}', ',', '=':
			if s.i == start && c != end && c != '\n' && c != '#' {
				s.i++ // a stray byte: skip it so that the scan always moves on
			}
			return parts
		case '"', '\'':
			s.skipString()
		case '.':
			parts++
			s.i++
		default:
			s.i++
		}
	}
	return parts
}

func (s *scanner) skipComment() {
	for s.i < len(s.data) && s.data[s.i] != '\n' {
		s.i++
	}
}

// skipScalar skips a number, boolean, date or anything else that is not a string or bracket.
func (s *scanner) skipScalar() {
	start := s.i
	for s.i < len(s.data) {
		switch s.data[s.i] {
		case ' ', '\t', '\r', '\n', ',', '[', ']', '{', '}', '#', '"', '\'':
			if s.i == start {
				s.i++
			}
			return
		}
		s.i++
	}
}

// skipString skips a basic, literal, multi-line basic or multi-line literal string starting
// at s.i. An unterminated single-line string ends at the line end, as for the parser.
func (s *scanner) skipString() {
	q := s.data[s.i]
	if s.i+2 < len(s.data) && s.data[s.i+1] == q && s.data[s.i+2] == q {
		s.i += 3
		for s.i < len(s.data) {
			switch c := s.data[s.i]; {
			case c == '\\' && q == '"':
				s.i++
				if s.i < len(s.data) && s.data[s.i] == '\n' {
					s.line++
				}
				s.i++
			case c == '\n':
				s.line++
				s.i++
			case c == q && s.i+2 < len(s.data) && s.data[s.i+1] == q && s.data[s.i+2] == q:
				s.i += 3
				for n := 0; n < 2 && s.i < len(s.data) && s.data[s.i] == q; n++ {
					s.i++ // up to two quotes before the delimiter belong to the string
				}
				return
			default:
				s.i++
			}
		}
		return
	}
	s.i++
	for s.i < len(s.data) {
		switch c := s.data[s.i]; {
		case c == '\\' && q == '"':
			s.i += 2
		case c == q:
			s.i++
			return
		case c == '\n':
			return
		default:
			s.i++
		}
	}
}
