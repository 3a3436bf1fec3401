package bus

import (
	"encoding/binary"
	"math/bits"
	"unicode/utf8"
	"unsafe"
)

// The block validator: scanJSONBlocks checks the same rule as scanJSON (encoding/json.Valid
// and UTF-8 throughout) 64 bytes at a time with bitmasks, after simdjson (Langdale & Lemire,
// "Parsing Gigabytes of JSON per Second", 2019), and without visiting tokens one by one:
//
//  1. Classification: every 64-byte block becomes sixteen bitmasks (blockMasks), with
//     AVX-512BW on amd64 where the CPU has it (stage1AVX512, jsonsimd_amd64.s, a block per
//     compare), else AVX2 (stage1AVX2, 32 bytes per compare), or byte by byte (stage1Go, the
//     reference the tests compare both with).
//
// Steps 2 to 5 are the grammar step: grammarAVX2 in assembly beside stage 1, grammarGo
// elsewhere (the tests compare their states and outputs block by block). It leaves for
// validBlockChecks, after it, what it does not check with masks (blockChecks).
//  2. Strings: the bytes escaped by odd runs of backslashes, the unescaped quotes, and the
//     in-string mask (prefix XOR of the quotes, carried from block to block).
//  3. Containers: only brackets are visited one by one, to match them on a 64-bit shift register
//     of container kinds (a text nesting 64 deep goes to scanJSON, which checks the limit of
//     maxJSONNesting; grammarAVX2 hands it a bracket that does not match too) and to mark
//     which bytes lie directly in an object, in an array or at top level (which tells a comma
//     between members from one between elements). grammarAVX2 records only the state after
//     each bracket, at its position; the bytes up to the next bracket take it with one
//     addition per block (the state's bit at the start of each run, added into the run of
//     non-bracket bytes, carries through it). Its branches on opening or closing are cheaper
//     than branch-free pushes and pops by CMOV on these shapes (measured, RATIONALE.md).
//  4. Grammar: every token (structural character, string, run of other bytes outside strings)
//     has a class, and the first non-whitespace byte after each token of a class must start a
//     token allowed after it: after '{' a member name or '}', after '[' a value or ']', after
//     a comma in an object a name, in an array a value, after ':' a value, after a name ':',
//     after a value a comma, '}', ']' or the end. "The first non-whitespace byte after" is one
//     addition per class: adding the byte after each token into the whitespace mask carries
//     through the whitespace run that follows it. Names are the strings after '{' or an
//     object's comma; their closing quotes are found by adding the opening quotes into the
//     in-string mask. The first token must start a value, and only a value may end the text.
//  5. Runs of other bytes outside strings: numbers inside one block are checked with masks too
//     (the number grammar followed with one addition per run of digits); literals (true,
//     false, null), garbage and the runs that cross a block's end are left to
//     validBlockChecks: the commonest (literals, numbers without exponent) by a fast path on
//     the masks, a run going on into the next block of the chunk measured with that block's
//     masks, the others parsed (validScalarRun, validScalar).
//
// What the masks check besides: a control byte inside a string or outside one other than
// \t \n \r, an unterminated string; each escape inside a string (one of "\/bfnrt, or u and four
// hex digits) is checked one by one by validBlockChecks. A backslash outside a string would make the quote masks after it wrong,
// but it is a scalar byte no scalar accepts, and the masks before it are right, so the text is
// rejected. Bytes ≥ 0x80 outside strings are scalar bytes (rejected the same way); inside
// strings they are checked by validUTF8 over the whole text (AVX2, utf8_amd64.s, or
// utf8.Valid), run only when stage 1 saw one.

// blockMasks is stage 1's output for one 64-byte block; bit i is byte i of the block.
// stage1AVX2 writes it by offset (0, 8, …, 120): keep the field order. expo is 'e' or 'E'; dot,
// minus, plus, expo and zero are left 0 in a block without a digit (it holds no number: a run
// starting with '-' there is checked one by one).
type blockMasks struct {
	quote, backslash, ws, ctrl, digit                uint64
	lbrace, rbrace, lbracket, rbracket, colon, comma uint64
	dot, minus, plus, expo, zero                     uint64
}

