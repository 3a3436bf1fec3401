//go:build wasip1

// Command compute is a Go-built CPU-bound guest for measuring the cost of a loop check — the
// runtime's (internal/preempt's countdown) against wazero's and none
// (internal/bench/compute_test.go). It exports sum(n) — the sum of i*i for i < n, mod 2^64 —
// the same loop as testdata/wat/compute.wat's sum, as the Go compiler lowers it to wasm.
package main

func main() {}

//go:wasmexport sum
func sum(n int64) int64 {
	var s int64
	for i := int64(0); i < n; i++ {
		s += i * i
	}
	return s
}
