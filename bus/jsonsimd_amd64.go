//go:build !purego

package bus

import "golang.org/x/sys/cpu"

// haveStage1Asm reports whether stage1AVX2 can run here.
var haveStage1Asm = cpu.X86.HasAVX2

// stage1AVX2 classifies nblocks 64-byte blocks from src into masks[0:nblocks] (bit i of a
// mask is byte i of the block) and reports whether any byte is non-ASCII. jsonsimd_amd64.s.
//
//go:noescape
func stage1AVX2(src *byte, nblocks int, masks *blockMasks) bool

// utf8ValidAVX2 reports whether the nblocks 32-byte blocks from src followed by the 64 bytes
// of tail are valid UTF-8 (tail holds the text's last bytes, then zeros). utf8_amd64.s.
//
//go:noescape
func utf8ValidAVX2(src *byte, nblocks int, tail *[64]byte) bool

// grammarAVX2 is grammarGo over masks[0:nblocks] into checks[0:nblocks], in assembly (it
// needs no AVX2, but runs only where stage1AVX2 does). jsonsimd_amd64.s.
//
//go:noescape
func grammarAVX2(masks *blockMasks, nblocks int, s *blockState, checks *blockChecks)

// haveStage1AVX512 reports whether stage1AVX512 can run here.
var haveStage1AVX512 = cpu.X86.HasAVX512F && cpu.X86.HasAVX512BW

// stage1AVX512 is stage1AVX2 with AVX-512BW: each 64-byte block compared at once into a mask
// register. jsonsimd_amd64.s.
//
//go:noescape
func stage1AVX512(src *byte, nblocks int, masks *blockMasks) bool
