//go:build !purego

#include "textflag.h"

// wsTable[c&15] == c exactly for ' ', '\t', '\n', '\r' (VPSHUFB yields 0 for c >= 0x80 and the
// unused entries are 0, which no byte with that low nibble equals); both 128-bit lanes.
DATA wsTable<>+0(SB)/8, $0x0000000000000020
DATA wsTable<>+8(SB)/8, $0x00000d00000a0900
DATA wsTable<>+16(SB)/8, $0x0000000000000020
DATA wsTable<>+24(SB)/8, $0x00000d00000a0900
GLOBL wsTable<>(SB), RODATA|NOPTR, $32

// 32 copies of one byte each: '"', '\\', 0x1f, '0', 9, the six structural characters, and
// '.', '-', '+', 0x20, 'e'.
DATA quoteBytes<>+0(SB)/8, $0x2222222222222222
DATA quoteBytes<>+8(SB)/8, $0x2222222222222222
DATA quoteBytes<>+16(SB)/8, $0x2222222222222222
DATA quoteBytes<>+24(SB)/8, $0x2222222222222222
GLOBL quoteBytes<>(SB), RODATA|NOPTR, $32
DATA backslashBytes<>+0(SB)/8, $0x5c5c5c5c5c5c5c5c
DATA backslashBytes<>+8(SB)/8, $0x5c5c5c5c5c5c5c5c
DATA backslashBytes<>+16(SB)/8, $0x5c5c5c5c5c5c5c5c
DATA backslashBytes<>+24(SB)/8, $0x5c5c5c5c5c5c5c5c
GLOBL backslashBytes<>(SB), RODATA|NOPTR, $32
DATA x1fBytes<>+0(SB)/8, $0x1f1f1f1f1f1f1f1f
DATA x1fBytes<>+8(SB)/8, $0x1f1f1f1f1f1f1f1f
DATA x1fBytes<>+16(SB)/8, $0x1f1f1f1f1f1f1f1f
DATA x1fBytes<>+24(SB)/8, $0x1f1f1f1f1f1f1f1f
GLOBL x1fBytes<>(SB), RODATA|NOPTR, $32
DATA zeroBytes<>+0(SB)/8, $0x3030303030303030
DATA zeroBytes<>+8(SB)/8, $0x3030303030303030
DATA zeroBytes<>+16(SB)/8, $0x3030303030303030
DATA zeroBytes<>+24(SB)/8, $0x3030303030303030
GLOBL zeroBytes<>(SB), RODATA|NOPTR, $32
DATA x09Bytes<>+0(SB)/8, $0x0909090909090909
DATA x09Bytes<>+8(SB)/8, $0x0909090909090909
DATA x09Bytes<>+16(SB)/8, $0x0909090909090909
DATA x09Bytes<>+24(SB)/8, $0x0909090909090909
GLOBL x09Bytes<>(SB), RODATA|NOPTR, $32
DATA lbraceBytes<>+0(SB)/8, $0x7b7b7b7b7b7b7b7b
DATA lbraceBytes<>+8(SB)/8, $0x7b7b7b7b7b7b7b7b
DATA lbraceBytes<>+16(SB)/8, $0x7b7b7b7b7b7b7b7b
DATA lbraceBytes<>+24(SB)/8, $0x7b7b7b7b7b7b7b7b
GLOBL lbraceBytes<>(SB), RODATA|NOPTR, $32
DATA rbraceBytes<>+0(SB)/8, $0x7d7d7d7d7d7d7d7d
DATA rbraceBytes<>+8(SB)/8, $0x7d7d7d7d7d7d7d7d
DATA rbraceBytes<>+16(SB)/8, $0x7d7d7d7d7d7d7d7d
DATA rbraceBytes<>+24(SB)/8, $0x7d7d7d7d7d7d7d7d
GLOBL rbraceBytes<>(SB), RODATA|NOPTR, $32
DATA lbracketBytes<>+0(SB)/8, $0x5b5b5b5b5b5b5b5b
DATA lbracketBytes<>+8(SB)/8, $0x5b5b5b5b5b5b5b5b
DATA lbracketBytes<>+16(SB)/8, $0x5b5b5b5b5b5b5b5b
DATA lbracketBytes<>+24(SB)/8, $0x5b5b5b5b5b5b5b5b
GLOBL lbracketBytes<>(SB), RODATA|NOPTR, $32
DATA rbracketBytes<>+0(SB)/8, $0x5d5d5d5d5d5d5d5d
DATA rbracketBytes<>+8(SB)/8, $0x5d5d5d5d5d5d5d5d
DATA rbracketBytes<>+16(SB)/8, $0x5d5d5d5d5d5d5d5d
DATA rbracketBytes<>+24(SB)/8, $0x5d5d5d5d5d5d5d5d
GLOBL rbracketBytes<>(SB), RODATA|NOPTR, $32
DATA colonBytes<>+0(SB)/8, $0x3a3a3a3a3a3a3a3a
DATA colonBytes<>+8(SB)/8, $0x3a3a3a3a3a3a3a3a
DATA colonBytes<>+16(SB)/8, $0x3a3a3a3a3a3a3a3a
DATA colonBytes<>+24(SB)/8, $0x3a3a3a3a3a3a3a3a
GLOBL colonBytes<>(SB), RODATA|NOPTR, $32
DATA commaBytes<>+0(SB)/8, $0x2c2c2c2c2c2c2c2c
DATA commaBytes<>+8(SB)/8, $0x2c2c2c2c2c2c2c2c
DATA commaBytes<>+16(SB)/8, $0x2c2c2c2c2c2c2c2c
DATA commaBytes<>+24(SB)/8, $0x2c2c2c2c2c2c2c2c
GLOBL commaBytes<>(SB), RODATA|NOPTR, $32

