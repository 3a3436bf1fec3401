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
