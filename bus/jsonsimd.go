package bus

import (
	"encoding/binary"
	"math/bits"
	"unicode/utf8"
	"unsafe"
)

// The block validator: scanJSONBlocks checks the same rule as scanJSON (encoding/json.Valid
// and UTF-8 throughout) in two stages, after simdjson (Langdale & Lemire, "Parsing Gigabytes of
// JSON per Second", 2019):
//
//  1. Classification: every 64-byte block becomes five bitmasks (blockMasks: quotes,
//     backslashes, structural characters, whitespace, controls) — with AVX2 on amd64
//     (stage1AVX2, jsonsimd_amd64.s: 32 bytes per compare), or byte by byte (stage1Go, the
//     reference the tests compare the assembly with).
//  2. In Go, per block and branch-free: the characters escaped by a backslash (odd runs), the
//     unescaped quotes, the in-string mask (prefix XOR of the quotes), and from them the tokens:
//     structural characters outside strings, opening quotes, and the first byte of each run of
//     other bytes outside strings (a number, true, false or null — or garbage). String bodies
//     and whitespace cost nothing more; a grammar state machine visits only the tokens, with
//     the container stack as a bit stack bounded by maxJSONNesting.
//
// What the masks check instead of the grammar: a control byte inside a string or outside one
// other than \t \n \r (both invalid), each escape inside a string (one of "\/bfnrt, or u and
// four hex digits), an unterminated string (the in-string mask still set at the end). A scalar
// run is parsed by scanJSONNumber or compared with true/false/null and must end at a
// terminator (whitespace, a structural character or a quote), so a backslash outside a string
// — which would also make the quote masks after it wrong — rejects the text when its run is
// reached, before any token the wrong masks would produce. Bytes ≥ 0x80 outside strings are
// scalar bytes (rejected the same way); inside strings they are checked by utf8.Valid over the
// whole text, run only when stage 1 saw one.

// blockMasks is stage 1's output for one 64-byte block; bit i is byte i of the block.
// stage1AVX2 writes it by offset (0, 8, …, 40): keep the field order.
type blockMasks struct {
	quote, backslash, op, ws, ctrl, digit uint64
}

// chunkBlocks is how many blocks one stage-1 call classifies (1 KiB).
const chunkBlocks = 16

// minBlockScan is the payload size from which validJSON uses the block validator when the
// assembly is available; below it scanJSON is faster (BenchmarkValidJSONShapes, 128 B).
const minBlockScan = 256

// jsonTerm[c] says whether c may follow a number or literal: whitespace, a structural
// character or a quote.
var jsonTerm = [256]bool{' ': true, '\t': true, '\n': true, '\r': true, ',': true, ':': true,
	'[': true, ']': true, '{': true, '}': true, '"': true}

// stage1Go is the portable stage 1: stage1AVX2's result, byte by byte. The op mask follows the
// assembly's nibble table exactly, including its two control bytes 0x0c and 0x1a (both invalid
// wherever they appear, and rejected through the ctrl mask).
func stage1Go(src []byte, nblocks int, masks []blockMasks) (nonASCII bool) {
	for k := range nblocks {
		var m blockMasks
		for i, c := range src[k*64 : k*64+64] {
			bit := uint64(1) << i
			switch c {
			case '"':
				m.quote |= bit
			case '\\':
				m.backslash |= bit
			case ' ', '\t', '\n', '\r':
				m.ws |= bit
			}
			switch c | 0x20 {
			case '{', '}', ':', ',':
				if c < 0x80 {
					m.op |= bit
				}
			}
			if c < 0x20 {
				m.ctrl |= bit
			}
			if '0' <= c && c <= '9' {
				m.digit |= bit
			}
			if c >= 0x80 {
				nonASCII = true
			}
		}
		masks[k] = m
	}
	return nonASCII
}

// Grammar states of scanJSONBlocks: the set of tokens allowed next.
const (
	allowValue = 1 << iota // a value
	allowClose             // the closing bracket of the innermost container
	allowKey               // a member name
	allowColon
	allowComma
)

