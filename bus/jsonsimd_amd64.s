//go:build !purego

#include "textflag.h"

// Nibble tables for VPSHUFB, the same 16 bytes in both 128-bit lanes (jsonsimd.go explains them).
// wsTable[c&15] == c exactly for ' ', '\t', '\n', '\r'.
DATA wsTable<>+0(SB)/8, $0x0000000000000020
DATA wsTable<>+8(SB)/8, $0x00000d00000a0900
DATA wsTable<>+16(SB)/8, $0x0000000000000020
DATA wsTable<>+24(SB)/8, $0x00000d00000a0900
GLOBL wsTable<>(SB), RODATA|NOPTR, $32

// opTable[c&15] == c|0x20 exactly for '{', '}', '[', ']', ':', ',' and the controls 0x0c, 0x1a.
DATA opTable<>+0(SB)/8, $0x0000000000000000
DATA opTable<>+8(SB)/8, $0x00007d2c7b3a0000
DATA opTable<>+16(SB)/8, $0x0000000000000000
DATA opTable<>+24(SB)/8, $0x00007d2c7b3a0000
GLOBL opTable<>(SB), RODATA|NOPTR, $32

// Each byte of a 32-byte constant: '"', '\\', 0x20, 0x1f, '0', 9.
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

DATA x20Bytes<>+0(SB)/8, $0x2020202020202020
DATA x20Bytes<>+8(SB)/8, $0x2020202020202020
DATA x20Bytes<>+16(SB)/8, $0x2020202020202020
DATA x20Bytes<>+24(SB)/8, $0x2020202020202020
GLOBL x20Bytes<>(SB), RODATA|NOPTR, $32

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

// func stage1AVX2(src *byte, nblocks int, masks *blockMasks) bool
TEXT ·stage1AVX2(SB), NOSPLIT, $0-25
	MOVQ src+0(FP), SI
	MOVQ nblocks+8(FP), CX
	MOVQ masks+16(FP), DI

	VMOVDQU quoteBytes<>(SB), Y1
	VMOVDQU backslashBytes<>(SB), Y2
	VMOVDQU x20Bytes<>(SB), Y3
	VMOVDQU x1fBytes<>(SB), Y6
	VMOVDQU zeroBytes<>(SB), Y13
	VMOVDQU x09Bytes<>(SB), Y14
	VMOVDQU wsTable<>(SB), Y4
	VMOVDQU opTable<>(SB), Y5
	VPXOR Y15, Y15, Y15 // OR of every byte: the high bit says non-ASCII

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
	VPMOVMSKB Y9, AX
	VPMOVMSKB Y10, BX
	SHLQ $32, BX
	ORQ  BX, AX
	MOVQ AX, 0(DI)

	// backslash
	VPCMPEQB Y2, Y7, Y9
	VPCMPEQB Y2, Y8, Y10
	VPMOVMSKB Y9, AX
	VPMOVMSKB Y10, BX
	SHLQ $32, BX
	ORQ  BX, AX
	MOVQ AX, 8(DI)

	// op: opTable[c&15] == c|0x20
	VPSHUFB Y7, Y5, Y9
	VPSHUFB Y8, Y5, Y10
	VPOR Y3, Y7, Y11
	VPOR Y3, Y8, Y12
	VPCMPEQB Y11, Y9, Y9
	VPCMPEQB Y12, Y10, Y10
	VPMOVMSKB Y9, AX
	VPMOVMSKB Y10, BX
	SHLQ $32, BX
	ORQ  BX, AX
	MOVQ AX, 16(DI)

	// ws: wsTable[c&15] == c
	VPSHUFB Y7, Y4, Y9
	VPSHUFB Y8, Y4, Y10
	VPCMPEQB Y7, Y9, Y9
	VPCMPEQB Y8, Y10, Y10
	VPMOVMSKB Y9, AX
	VPMOVMSKB Y10, BX
	SHLQ $32, BX
	ORQ  BX, AX
	MOVQ AX, 24(DI)

	// ctrl: min(c, 0x1f) == c
	VPMINUB Y6, Y7, Y9
	VPMINUB Y6, Y8, Y10
	VPCMPEQB Y7, Y9, Y9
	VPCMPEQB Y8, Y10, Y10
	VPMOVMSKB Y9, AX
	VPMOVMSKB Y10, BX
	SHLQ $32, BX
	ORQ  BX, AX
	MOVQ AX, 32(DI)

	// digit: min(c-'0', 9) == c-'0'
	VPSUBB Y13, Y7, Y9
	VPSUBB Y13, Y8, Y10
	VPMINUB Y14, Y9, Y11
	VPMINUB Y14, Y10, Y12
	VPCMPEQB Y11, Y9, Y9
	VPCMPEQB Y12, Y10, Y10
	VPMOVMSKB Y9, AX
	VPMOVMSKB Y10, BX
	SHLQ $32, BX
	ORQ  BX, AX
	MOVQ AX, 40(DI)

	ADDQ $64, SI
	ADDQ $48, DI
	DECQ CX
	JNZ  loop

done:
	VPMOVMSKB Y15, AX
	VZEROUPPER
	TESTL AX, AX
	SETNE ret+24(FP)
	RET