// chunkBlocks is how many blocks one stage-1 call classifies (1 KiB).
const chunkBlocks = 16

// minBlockScan is the payload size from which validJSON uses the block validator when the
// assembly is available; below it scanJSON is as fast (BenchmarkValidJSONShapes, 128 B).
const minBlockScan = 256

// jsonTerm[c] says whether c may follow a number or literal: whitespace, a structural
// character or a quote.
var jsonTerm = [256]bool{' ': true, '\t': true, '\n': true, '\r': true, ',': true, ':': true,
	'[': true, ']': true, '{': true, '}': true, '"': true}

// stage1Go is the portable stage 1: stage1AVX2's result, byte by byte.
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
			case '{':
				m.lbrace |= bit
			case '}':
				m.rbrace |= bit
			case '[':
				m.lbracket |= bit
			case ']':
				m.rbracket |= bit
			case ':':
				m.colon |= bit
			case ',':
				m.comma |= bit
			case '.':
				m.dot |= bit
			case '-':
				m.minus |= bit
			case '+':
				m.plus |= bit
			case 'e', 'E':
				m.expo |= bit
			case '0':
				m.zero |= bit
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
		if m.digit == 0 { // as stage1AVX2: no digit, no number, and no number masks
			m.dot, m.minus, m.plus, m.expo, m.zero = 0, 0, 0, 0, 0
		}
		masks[k] = m
	}
	return nonASCII
}

// successors returns the first non-whitespace byte at or after each byte of after (the bytes
// right after the tokens of one class) and of carry (bit 0: a token of the class ended in an
// earlier block with only whitespace since), and the carry into the next block.
func successors(after, carry, ws uint64) (next, carryOut uint64) {
	after |= carry
	sum, c := bits.Add64(ws, after&ws, 0)
	return after&^ws | sum&^ws, c
}

// blockState is what the grammar carries from one block to the next. grammarAVX2
// (jsonsimd_amd64.s) reads and writes it by offset: keep the field order.
type blockState struct {
	prevEscaped uint64 // 1: the first byte of the next block is escaped
	prevString  uint64 // all ones: the next block starts inside a string
	prevScalar  uint64 // 1: the last byte of the previous block was a scalar byte

	// Carries of successors, per class of token: the next token after one of the class is
	// still to be found. cValueNext is for the tokens a value must follow: the start of the
	// text, ':' and an array's comma.
	cValueNext, cLbrace, cLbracket, cObjComma, cName, cValue uint64
	cNameString                                              uint64 // a name's string goes on in the next block

	kinds uint64 // bit d: the container d levels out from the innermost is an object
	depth uint64 // how many containers are open, at most 63
	bad   uint64 // any bit set: the text is invalid
	// 1: the grammar stopped and scanJSON is to decide: the text nests 64 deep, beyond kinds
	// (grammarAVX2 stops so too at a closing bracket that matches no open one).
	deep uint64
}

// blockChecks is what the grammar leaves for one block to be checked one by one (by
// scanJSONBlocks, after it): the escaped bytes inside strings (esc), the starts of the runs of
// scalar bytes the masks did not check (runs: literals, garbage, a run reaching byte 63), and
// the block's scalar and digit masks to measure them (zero in a block inside one string).
// grammarAVX2 writes it by offset.
type blockChecks struct {
	esc, runs, scalar, digit uint64
}

