package bus

import (
	"encoding/binary"
	"math/bits"
	"unicode/utf8"
)

// maxJSONNesting is encoding/json's nesting limit: a text nesting arrays and objects deeper
// is invalid for encoding/json.Valid, and so for scanJSON.
const maxJSONNesting = 10000

// SWAR constants: every byte 0x01, every byte 0x80.
const (
	swarOnes = 0x0101010101010101
	swarHigh = 0x8080808080808080
)

// scanJSON reports whether b is one JSON text accepted by encoding/json.Valid and valid UTF-8
// as a whole, in one pass without recursion: containers are kept on an explicit stack bounded
// by maxJSONNesting. Outside strings JSON admits only ASCII, so UTF-8 needs checking only in
// string bodies, which are skipped 8 bytes at a time while they hold no quote, backslash,
// control or non-ASCII byte (the common case of a payload's bytes).
func scanJSON(b []byte) bool {
	var stackBuf [32]byte
	stack := stackBuf[:0]
	n := len(b)
	i := 0
value:
	i = skipJSONSpace(b, i)
	if i >= n {
		return false
	}
	switch b[i] {
	case '{':
		if len(stack) >= maxJSONNesting {
			return false
		}
		i = skipJSONSpace(b, i+1)
		if i < n && b[i] == '}' {
			i++
			goto next
		}
		stack = append(stack, '{')
		goto key
	case '[':
		if len(stack) >= maxJSONNesting {
			return false
		}
		i = skipJSONSpace(b, i+1)
		if i < n && b[i] == ']' {
			i++
			goto next
		}
		stack = append(stack, '[')
		goto value
	case '"':
		if i = scanJSONString(b, i+1); i < 0 {
			return false
		}
	case 't':
		if n-i < 4 || string(b[i:i+4]) != "true" {
			return false
		}
		i += 4
	case 'f':
		if n-i < 5 || string(b[i:i+5]) != "false" {
			return false
		}
		i += 5
	case 'n':
		if n-i < 4 || string(b[i:i+4]) != "null" {
			return false
		}
		i += 4
	default:
		if i = scanJSONNumber(b, i); i < 0 {
			return false
		}
	}
next: // after a value
	i = skipJSONSpace(b, i)
	if len(stack) == 0 {
		return i == n
	}
	if i >= n {
		return false
	}
	if stack[len(stack)-1] == '[' {
		switch b[i] {
		case ',':
			i++
			goto value
		case ']':
			i++
			stack = stack[:len(stack)-1]
			goto next
		}
		return false
	}
	switch b[i] {
	case ',':
		i = skipJSONSpace(b, i+1)
		goto key
	case '}':
		i++
		stack = stack[:len(stack)-1]
		goto next
	}
	return false
key: // at a member's name, after the space before it
	if i >= n || b[i] != '"' {
		return false
	}
	if i = scanJSONString(b, i+1); i < 0 {
		return false
	}
	i = skipJSONSpace(b, i)
	if i >= n || b[i] != ':' {
		return false
	}
	i++
	goto value
}

func skipJSONSpace(b []byte, i int) int {
	for i < len(b) {
		switch b[i] {
		case ' ', '\t', '\n', '\r':
			i++
		default:
			return i
		}
	}
	return i
}

// scanJSONString scans a string body from i (after the opening quote) and returns the index
// after the closing quote, or -1 if the string is invalid or unterminated.
func scanJSONString(b []byte, i int) int {
	n := len(b)
	for {
		// Skip plain bytes 8 at a time. The lowest flagged byte of the mask is the first quote,
		// backslash, control (< 0x20) or non-ASCII byte of the word (the borrows of the
		// subtractions run only upwards from a flagged byte).
		for i+8 <= n {
			w := binary.LittleEndian.Uint64(b[i:])
			q := w ^ (swarOnes * '"')
			s := w ^ (swarOnes * '\\')
			m := ((q - swarOnes) &^ q) | ((s - swarOnes) &^ s) | (w - swarOnes*0x20) | w
			m &= swarHigh
			if m != 0 {
				i += bits.TrailingZeros64(m) >> 3
				break
			}
			i += 8
		}
		if i >= n {
			return -1
		}
		switch c := b[i]; {
		case c == '"':
			return i + 1
		case c == '\\':
			if i+1 >= n {
				return -1
			}
			switch b[i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i += 2
			case 'u':
				if n-i < 6 || !isHex(b[i+2]) || !isHex(b[i+3]) || !isHex(b[i+4]) || !isHex(b[i+5]) {
					return -1
				}
				i += 6
			default:
				return -1
			}
		case c < 0x20:
			return -1
		case c < utf8.RuneSelf:
			i++
		default:
			r, size := utf8.DecodeRune(b[i:])
			if r == utf8.RuneError && size == 1 {
				return -1
			}
			i += size
		}
	}
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

// scanJSONNumber scans a number at i and returns the index after it, or -1:
// -? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?
func scanJSONNumber(b []byte, i int) int {
	n := len(b)
	if i < n && b[i] == '-' {
		i++
	}
	switch {
	case i >= n:
		return -1
	case b[i] == '0':
		i++
	case '1' <= b[i] && b[i] <= '9':
		i = skipDigits(b, i+1)
	default:
		return -1
	}
	if i < n && b[i] == '.' {
		j := skipDigits(b, i+1)
		if j == i+1 {
			return -1
		}
		i = j
	}
	if i < n && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < n && (b[i] == '+' || b[i] == '-') {
			i++
		}
		j := skipDigits(b, i)
		if j == i {
			return -1
		}
		i = j
	}
	return i
}

func skipDigits(b []byte, i int) int {
	for i < len(b) && '0' <= b[i] && b[i] <= '9' {
		i++
	}
	return i
}