DATA dotBytes<>+0(SB)/8, $0x2e2e2e2e2e2e2e2e
DATA dotBytes<>+8(SB)/8, $0x2e2e2e2e2e2e2e2e
DATA dotBytes<>+16(SB)/8, $0x2e2e2e2e2e2e2e2e
DATA dotBytes<>+24(SB)/8, $0x2e2e2e2e2e2e2e2e
GLOBL dotBytes<>(SB), RODATA|NOPTR, $32
DATA minusBytes<>+0(SB)/8, $0x2d2d2d2d2d2d2d2d
DATA minusBytes<>+8(SB)/8, $0x2d2d2d2d2d2d2d2d
DATA minusBytes<>+16(SB)/8, $0x2d2d2d2d2d2d2d2d
DATA minusBytes<>+24(SB)/8, $0x2d2d2d2d2d2d2d2d
GLOBL minusBytes<>(SB), RODATA|NOPTR, $32
DATA plusBytes<>+0(SB)/8, $0x2b2b2b2b2b2b2b2b
DATA plusBytes<>+8(SB)/8, $0x2b2b2b2b2b2b2b2b
DATA plusBytes<>+16(SB)/8, $0x2b2b2b2b2b2b2b2b
DATA plusBytes<>+24(SB)/8, $0x2b2b2b2b2b2b2b2b
GLOBL plusBytes<>(SB), RODATA|NOPTR, $32
DATA x20Bytes<>+0(SB)/8, $0x2020202020202020
DATA x20Bytes<>+8(SB)/8, $0x2020202020202020
DATA x20Bytes<>+16(SB)/8, $0x2020202020202020
DATA x20Bytes<>+24(SB)/8, $0x2020202020202020
GLOBL x20Bytes<>(SB), RODATA|NOPTR, $32
DATA eBytes<>+0(SB)/8, $0x6565656565656565
DATA eBytes<>+8(SB)/8, $0x6565656565656565
DATA eBytes<>+16(SB)/8, $0x6565656565656565
DATA eBytes<>+24(SB)/8, $0x6565656565656565
GLOBL eBytes<>(SB), RODATA|NOPTR, $32

// MASK stores the 64-bit mask of the byte compares in Y9 (bytes 0–31) and Y10 (32–63) at off(DI).
#define MASK(off) VPMOVMSKB Y9, AX; VPMOVMSKB Y10, BX; SHLQ $32, BX; ORQ BX, AX; MOVQ AX, off(DI)

// func stage1AVX2(src *byte, nblocks int, masks *blockMasks) bool
TEXT ·stage1AVX2(SB), NOSPLIT, $0-25
	MOVQ src+0(FP), SI
	MOVQ nblocks+8(FP), CX
	MOVQ masks+16(FP), DI
	VMOVDQU quoteBytes<>(SB), Y1
	VMOVDQU backslashBytes<>(SB), Y2
	VMOVDQU wsTable<>(SB), Y4
	VMOVDQU x1fBytes<>(SB), Y6
	VMOVDQU zeroBytes<>(SB), Y13
	VMOVDQU x09Bytes<>(SB), Y14
	VPXOR Y15, Y15, Y15 // OR of every byte: its high bit says non-ASCII
	TESTQ CX, CX
	JZ   done