// scanJSONBlocks reports what scanJSON reports, with the block algorithm above; asm selects
// stage1AVX2 and grammarAVX2 (the caller checks haveStage1Asm) over stage1Go and grammarGo.
func scanJSONBlocks(b []byte, asm bool) bool {
	n := len(b)
	var (
		masks    [chunkBlocks]blockMasks
		checks   [chunkBlocks]blockChecks
		tail     [64]byte
		nonASCII bool
		s        = blockState{cValueNext: 1}
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
			if haveStage1AVX512 {
				nonASCII = stage1AVX512(unsafe.SliceData(src), nb, &masks[0]) || nonASCII
			} else {
				nonASCII = stage1AVX2(unsafe.SliceData(src), nb, &masks[0]) || nonASCII
			}
			grammarAVX2(&masks[0], nb, &s, &checks[0])
		} else {
			nonASCII = stage1Go(src, nb, masks[:]) || nonASCII
			grammarGo(masks[:nb], &s, checks[:nb])
		}
		if s.deep != 0 {
			return scanJSON(b) // to its limit of maxJSONNesting
		}
		if s.bad != 0 {
			return false
		}
		for k := range nb {
			if c := &checks[k]; c.esc|c.runs != 0 {
				var next *blockChecks
				if k+1 < nb {
					next = &checks[k+1]
				}
				if !validBlockChecks(b, base+64*k, c, next) {
					return false
				}
			}
		}
		base += 64 * nb
	}
	// Every token but a value's last has its successor; no string or container is open.
	if s.cValueNext|s.cLbrace|s.cLbracket|s.cObjComma|s.cName != 0 || s.depth != 0 || s.prevString != 0 {
		return false
	}
	return !nonASCII || validUTF8(b, asm)
}

// validBlockChecks reports whether the escapes and scalar runs c leaves in the block at base
// are valid; next is the next block's checks if it is in the same chunk (its scalar and digit
// masks measure a run going on into it), else nil.
func validBlockChecks(b []byte, base int, c, next *blockChecks) bool {
	if c.esc != 0 && !validEscapes(b, base, c.esc) {
		return false
	}
	for t := c.runs; t != 0; t &= t - 1 {
		q := uint(bits.TrailingZeros64(t))
		p := base + int(q)
		scalar, digit := c.scalar>>q, c.digit>>q
		run := uint(bits.TrailingZeros64(^scalar))
		ends := q+run < 64                 // the masks show where the run ends
		if !ends && q > 0 && next != nil { // it goes on in the next block: measure it there
			scalar |= next.scalar << (64 - q)
			digit |= next.digit << (64 - q)
			run = uint(bits.TrailingZeros64(^scalar))
			ends = run < 64
		}
		if ends && commonScalar(b, p, run, digit) {
			continue
		}
		if !ends {
			if !validScalar(b, p) {
				return false
			}
		} else if !validScalarRun(b[p:p+int(run)], digit) {
			return false
		}
	}
	return true
}

// commonScalar reports whether the run of run scalar bytes at p (digits: bit j says whether
// b[p+j] is a digit) is one of the commonest scalars: true, null, false, or a number
// -?(0|[1-9][0-9]*)(.[0-9]+)? (besides the sign, at most one non-digit, a '.' with digits on
// both sides). false says only that validScalarRun must decide.
func commonScalar(b []byte, p int, run uint, digits uint64) bool {
	if run == 4 && p+4 <= len(b) {
		if w := binary.LittleEndian.Uint32(b[p:]); w == 't'|'r'<<8|'u'<<16|'e'<<24 || w == 'n'|'u'<<8|'l'<<16|'l'<<24 {
			return true
		}
	} else if run == 5 && p+5 <= len(b) && binary.LittleEndian.Uint32(b[p:]) == 'f'|'a'<<8|'l'<<16|'s'<<24 && b[p+4] == 'e' {
		return true
	}
	neg := uint(b2u(b[p] == '-'))
	other := (1<<run - 1) &^ digits &^ uint64(neg)
	k := uint(bits.TrailingZeros64(other)) // the '.' if any; 64 if none
	intLen := min(k, run) - neg
	return other&(other-1) == 0 && intLen > 0 && (intLen == 1 || b[p+int(neg)] != '0') &&
		(other == 0 || b[p+int(k)] == '.' && k+1 < run)
}

