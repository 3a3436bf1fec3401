package bus

// validJSON reports whether b is one JSON text as RFC 8259 defines it: one value, accepted
// exactly when encoding/json.Valid accepts it, and valid UTF-8 as a whole (encoding/json.Valid
// alone accepts invalid UTF-8 inside strings, e.g. "\xff" in quotes; ABI §3 does not).
// From minBlockScan bytes on a CPU with AVX2 it is scanJSONBlocks (jsonsimd.go: SIMD
// classification of 64-byte blocks, then a grammar check of the tokens only); otherwise, and
// on other architectures, scanJSON (jsonscan.go: one pass, string bodies skipped 8 bytes at a
// time). FuzzValidJSONAgreesWithEncodingJSON keeps both in agreement with the reference, and
// RATIONALE.md ("Payload validation") has the measurements.
func validJSON(b []byte) bool {
	if haveStage1Asm && len(b) >= minBlockScan {
		return scanJSONBlocks(b, true)
	}
	return scanJSON(b)
}
