package bus

import (
	"math/bits"
	"unsafe"
)

// scanJSONBlocksOld is scanJSONBlocks as the round-4 helper left it (a loop over every bracket),
// kept as the baseline of BenchmarkValidJSONShapes ("blocks-old") and checked against the
// reference like the others.
func scanJSONBlocksOld(b []byte, asm bool) bool {
	n := len(b)
	var (
		masks    [chunkBlocks]blockMasks
		tail     [64]byte
		nonASCII bool
		bad      uint64 // any bit set: the text is invalid

		prevEscaped uint64 // 1: the first byte of the next block is escaped
		prevString  uint64 // all ones: the next block starts inside a string
		prevScalar  uint64 // 1: the last byte of the previous block was a scalar byte

		// Carries of successors, per class of token: the next token after one of the class is
		// still to be found. cValueNext is for the tokens a value must follow: the start of
		// the text, ':' and an array's comma.
		cValueNext                    uint64 = 1
		cLbrace, cLbracket, cObjComma uint64
		cName, cValue                 uint64
		cNameString                   uint64 // a name's string goes on in the next block

		depth = 0
		kinds uint64 // bit d: the container d levels out from the innermost is an object
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
			if quote|m.backslash|prevEscaped == 0 && prevString != 0 {
				// Inside one string from end to end (the usual block of a long string): no
				// token, and every carry stays as it is.
				bad |= m.ctrl
				base += 64
				continue
			}
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
			}
			str := prefixXor(quote) ^ prevString
			prevString = uint64(int64(str) >> 63)
			bad |= m.ctrl & (str | ^m.ws)
			ws := m.ws &^ str
			lbrace, rbrace := m.lbrace&^str, m.rbrace&^str
			lbracket, rbracket := m.lbracket&^str, m.rbracket&^str
			colon, comma := m.colon&^str, m.comma&^str
			open, closeQuote := quote&str, quote&^str
			scalar := ^(ws | quote | str | lbrace | rbrace | lbracket | rbracket | colon | comma)
			scalarStart := scalar &^ (scalar<<1 | prevScalar)
			scalarAfter := (scalar<<1 | prevScalar) &^ scalar
			scalarIn := prevScalar
			prevScalar = scalar >> 63

			// Brackets, in order: match them, and mark the bytes directly in an object and
			// those at top level. kinds is the stack of open containers' kinds, innermost in
			// bit 0 (1: object), so at most 64 deep: deeper texts go to scanJSON.
			var inObject, atTop uint64
			lo := uint(0)
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
					if depth == 64 {
						return scanJSON(b) // to its limit of maxJSONNesting
					}
					kinds = kinds<<1 | lbrace>>i&1
					depth++
				} else {
					if depth == 0 || kinds&1 != rbrace>>i&1 {
						return false
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
			objComma := comma & inObject
			arrComma := comma &^ (inObject | atTop)
			bad |= comma & atTop

			// Grammar: what follows each class of token.
			value := open | lbrace | lbracket | scalarStart
			closers := rbrace | rbracket
			var next uint64
			afterLbrace, c := successors(lbrace<<1, cLbrace, ws)
			cLbrace = c | lbrace>>63
			bad |= afterLbrace &^ (open | rbrace)
			afterObjComma, c := successors(objComma<<1, cObjComma, ws)
			cObjComma = c | objComma>>63
			bad |= afterObjComma &^ open
			names := (afterLbrace | afterObjComma) & open
			sum, c := bits.Add64(str, names, cNameString)
			nameEnd := sum &^ str // the closing quotes of the names
			cNameString = c
			next, c = successors(lbracket<<1, cLbracket, ws)
			cLbracket = c | lbracket>>63
			bad |= next &^ (value | rbracket)
			valueNext := colon | arrComma
			next, c = successors(valueNext<<1, cValueNext, ws)
			cValueNext = c | valueNext>>63
			bad |= next &^ value
			next, c = successors(nameEnd<<1, cName, ws)
			cName = c | nameEnd>>63
			bad |= next &^ colon
			valueEnd := closeQuote&^nameEnd | closers
			next, c = successors(valueEnd<<1|scalarAfter, cValue, ws)
			cValue = c | valueEnd>>63
			bad |= next &^ (comma | closers)

			// Numbers inside the block, all at once: -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)?
			// is followed along each run with one addition per digit run (adding a run's first
			// digit into the digit mask carries to the byte after its last), and every byte of
			// the run must be one of the parts reached. A run going on into the next block,
			// and a literal (or garbage), is checked one by one below; a run that came on from
			// the previous block was checked there.
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
				s := d + intStart
				covered := sign | d&^s
				dots := s &^ d & m.dot
				fracStart := dots << 1
				bad |= fracStart &^ d
				t := d + fracStart
				covered |= dots | d&^t
				exps := (s | t) &^ d & m.expo
				afterExp := exps << 1
				expSign := afterExp & (m.minus | m.plus)
				expStart := afterExp&^expSign | expSign<<1
				bad |= expStart &^ d
				covered |= exps | expSign | d&^(d+expStart)
				bad |= numRuns &^ covered
			}

			// Scalars one by one: literals, garbage, the run reaching byte 63.
			for t := scalarStart &^ numStarts; t != 0; t &= t - 1 {
				q := uint(bits.TrailingZeros64(t))
				p := base + int(q)
				run := uint(bits.TrailingZeros64(^(scalar >> q)))
				if q+run < 64 {
					// Fast path for the commonest scalars, -?(0|[1-9][0-9]*)(.[0-9]+)?: besides
					// the sign, at most one non-digit, a '.' with digits on both sides.
					neg := uint(b2u(b[p] == '-'))
					other := (1<<run - 1) &^ (m.digit >> q) &^ uint64(neg)
					k := uint(bits.TrailingZeros64(other)) // the '.' if any; 64 if none
					intLen := min(k, run) - neg
					if other&(other-1) == 0 && intLen > 0 && (intLen == 1 || b[p+int(neg)] != '0') &&
						(other == 0 || b[p+int(k)] == '.' && k+1 < run) {
						continue
					}
				}
				if q+run >= 64 { // the run may go on in the next block
					if !validScalar(b, p) {
						return false
					}
				} else if !validScalarRun(b[p:p+int(run)], m.digit>>q) {
					return false
				}
			}
			base += 64
		}
		if bad != 0 {
			return false
		}
	}
	// Every token but a value's last has its successor; no string or container is open.
	if cValueNext|cLbrace|cLbracket|cObjComma|cName != 0 || depth != 0 || prevString != 0 {
		return false
	}
	return !nonASCII || validUTF8(b, asm)
}