// grammarGo is the portable grammar step: steps 2 to 5 above over the blocks of masks, from
// and into the state s, leaving in checks what is to be checked one by one; grammarAVX2 does
// the same in assembly (the tests compare them).
func grammarGo(masks []blockMasks, s *blockState, checks []blockChecks) {
	checks = checks[:len(masks)]
	for k := range masks {
		m := &masks[k]
		c := &checks[k]
		*c = blockChecks{}
		quote := m.quote
		if quote|m.backslash|s.prevEscaped == 0 && s.prevString != 0 {
			// Inside one string from end to end (the usual block of a long string): no
			// token, and every carry stays as it is.
			s.bad |= m.ctrl
			continue
		}
		if bs := m.backslash; bs|s.prevEscaped != 0 {
			// simdjson's find_escaped: the bytes escaped by an odd run of backslashes.
			bs &^= s.prevEscaped
			follows := bs<<1 | s.prevEscaped
			const even = 0x5555555555555555
			oddStarts := bs &^ even &^ follows
			seqEven, carry := bits.Add64(oddStarts, bs, 0)
			escaped := (even ^ seqEven<<1) & follows
			s.prevEscaped = carry
			quote &^= escaped
			c.esc = escaped & (prefixXor(quote) ^ s.prevString)
		}
		str := prefixXor(quote) ^ s.prevString
		s.prevString = uint64(int64(str) >> 63)
		bad := m.ctrl & (str | ^m.ws)
		ws := m.ws &^ str
		lbrace, rbrace := m.lbrace&^str, m.rbrace&^str
		lbracket, rbracket := m.lbracket&^str, m.rbracket&^str
		colon, comma := m.colon&^str, m.comma&^str
		open, closeQuote := quote&str, quote&^str
		scalar := ^(ws | quote | str | lbrace | rbrace | lbracket | rbracket | colon | comma)
		scalarStart := scalar &^ (scalar<<1 | s.prevScalar)
		scalarAfter := (scalar<<1 | s.prevScalar) &^ scalar
		scalarIn := s.prevScalar
		s.prevScalar = scalar >> 63

		// Brackets, in order: match them, and mark the bytes directly in an object and those
		// at top level. kinds is the stack of open containers' kinds, innermost in bit 0 (1:
		// object), so at most 63 deep: deeper texts go to scanJSON.
		var inObject, atTop uint64
		lo := uint(0)
		depth, kinds := s.depth, s.kinds
		for br := lbrace | rbrace | lbracket | rbracket; br != 0; br &= br - 1 {
			i := uint(bits.TrailingZeros64(br))
			seg := uint64(1)<<i - uint64(1)<<lo
			if depth == 0 {
				atTop |= seg
			} else {
				inObject |= seg & -(kinds & 1)
			}
			lo = i
			if bit := uint64(1) << i; (lbrace|lbracket)&bit != 0 {
				if depth == 63 {
					s.deep = 1
					return
				}
				kinds = kinds<<1 | lbrace>>i&1
				depth++
			} else {
				if depth == 0 || kinds&1 != rbrace>>i&1 {
					s.bad = 1
					return
				}
				kinds >>= 1
				depth--
			}
		}
		if seg := ^uint64(0) << lo; depth == 0 {
			atTop |= seg
		} else {
			inObject |= seg & -(kinds & 1)
		}
		s.depth, s.kinds = depth, kinds
		objComma := comma & inObject
		arrComma := comma &^ (inObject | atTop)
		bad |= comma & atTop

		// Grammar: what follows each class of token.
		value := open | lbrace | lbracket | scalarStart
		closers := rbrace | rbracket
		var next uint64
		afterLbrace, cy := successors(lbrace<<1, s.cLbrace, ws)
		s.cLbrace = cy | lbrace>>63
		bad |= afterLbrace &^ (open | rbrace)
		afterObjComma, cy := successors(objComma<<1, s.cObjComma, ws)
		s.cObjComma = cy | objComma>>63
		bad |= afterObjComma &^ open
		names := (afterLbrace | afterObjComma) & open
		sum, cy := bits.Add64(str, names, s.cNameString)
		nameEnd := sum &^ str // the closing quotes of the names
		s.cNameString = cy
		next, cy = successors(lbracket<<1, s.cLbracket, ws)
		s.cLbracket = cy | lbracket>>63
		bad |= next &^ (value | rbracket)
		valueNext := colon | arrComma
		next, cy = successors(valueNext<<1, s.cValueNext, ws)
		s.cValueNext = cy | valueNext>>63
		bad |= next &^ value
		next, cy = successors(nameEnd<<1, s.cName, ws)
		s.cName = cy | nameEnd>>63
		bad |= next &^ colon
		valueEnd := closeQuote&^nameEnd | closers
		next, cy = successors(valueEnd<<1|scalarAfter, s.cValue, ws)
		s.cValue = cy | valueEnd>>63
		bad |= next &^ (comma | closers)

		// Numbers inside the block, all at once: -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)?
		// is followed along each run with one addition per digit run (adding a run's first
		// digit into the digit mask carries to the byte after its last), and every byte of the
		// run must be one of the parts reached. A run going on into the next block, and a
		// literal (or garbage), is left to validBlockChecks; a run that came on from the
		// previous block was checked there.
		lastRun := ^uint64(0) << bits.Len64(^scalar) // the run reaching byte 63, if any
		if scalarIn != 0 && ^scalar == 0 {
			lastRun = 0 // one run through the whole block, checked where it started
		}
		numStarts := scalarStart & (m.digit | m.minus) &^ lastRun
		if numStarts != 0 {
			d := m.digit
			numRuns := scalar &^ (scalar + numStarts)
			sign := numStarts & m.minus
			intStart := numStarts&d | sign<<1
			bad |= sign<<1&^d | (intStart&m.zero)<<1&d // '-' then a digit; no leading zero
			si := d + intStart
			covered := sign | d&^si
			dots := si &^ d & m.dot
			fracStart := dots << 1
			bad |= fracStart &^ d
			t := d + fracStart
			covered |= dots | d&^t
			exps := (si | t) &^ d & m.expo
			afterExp := exps << 1
			expSign := afterExp & (m.minus | m.plus)
			expStart := afterExp&^expSign | expSign<<1
			bad |= expStart &^ d
			covered |= exps | expSign | d&^(d+expStart)
			bad |= numRuns &^ covered
		}
		s.bad |= bad
		c.runs, c.scalar, c.digit = scalarStart&^numStarts, scalar, m.digit
	}
}