loop:
	VMOVDQU (SI), Y7
	VMOVDQU 32(SI), Y8
	VPOR Y7, Y15, Y15
	VPOR Y8, Y15, Y15
	// quote
	VPCMPEQB Y1, Y7, Y9
	VPCMPEQB Y1, Y8, Y10
	MASK(0)
	// backslash
	VPCMPEQB Y2, Y7, Y9
	VPCMPEQB Y2, Y8, Y10
	MASK(8)

	// ws: wsTable[c&15] == c
	VPSHUFB Y7, Y4, Y9
	VPSHUFB Y8, Y4, Y10
	VPCMPEQB Y7, Y9, Y9
	VPCMPEQB Y8, Y10, Y10
	MASK(16)

	// ctrl: min(c, 0x1f) == c
	VPMINUB Y6, Y7, Y9
	VPMINUB Y6, Y8, Y10
	VPCMPEQB Y7, Y9, Y9
	VPCMPEQB Y8, Y10, Y10
	MASK(24)

	// digit: min(c-'0', 9) == c-'0'
	VPSUBB Y13, Y7, Y9
	VPSUBB Y13, Y8, Y10
	VPMINUB Y14, Y9, Y11
	VPMINUB Y14, Y10, Y12
	VPCMPEQB Y11, Y9, Y9
	VPCMPEQB Y12, Y10, Y10
	MASK(32)
	MOVQ AX, R8 // the digit mask
	// {
	VPCMPEQB lbraceBytes<>(SB), Y7, Y9
	VPCMPEQB lbraceBytes<>(SB), Y8, Y10
	MASK(40)
	// }
	VPCMPEQB rbraceBytes<>(SB), Y7, Y9
	VPCMPEQB rbraceBytes<>(SB), Y8, Y10
	MASK(48)
	// [
	VPCMPEQB lbracketBytes<>(SB), Y7, Y9
	VPCMPEQB lbracketBytes<>(SB), Y8, Y10
	MASK(56)
	// ]
	VPCMPEQB rbracketBytes<>(SB), Y7, Y9
	VPCMPEQB rbracketBytes<>(SB), Y8, Y10
	MASK(64)
	// :
	VPCMPEQB colonBytes<>(SB), Y7, Y9
	VPCMPEQB colonBytes<>(SB), Y8, Y10
	MASK(72)
	// ,
	VPCMPEQB commaBytes<>(SB), Y7, Y9
	VPCMPEQB commaBytes<>(SB), Y8, Y10
	MASK(80)

	// The masks numbers need, only if the block has a digit (else all zero: no number).
	TESTQ R8, R8
	JNZ  numbers
	XORQ AX, AX
	MOVQ AX, 88(DI)
	MOVQ AX, 96(DI)
	MOVQ AX, 104(DI)
	MOVQ AX, 112(DI)
	MOVQ AX, 120(DI)
	JMP  next

numbers:
	// .
	VPCMPEQB dotBytes<>(SB), Y7, Y9
	VPCMPEQB dotBytes<>(SB), Y8, Y10
	MASK(88)
	// -
	VPCMPEQB minusBytes<>(SB), Y7, Y9
	VPCMPEQB minusBytes<>(SB), Y8, Y10
	MASK(96)
	// +
	VPCMPEQB plusBytes<>(SB), Y7, Y9
	VPCMPEQB plusBytes<>(SB), Y8, Y10
	MASK(104)
	// e or E: c|0x20 == 'e'
	VPOR x20Bytes<>(SB), Y7, Y9
	VPOR x20Bytes<>(SB), Y8, Y10
	VPCMPEQB eBytes<>(SB), Y9, Y9
	VPCMPEQB eBytes<>(SB), Y10, Y10
	MASK(112)
	// '0' (Y13 holds '0')
	VPCMPEQB Y13, Y7, Y9
	VPCMPEQB Y13, Y8, Y10
	MASK(120)

next:
	ADDQ $64, SI
	ADDQ $128, DI
	DECQ CX
	JNZ  loop

done:
	VPMOVMSKB Y15, AX
	VZEROUPPER
	TESTL AX, AX
	SETNE ret+24(FP)
	RET