// scanJSONBlocks reports what scanJSON reports, with the block algorithm above; asm selects
// stage1AVX2 (the caller checks haveStage1Asm) over stage1Go.
func scanJSONBlocks(b []byte, asm bool) bool {
	n := len(b)
	var (
		masks    [chunkBlocks]blockMasks
		tail     [64]byte
		stack    [maxJSONNesting/64 + 1]uint64 // bit d: the container at depth d+1 is an object
		nonASCII bool
		bad      uint64 // any bit set: a control byte where none may be

		prevEscaped uint64 // 1: the first byte of the next block is escaped
		prevString  uint64 // all ones: the next block starts inside a string
		prevScalar  uint64 // 1: the last byte of the previous block was a scalar byte

		state = allowValue
		after = 0 // state after a value: allowComma|allowClose inside a container, else 0
		depth = 0
		obj   = false // the innermost container is an object
	)
	for base := 0; base < n; {
		nb := min((n-base)>>6, chunkBlocks)
		src := b[base:]
		if nb == 0 { // the last, partial block, padded with spaces
			copy(tail[:], b[base:])
			for i := n - base; i < 64; i++ {
				tail[i] = ' '
			}
			src, nb = tail[:], 1
		}
		if asm {
			nonASCII = stage1AVX2(unsafe.SliceData(src), nb, &masks[0]) || nonASCII
		} else {
			nonASCII = stage1Go(src, nb, masks[:]) || nonASCII
		}
		for k := range nb {
			m := &masks[k]
			quote := m.quote
			if bs := m.backslash; bs|prevEscaped != 0 {
				// simdjson's find_escaped: the bytes escaped by an odd run of backslashes.
				bs &^= prevEscaped
				follows := bs<<1 | prevEscaped
				const even = 0x5555555555555555
				oddStarts := bs &^ even &^ follows
				seqEven, carry := bits.Add64(oddStarts, bs, 0)
				escaped := (even ^ seqEven<<1) & follows
				prevEscaped = carry
				quote &^= escaped
				str := prefixXor(quote) ^ prevString
				if esc := escaped & str; esc != 0 && !validEscapes(b, base, esc) {
					return false
				}
				// The escape check needs str; the rest recomputes it below (cheap, rare).
			}
			str := prefixXor(quote) ^ prevString
			prevString = uint64(int64(str) >> 63)
			bad |= m.ctrl & (str | ^m.ws)
			op := m.op &^ str
			scalar := ^(m.op | m.ws | quote | str)
			tokens := op | quote&str | scalar&^(scalar<<1|prevScalar)
			prevScalar = scalar >> 63

			for tokens != 0 {
				p := base + bits.TrailingZeros64(tokens)
				tokens &= tokens - 1
				switch c := b[p]; c {
				case '"':
					if state&allowValue != 0 {
						state = after
					} else if state&allowKey != 0 {
						state = allowColon
					} else {
						return false
					}
				case ':':
					if state != allowColon {
						return false
					}
					state = allowValue
				case ',':
					if state&allowComma == 0 {
						return false
					}
					if obj {
						state = allowKey
					} else {
						state = allowValue
					}
				case '{', '[':
					if state&allowValue == 0 || depth >= maxJSONNesting {
						return false
					}
					if obj {
						stack[depth>>6] |= 1 << (depth & 63)
					} else {
						stack[depth>>6] &^= 1 << (depth & 63)
					}
					depth++
					obj = c == '{'
					after = allowComma | allowClose
					if obj {
						state = allowKey | allowClose
					} else {
						state = allowValue | allowClose
					}
				case '}', ']':
					if state&allowClose == 0 || obj != (c == '}') {
						return false
					}
					depth--
					obj = stack[depth>>6]>>(depth&63)&1 != 0
					if depth == 0 {
						after = 0
					}
					state = after
				default:
					if state&allowValue == 0 {
						return false
					}
					q := uint(p - base)
					run := uint(bits.TrailingZeros64(^(scalar >> q)))
					if run == 0 { // 0x0c or 0x1a, classed with the structural bytes
						return false
					}
					if q+run >= 64 { // the run may go on in the next block
						if !validScalar(b, p) {
							return false
						}
					} else if !validScalarRun(b[p:p+int(run)], m.digit>>q) {
						return false
					}
					state = after
				}
			}
			base += 64
		}
		if bad != 0 {
			return false
		}
	}
	if state != 0 || prevString != 0 {
		return false
	}
	return !nonASCII || utf8.Valid(b)
}

// prefixXor returns x with bit i set to the XOR of bits 0..i of x: for the quote bits, the bytes
// from an opening quote up to (not including) its closing quote.
func prefixXor(x uint64) uint64 {
	x ^= x << 1
	x ^= x << 2
	x ^= x << 4
	x ^= x << 8
	x ^= x << 16
	x ^= x << 32
	return x
}

// validEscapes reports whether each byte of the block at base marked in esc (escaped by a
// backslash inside a string) makes a valid escape.
func validEscapes(b []byte, base int, esc uint64) bool {
	for esc != 0 {
		p := base + bits.TrailingZeros64(esc)
		esc &= esc - 1
		if p >= len(b) {
			return false // the text ends in a backslash (inside the padding)
		}
		switch b[p] {
		case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
		case 'u':
			if len(b)-p < 5 || !isHex(b[p+1]) || !isHex(b[p+2]) || !isHex(b[p+3]) || !isHex(b[p+4]) {
				return false
			}
		default:
			return false
		}
	}
	return true
}

// validScalarRun reports whether run (a whole run of scalar bytes, inside one block) is a
// number, true, false or null; bit j of digits says whether run[j] is a digit.
func validScalarRun(run []byte, digits uint64) bool {
	switch len(run) {
	case 4:
		if w := binary.LittleEndian.Uint32(run); w == 't'|'r'<<8|'u'<<16|'e'<<24 || w == 'n'|'u'<<8|'l'<<16|'l'<<24 {
			return true
		}
	case 5:
		if string(run) == "false" {
			return true
		}
	}
	// -? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?, the digit runs counted from the mask.
	j := 0
	if run[0] == '-' {
		j = 1
	}
	nd := bits.TrailingZeros64(^(digits >> j))
	if nd == 0 || nd > 1 && run[j] == '0' {
		return false
	}
	j += nd
	if j < len(run) && run[j] == '.' {
		j++
		nd = bits.TrailingZeros64(^(digits >> j))
		if nd == 0 {
			return false
		}
		j += nd
	}
	if j < len(run) && run[j]|0x20 == 'e' {
		j++
		if j < len(run) && (run[j] == '+' || run[j] == '-') {
			j++
		}
		nd = bits.TrailingZeros64(^(digits >> j))
		if nd == 0 {
			return false
		}
		j += nd
	}
	return j == len(run)
}

// validScalar reports whether the run of scalar bytes at p is a number, true, false or null.
func validScalar(b []byte, p int) bool {
	var j int
	switch b[p] {
	case 't':
		if len(b)-p < 4 || string(b[p:p+4]) != "true" {
			return false
		}
		j = p + 4
	case 'f':
		if len(b)-p < 5 || string(b[p:p+5]) != "false" {
			return false
		}
		j = p + 5
	case 'n':
		if len(b)-p < 4 || string(b[p:p+4]) != "null" {
			return false
		}
		j = p + 4
	default:
		if j = scanJSONNumber(b, p); j < 0 {
			return false
		}
	}
	return j == len(b) || jsonTerm[b[j]]
}