// validUTF8 is utf8.Valid(b), with AVX2 if asm (the caller checks haveStage1Asm).
func validUTF8(b []byte, asm bool) bool {
	if !asm {
		return utf8.Valid(b)
	}
	var tail [64]byte
	n := len(b) &^ 31
	copy(tail[:], b[n:])
	return utf8ValidAVX2(unsafe.SliceData(b), n>>5, &tail)
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

// escapeKind[c] is 1 for the bytes a backslash may escape alone ("\/bfnrt), 2 for 'u' (four hex
// digits follow) and 0 for the others; jsonHex[c] says whether c is a hex digit.
var (
	escapeKind = [256]byte{'"': 1, '\\': 1, '/': 1, 'b': 1, 'f': 1, 'n': 1, 'r': 1, 't': 1, 'u': 2}
	jsonHex    = func() (t [256]bool) {
		for c := range t {
			t[c] = isHex(byte(c))
		}
		return t
	}()
)

// validEscapes reports whether each byte of the block at base marked in esc (escaped by a
// backslash inside a string) makes a valid escape.
func validEscapes(b []byte, base int, esc uint64) bool {
	for esc != 0 {
		p := base + bits.TrailingZeros64(esc)
		esc &= esc - 1
		if p >= len(b) {
			return false // the text ends in a backslash (inside the padding)
		}
		switch escapeKind[b[p]] {
		case 1:
		case 2:
			if len(b)-p < 5 || !jsonHex[b[p+1]] || !jsonHex[b[p+2]] || !jsonHex[b[p+3]] || !jsonHex[b[p+4]] {
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

// b2u is 1 for true, 0 for false.
func b2u(v bool) uint64 {
	if v {
		return 1
	}
	return 0
}
