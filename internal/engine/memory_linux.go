package engine

import "syscall"

// mapMemory reserves n zeroed bytes of anonymous memory without committing them: only the
// pages the guest touches count towards the process's RSS.
func mapMemory(n uint64) ([]byte, bool) {
	if n == 0 || n > 1<<40 {
		return nil, false
	}
	buf, err := syscall.Mmap(-1, 0, int(n), syscall.PROT_READ|syscall.PROT_WRITE,
		syscall.MAP_PRIVATE|syscall.MAP_ANONYMOUS|syscall.MAP_NORESERVE)
	if err != nil {
		return nil, false
	}
	return buf, true
}

// unmapMemory returns a mapping of mapMemory to the OS.
func unmapMemory(buf []byte) { _ = syscall.Munmap(buf) }
