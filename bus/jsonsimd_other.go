//go:build !amd64 || purego

package bus

// haveStage1Asm reports whether stage1AVX2 can run here: on this architecture (or with the
// purego tag) never, and validJSON uses scanJSON.
const haveStage1Asm = false

func stage1AVX2(src *byte, nblocks int, masks *blockMasks) bool {
	panic("bus: stage1AVX2 without an assembly implementation")
}

func utf8ValidAVX2(src *byte, nblocks int, tail *[64]byte) bool {
	panic("bus: utf8ValidAVX2 without an assembly implementation")
}

func grammarAVX2(masks *blockMasks, nblocks int, s *blockState, checks *blockChecks) {
	panic("bus: grammarAVX2 without an assembly implementation")
}

// haveStage1AVX512 reports whether stage1AVX512 can run here: never.
const haveStage1AVX512 = false

func stage1AVX512(src *byte, nblocks int, masks *blockMasks) bool {
	panic("bus: stage1AVX512 without an assembly implementation")
}
