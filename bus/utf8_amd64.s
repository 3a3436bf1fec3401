//go:build !purego

#include "textflag.h"

// UTF-8 validation after Keiser & Lemire, "Validating UTF-8 In Less Than One Instruction Per
// Byte" (2021), as simdjson's lookup algorithm: three nibble lookups classify each pair of
// bytes (the byte before and the byte) into error bits, and a 3- or 4-byte lead two or three
// bytes back says whether the byte must be a continuation.
//
// Error bits: 1 too short (a lead or ASCII where a continuation must be), 2 too long (a
// continuation after ASCII), 4 overlong 3-byte, 8 too large (> U+10FFFF), 16 surrogate,
// 32 overlong 2-byte, 64 too large (F4 8x) / overlong 4-byte, 128 two continuations.
DATA utf8Byte1High<>+0(SB)/8, $0x0202020202020202
DATA utf8Byte1High<>+8(SB)/8, $0x4915012180808080
DATA utf8Byte1High<>+16(SB)/8, $0x0202020202020202
DATA utf8Byte1High<>+24(SB)/8, $0x4915012180808080
GLOBL utf8Byte1High<>(SB), RODATA|NOPTR, $32
DATA utf8Byte1Low<>+0(SB)/8, $0xcbcbcb8b8383a3e7
DATA utf8Byte1Low<>+8(SB)/8, $0xcbcbdbcbcbcbcbcb
DATA utf8Byte1Low<>+16(SB)/8, $0xcbcbcb8b8383a3e7
DATA utf8Byte1Low<>+24(SB)/8, $0xcbcbdbcbcbcbcbcb
GLOBL utf8Byte1Low<>(SB), RODATA|NOPTR, $32
DATA utf8Byte2High<>+0(SB)/8, $0x0101010101010101
DATA utf8Byte2High<>+8(SB)/8, $0x01010101babaaee6
DATA utf8Byte2High<>+16(SB)/8, $0x0101010101010101
DATA utf8Byte2High<>+24(SB)/8, $0x01010101babaaee6
GLOBL utf8Byte2High<>(SB), RODATA|NOPTR, $32
DATA utf8Nibble<>+0(SB)/8, $0x0f0f0f0f0f0f0f0f
DATA utf8Nibble<>+8(SB)/8, $0x0f0f0f0f0f0f0f0f
DATA utf8Nibble<>+16(SB)/8, $0x0f0f0f0f0f0f0f0f
DATA utf8Nibble<>+24(SB)/8, $0x0f0f0f0f0f0f0f0f
GLOBL utf8Nibble<>(SB), RODATA|NOPTR, $32
DATA utf8Third<>+0(SB)/8, $0x6060606060606060
DATA utf8Third<>+8(SB)/8, $0x6060606060606060
DATA utf8Third<>+16(SB)/8, $0x6060606060606060
DATA utf8Third<>+24(SB)/8, $0x6060606060606060
GLOBL utf8Third<>(SB), RODATA|NOPTR, $32
DATA utf8Fourth<>+0(SB)/8, $0x7070707070707070
DATA utf8Fourth<>+8(SB)/8, $0x7070707070707070
DATA utf8Fourth<>+16(SB)/8, $0x7070707070707070
DATA utf8Fourth<>+24(SB)/8, $0x7070707070707070
GLOBL utf8Fourth<>(SB), RODATA|NOPTR, $32
DATA utf8High<>+0(SB)/8, $0x8080808080808080
DATA utf8High<>+8(SB)/8, $0x8080808080808080
DATA utf8High<>+16(SB)/8, $0x8080808080808080
DATA utf8High<>+24(SB)/8, $0x8080808080808080
GLOBL utf8High<>(SB), RODATA|NOPTR, $32

// UTF8BLOCK checks the 32 bytes in Y0, after the 32 in Y1, into Y15; then Y1 = Y0.
#define UTF8BLOCK \
	VPERM2I128 $0x21, Y0, Y1, Y2 \
	VPALIGNR $15, Y2, Y0, Y3 \
	VPSRLW $4, Y3, Y4 \
	VPAND Y13, Y4, Y4 \
	VPSHUFB Y4, Y10, Y4 \
	VPAND Y13, Y3, Y5 \
	VPSHUFB Y5, Y11, Y5 \
	VPSRLW $4, Y0, Y6 \
	VPAND Y13, Y6, Y6 \
	VPSHUFB Y6, Y12, Y6 \
	VPAND Y5, Y4, Y4 \
	VPAND Y6, Y4, Y4 \
	VPALIGNR $14, Y2, Y0, Y5 \
	VPSUBUSB Y14, Y5, Y5 \
	VPALIGNR $13, Y2, Y0, Y6 \
	VPSUBUSB Y9, Y6, Y6 \
	VPOR Y6, Y5, Y5 \
	VPAND Y8, Y5, Y5 \
	VPXOR Y4, Y5, Y5 \
	VPOR Y5, Y15, Y15 \
	VMOVDQU Y0, Y1

// func utf8ValidAVX2(src *byte, nblocks int, tail *[64]byte) bool
TEXT ·utf8ValidAVX2(SB), NOSPLIT, $0-25
	MOVQ src+0(FP), SI
	MOVQ nblocks+8(FP), CX
	MOVQ tail+16(FP), DI
	VMOVDQU utf8Byte1High<>(SB), Y10
	VMOVDQU utf8Byte1Low<>(SB), Y11
	VMOVDQU utf8Byte2High<>(SB), Y12
	VMOVDQU utf8Nibble<>(SB), Y13
	VMOVDQU utf8Third<>(SB), Y14
	VMOVDQU utf8Fourth<>(SB), Y9
	VMOVDQU utf8High<>(SB), Y8
	VPXOR Y1, Y1, Y1
	VPXOR Y15, Y15, Y15
	TESTQ CX, CX
	JZ   tail

loop:
	VMOVDQU (SI), Y0
	UTF8BLOCK
	ADDQ $32, SI
	DECQ CX
	JNZ  loop

tail: // the last bytes, then zeros: a sequence cut short at the end fails as too short
	VMOVDQU (DI), Y0
	UTF8BLOCK
	VMOVDQU 32(DI), Y0
	UTF8BLOCK
	VPTEST Y15, Y15
	VZEROUPPER
	SETEQ ret+24(FP)
	RET