// The grammar step, grammarGo in assembly. Offsets: blockMasks quote 0, backslash 8, ws 16,
// ctrl 24, digit 32, lbrace 40, rbrace 48, lbracket 56, rbracket 64, colon 72, comma 80, dot 88,
// minus 96, plus 104, expo 112, zero 120 (128 bytes); blockState prevEscaped 0, prevString 8,
// prevScalar 16, cValueNext 24, cLbrace 32, cLbracket 40, cObjComma 48, cName 56, cValue 64,
// cNameString 72, kinds 80, depth 88, bad 96, deep 104; blockChecks esc 0, runs 8, scalar 16,
// digit 24 (32 bytes). Locals (hardware SP): str 0, ws 8, scalar 16, scalarStart 24,
// scalarAfter 32, scalarIn 40, inObject then arrComma 48, atTop 56, bad 64, open 72,
// closeQuote 80, ^str 88, blocks left 96, checks 104, afterLbrace 112, objComma 120,
// nameEnd 128, value 136.

// PREFIXXOR sets dst to the prefix XOR of AX (carry-less multiplication by all ones in X1).
#define PREFIXXOR(dst) MOVQ AX, X0; PCLMULQDQ $0, X1, X0; MOVQ X0, dst

// SUCC is successors: A (the bytes after the tokens) ORed with the carry at coff(SI), the first
// non-whitespace byte at or after each into T, the carry out into T2 (R11: ws, R12: ^ws).
#define SUCC(A, coff, T, T2) ORQ coff(SI), A; MOVQ A, T; ANDQ R11, T; ADDQ R11, T; SBBQ T2, T2; NEGQ T2; ORQ A, T; ANDQ R12, T

// func grammarAVX2(masks *blockMasks, nblocks int, s *blockState, checks *blockChecks)
TEXT ·grammarAVX2(SB), NOSPLIT, $144-32
	MOVQ masks+0(FP), DI
	MOVQ nblocks+8(FP), R12
	MOVQ s+16(FP), SI
	MOVQ checks+24(FP), R13
	PCMPEQB X1, X1 // all ones
	TESTQ R12, R12
	JZ   gdone
	MOVQ R12, 96(SP)
	MOVQ R13, 104(SP)

gloop:
	MOVQ 104(SP), R13
	XORQ AX, AX
	MOVQ AX, 0(R13)
	MOVQ AX, 8(R13)
	MOVQ AX, 16(R13)
	MOVQ AX, 24(R13)
	MOVQ 0(DI), AX // quote
	MOVQ 8(DI), BX // backslash
	MOVQ 0(SI), CX // prevEscaped
	MOVQ AX, DX
	ORQ  BX, DX
	ORQ  CX, DX
	JNZ  gtokens
	CMPQ 8(SI), $0
	JEQ  gtokens
	// Inside one string from end to end (the usual block of a long string), and so the
	// blocks after it that hold no quote or backslash, with the counters in registers.
	MOVQ 96(SP), R12
	XORQ R8, R8

ginstr:
	ORQ  24(DI), R8 // control bytes
	ADDQ $128, DI
	ADDQ $32, R13
	DECQ R12
	JZ   ginstrend
	MOVQ 0(DI), AX
	ORQ  8(DI), AX
	JNZ  ginstrleave
	XORQ AX, AX
	MOVQ AX, 0(R13)
	MOVQ AX, 8(R13)
	MOVQ AX, 16(R13)
	MOVQ AX, 24(R13)
	JMP  ginstr

ginstrleave:
	ORQ  R8, 96(SI)
	MOVQ R12, 96(SP)
	MOVQ R13, 104(SP)
	JMP  gloop

ginstrend:
	ORQ  R8, 96(SI)
	RET

gtokens:
	MOVQ BX, DX
	ORQ  CX, DX
	JZ   gnoesc
	// The bytes escaped by an odd run of backslashes (simdjson's find_escaped).
	MOVQ CX, R8
	NOTQ R8
	ANDQ R8, BX // bs &^= prevEscaped
	MOVQ BX, R9
	SHLQ $1, R9
	ORQ  CX, R9 // follows
	MOVQ $0x5555555555555555, R10
	MOVQ R9, R8
	ORQ  R10, R8
	NOTQ R8
	ANDQ BX, R8 // oddStarts
	ADDQ BX, R8 // seqEven
	SBBQ R11, R11
	NEGQ R11
	MOVQ R11, 0(SI) // prevEscaped
	SHLQ $1, R8
	XORQ R10, R8
	ANDQ R9, R8 // escaped
	MOVQ R8, R9
	NOTQ R9
	ANDQ R9, AX // quote &^= escaped
	PREFIXXOR(DX)
	XORQ 8(SI), DX // str
	ANDQ DX, R8
	MOVQ R8, 0(R13) // esc
	JMP  ghavestr

gnoesc:
	PREFIXXOR(DX)
	XORQ 8(SI), DX // str

ghavestr:
	// AX quote, DX str
	MOVQ DX, 0(SP)
	MOVQ DX, R8
	SARQ $63, R8
	MOVQ R8, 8(SI) // prevString
	MOVQ DX, R9
	NOTQ R9
	MOVQ R9, 88(SP) // ^str
	MOVQ 16(DI), R10 // m.ws
	MOVQ R10, R8
	NOTQ R8
	ORQ  DX, R8
	ANDQ 24(DI), R8
	MOVQ R8, 64(SP) // bad = ctrl & (str | ^ws)
	ANDQ R9, R10
	MOVQ R10, 8(SP) // ws
	MOVQ AX, R8
	ANDQ DX, R8
	MOVQ R8, 72(SP) // open
	MOVQ AX, R8
	ANDQ R9, R8
	MOVQ R8, 80(SP) // closeQuote
	MOVQ 40(DI), R8
	ORQ  48(DI), R8
	ORQ  56(DI), R8
	ORQ  64(DI), R8
	ORQ  72(DI), R8
	ORQ  80(DI), R8
	ORQ  R10, R8
	ORQ  AX, R8
	ORQ  DX, R8
	NOTQ R8
	MOVQ R8, 16(SP) // scalar
	MOVQ 16(SI), R11
	MOVQ R11, 40(SP) // scalarIn
	MOVQ R8, BX
	SHLQ $1, BX
	ORQ  R11, BX
	MOVQ BX, CX
	NOTQ CX
	ANDQ R8, CX
	MOVQ CX, 24(SP) // scalarStart
	MOVQ R8, CX
	NOTQ CX
	ANDQ BX, CX
	MOVQ CX, 32(SP) // scalarAfter
	SHRQ $63, R8
	MOVQ R8, 16(SI) // prevScalar

	// Brackets, in order (R9: ^str).
	MOVQ 40(DI), R10
	ANDQ R9, R10 // lbrace
	MOVQ 56(DI), R11
	ANDQ R9, R11 // lbracket
	MOVQ 48(DI), BX
	ORQ  64(DI), BX
	ANDQ R9, BX
	ORQ  R10, BX
	ORQ  R11, BX // br
	ORQ  R11, R10 // opens
	MOVQ 40(DI), R11
	ORQ  48(DI), R11
	ANDQ R9, R11 // objects' brackets
	MOVQ 80(SI), R8 // kinds
	MOVQ 88(SI), R9 // depth
	MOVQ R8, AX
	ANDQ $1, AX
	MOVQ AX, 48(SP) // the block starts in an object
	MOVQ R9, AX
	NEGQ AX
	SBBQ AX, AX
	INCQ AX
	MOVQ AX, 56(SP) // the block starts at top level
	MOVQ BX, R12 // br
	XORQ AX, AX // bit i: the innermost container after bracket i is an object
	XORQ DX, DX // bit i: top level after bracket i
	TESTQ BX, BX
	JZ   gbrdone

gbrloop:
	BSFQ BX, CX // i
	BTQ  CX, R10
	JCC  gbrclose
	CMPQ R9, $63
	JEQ  gdeep
	SHLQ $1, R8
	MOVQ R11, R13
	SHRQ CX, R13
	ANDQ $1, R13
	ORQ  R13, R8 // push its kind
	INCQ R9
	JMP  gbrnext

gbrclose:
	TESTQ R9, R9
	JZ   gdeep // below top level: scanJSON rejects it
	MOVQ R11, R13
	SHRQ CX, R13
	XORQ R8, R13
	ANDQ $1, R13
	JNZ  gdeep // the other kind: scanJSON rejects it
	SHRQ $1, R8
	DECQ R9
	JZ   gbrtop

gbrnext:
	MOVQ R8, R13
	ANDQ $1, R13
	SHLQ CX, R13
	ORQ  R13, AX
	LEAQ -1(BX), R13
	ANDQ R13, BX
	JNZ  gbrloop
	JMP  gbrdone

gbrtop:
	MOVQ $1, R13
	SHLQ CX, R13
	ORQ  R13, DX
	JMP  gbrnext

gbrdone:
	// The other bytes take the state after the bracket before them (or the block's start): the
	// state's bit at the start of each run of them, added into the run, carries through it.
	NOTQ R12 // not brackets
	SHLQ $1, AX
	ORQ  48(SP), AX
	ANDQ R12, AX
	ADDQ R12, AX
	NOTQ AX
	ANDQ R12, AX
	MOVQ AX, 48(SP) // inObject
	SHLQ $1, DX
	ORQ  56(SP), DX
	ANDQ R12, DX
	ADDQ R12, DX
	NOTQ DX
	ANDQ R12, DX
	MOVQ DX, 56(SP) // atTop
	MOVQ R8, 80(SI)
	MOVQ R9, 88(SI)

	// Commas.
	MOVQ 64(SP), R13 // bad, in R13 up to the numbers
	MOVQ 80(DI), R12
	ANDQ 88(SP), R12 // comma
	MOVQ 48(SP), R8 // inObject
	MOVQ 56(SP), R9 // atTop
	MOVQ R12, DX
	ANDQ R9, DX
	ORQ  DX, R13 // bad |= comma & atTop
	MOVQ R12, R10
	ANDQ R8, R10
	MOVQ R10, 120(SP) // objComma
	ORQ  R9, R8
	NOTQ R8
	ANDQ R12, R8
	MOVQ R8, 48(SP) // arrComma

	// Grammar: what follows each class of token. R11 ws, R12 ^ws.
	MOVQ 8(SP), R11
	MOVQ R11, R12
	NOTQ R12
	MOVQ 88(SP), R9 // ^str
	// value = open | lbrace | lbracket | scalarStart
	MOVQ 40(DI), R10
	ANDQ R9, R10 // lbrace
	MOVQ 56(DI), R8
	ANDQ R9, R8 // lbracket
	MOVQ R10, DX
	ORQ  R8, DX
	ORQ  72(SP), DX
	ORQ  24(SP), DX
	MOVQ DX, 136(SP) // value
	// A block with no '{', no object's comma and no carry of theirs or of a name has no name:
	// skip to '['.
	MOVQ R10, AX
	ORQ  120(SP), AX
	ORQ  32(SI), AX
	ORQ  48(SI), AX
	ORQ  56(SI), AX
	ORQ  72(SI), AX
	JNZ  gobj
	MOVQ $0, 128(SP) // nameEnd
	JMP  gobjdone

gobj:
	// after '{': a name or '}'
	MOVQ R10, AX
	SHLQ $1, AX
	SUCC(AX, 32, BX, CX)
	SHRQ $63, R10
	ORQ  R10, CX
	MOVQ CX, 32(SI)
	MOVQ BX, 112(SP) // afterLbrace
	MOVQ 48(DI), DX
	ANDQ R9, DX // rbrace
	ORQ  72(SP), DX
	NOTQ DX
	ANDQ BX, DX
	ORQ  DX, R13
	// after an object's comma: a name
	MOVQ 120(SP), R10
	MOVQ R10, AX
	SHLQ $1, AX
	SUCC(AX, 48, BX, CX)
	SHRQ $63, R10
	ORQ  R10, CX
	MOVQ CX, 48(SI)
	MOVQ 72(SP), DX // open
	MOVQ DX, R10
	NOTQ R10
	ANDQ BX, R10
	ORQ  R10, R13
	// names, and their closing quotes
	ORQ  112(SP), BX
	ANDQ DX, BX // names
	MOVQ 0(SP), AX // str
	BTQ  $0, 72(SI)
	ADCQ BX, AX
	SBBQ CX, CX
	NEGQ CX
	MOVQ CX, 72(SI) // cNameString
	ANDQ R9, AX
	MOVQ AX, 128(SP) // nameEnd

gobjdone:
	// after '[': a value or ']' (nothing to do without '[' or its carry)
	MOVQ R8, AX
	ORQ  40(SI), AX
	JZ   gnolbr
	MOVQ R8, AX
	SHLQ $1, AX
	SUCC(AX, 40, BX, CX)
	SHRQ $63, R8
	ORQ  R8, CX
	MOVQ CX, 40(SI)
	MOVQ 64(DI), R8
	ANDQ R9, R8 // rbracket
	MOVQ R8, DX
	ORQ  136(SP), DX
	NOTQ DX
	ANDQ BX, DX
	ORQ  DX, R13
	JMP  glbrdone

gnolbr:
	MOVQ 64(DI), R8
	ANDQ R9, R8 // rbracket

glbrdone:
	// after ':' or an array's comma: a value
	MOVQ 72(DI), R10
	ANDQ R9, R10 // colon
	MOVQ 48(SP), DX
	ORQ  R10, DX // valueNext
	MOVQ DX, AX
	SHLQ $1, AX
	SUCC(AX, 24, BX, CX)
	SHRQ $63, DX
	ORQ  DX, CX
	MOVQ CX, 24(SI)
	MOVQ 136(SP), DX
	NOTQ DX
	ANDQ BX, DX
	ORQ  DX, R13
	// after a name: ':' (nothing to do without a name or its carry)
	MOVQ 128(SP), DX
	MOVQ DX, AX
	ORQ  56(SI), AX
	JZ   gnoname
	MOVQ DX, AX
	SHLQ $1, AX
	SUCC(AX, 56, BX, CX)
	SHRQ $63, DX
	ORQ  DX, CX
	MOVQ CX, 56(SI)
	NOTQ R10
	ANDQ R10, BX
	ORQ  BX, R13

gnoname:
	// after a value: ',', '}', ']' or the end
	MOVQ 48(DI), R10
	ANDQ R9, R10
	ORQ  R8, R10 // closers
	MOVQ 128(SP), DX
	NOTQ DX
	ANDQ 80(SP), DX
	ORQ  R10, DX // valueEnd
	MOVQ DX, AX
	SHLQ $1, AX
	ORQ  32(SP), AX
	SUCC(AX, 64, BX, CX)
	SHRQ $63, DX
	ORQ  DX, CX
	MOVQ CX, 64(SI)
	MOVQ 80(DI), DX
	ANDQ R9, DX // comma
	ORQ  R10, DX
	NOTQ DX
	ANDQ BX, DX
	ORQ  DX, R13

	MOVQ R13, 64(SP)

	// Numbers inside the block. lastRun: the run of scalar bytes reaching byte 63, if any.
	MOVQ 16(SP), R8 // scalar
	MOVQ R8, AX
	NOTQ AX
	TESTQ AX, AX
	JZ   gallscalar
	BSRQ AX, CX
	MOVQ $-1, DX
	SHLQ CX, DX
	SHLQ $1, DX // lastRun
	JMP  glast

gallscalar:
	MOVQ $-1, DX
	CMPQ 40(SP), $0
	JEQ  glast
	XORQ DX, DX

glast:
	NOTQ DX
	MOVQ 32(DI), R10
	ORQ  96(DI), R10
	ANDQ 24(SP), R10
	ANDQ DX, R10 // numStarts
	MOVQ 24(SP), AX
	MOVQ R10, DX
	NOTQ DX
	ANDQ DX, AX // runs: scalarStart &^ numStarts
	MOVQ 104(SP), R13
	MOVQ AX, 8(R13)
	MOVQ R8, 16(R13)
	MOVQ 32(DI), AX
	MOVQ AX, 24(R13)

	TESTQ R10, R10
	JZ   gnonum
	MOVQ 32(DI), R9 // d
	MOVQ R9, R11
	NOTQ R11 // ^d
	MOVQ R8, R12
	ADDQ R10, R12
	NOTQ R12
	ANDQ R8, R12 // numRuns = scalar &^ (scalar + numStarts)
	MOVQ R10, AX
	ANDQ 96(DI), AX // sign
	MOVQ AX, BX
	SHLQ $1, BX // sign<<1
	MOVQ R10, CX
	ANDQ R9, CX
	ORQ  BX, CX // intStart
	MOVQ BX, DX
	ANDQ R11, DX // sign<<1 &^ d
	MOVQ CX, R13
	ANDQ 120(DI), R13
	SHLQ $1, R13
	ANDQ R9, R13
	ORQ  R13, DX // bad so far
	ADDQ R9, CX // s = d + intStart
	MOVQ CX, R13
	NOTQ R13
	ANDQ R9, R13
	ORQ  AX, R13 // covered = sign | d&^s
	MOVQ CX, BX
	ANDQ R11, BX
	ANDQ 88(DI), BX // dots = s &^ d & dot
	ORQ  BX, R13 // covered |= dots
	SHLQ $1, BX // fracStart
	MOVQ BX, R10
	ANDQ R11, R10
	ORQ  R10, DX // bad |= fracStart &^ d
	ADDQ R9, BX // t = d + fracStart
	MOVQ BX, R10
	NOTQ R10
	ANDQ R9, R10
	ORQ  R10, R13 // covered |= d &^ t
	ORQ  CX, BX
	ANDQ R11, BX
	ANDQ 112(DI), BX // exps = (s|t) &^ d & expo
	ORQ  BX, R13 // covered |= exps
	SHLQ $1, BX // afterExp
	MOVQ 96(DI), CX
	ORQ  104(DI), CX
	ANDQ BX, CX // expSign
	ORQ  CX, R13 // covered |= expSign
	MOVQ CX, R10
	NOTQ R10
	ANDQ R10, BX
	SHLQ $1, CX
	ORQ  CX, BX // expStart
	MOVQ BX, R10
	ANDQ R11, R10
	ORQ  R10, DX // bad |= expStart &^ d
	ADDQ R9, BX
	NOTQ BX
	ANDQ R9, BX
	ORQ  BX, R13 // covered |= d &^ (d + expStart)
	NOTQ R13
	ANDQ R12, R13
	ORQ  R13, DX // bad |= numRuns &^ covered
	ORQ  DX, 64(SP)

gnonum:
	MOVQ 64(SP), AX
	ORQ  AX, 96(SI)

gnext:
	ADDQ $128, DI
	ADDQ $32, 104(SP)
	DECQ 96(SP)
	JNZ  gloop

gdone:
	RET

gdeep:
	MOVQ $1, 104(SI)
	RET

// BCAST broadcasts the byte c into the Z register z.
#define BCAST(c, z) MOVL c, AX; VPBROADCASTB AX, z

// KMASK stores the mask of the byte compare of Z7 with z at off(DI).
#define KMASK(z, off) VPCMPEQB z, Z7, K1; KMOVQ K1, off(DI)

// func stage1AVX512(src *byte, nblocks int, masks *blockMasks) bool
TEXT ·stage1AVX512(SB), NOSPLIT, $0-25
	MOVQ src+0(FP), SI
	MOVQ nblocks+8(FP), CX
	MOVQ masks+16(FP), DI
	BCAST($0x22, Z1)
	BCAST($0x5c, Z2)
	VBROADCASTI64X4 wsTable<>(SB), Z4
	BCAST($0x1f, Z6)
	BCAST($0x30, Z13)
	BCAST($0x09, Z14)
	BCAST($0x7b, Z16)
	BCAST($0x7d, Z17)
	BCAST($0x5b, Z18)
	BCAST($0x5d, Z19)
	BCAST($0x3a, Z20)
	BCAST($0x2c, Z21)
	BCAST($0x2e, Z22)
	BCAST($0x2d, Z23)
	BCAST($0x2b, Z24)
	BCAST($0x20, Z25)
	BCAST($0x65, Z26)
	VPXORQ Z15, Z15, Z15 // OR of every byte
	TESTQ CX, CX
	JZ   done512

loop512:
	VMOVDQU64 (SI), Z7
	VPORQ Z7, Z15, Z15
	KMASK(Z1, 0)
	KMASK(Z2, 8)
	VPSHUFB Z7, Z4, Z9 // ws: wsTable[c&15] == c
	VPCMPEQB Z9, Z7, K1
	KMOVQ K1, 16(DI)
	VPMINUB Z6, Z7, Z9 // ctrl: min(c, 0x1f) == c
	VPCMPEQB Z9, Z7, K1
	KMOVQ K1, 24(DI)
	VPSUBB Z13, Z7, Z9 // digit: min(c-'0', 9) == c-'0'
	VPMINUB Z14, Z9, Z10
	VPCMPEQB Z10, Z9, K1
	KMOVQ K1, AX
	MOVQ AX, 32(DI)
	KMASK(Z16, 40)
	KMASK(Z17, 48)
	KMASK(Z18, 56)
	KMASK(Z19, 64)
	KMASK(Z20, 72)
	KMASK(Z21, 80)
	TESTQ AX, AX
	JNZ  numbers512
	MOVQ AX, 88(DI)
	MOVQ AX, 96(DI)
	MOVQ AX, 104(DI)
	MOVQ AX, 112(DI)
	MOVQ AX, 120(DI)
	JMP  next512

numbers512:
	KMASK(Z22, 88)
	KMASK(Z23, 96)
	KMASK(Z24, 104)
	VPORQ Z25, Z7, Z9 // e or E: c|0x20 == 'e'
	VPCMPEQB Z26, Z9, K1
	KMOVQ K1, 112(DI)
	KMASK(Z13, 120)

next512:
	ADDQ $64, SI
	ADDQ $128, DI
	DECQ CX
	JNZ  loop512

done512:
	VPMOVB2M Z15, K1
	KMOVQ K1, AX
	VZEROUPPER
	TESTQ AX, AX
	SETNE ret+24(FP)
	RET
