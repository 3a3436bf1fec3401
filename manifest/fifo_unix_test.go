//go:build unix

package manifest

import (
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// TestFIFOsDoNotBlock: a FIFO where a manifest or a module is expected is refused at once; an
// open without O_NONBLOCK would wait for a writer forever and stall every other capsule.
func TestFIFOsDoNotBlock(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, FileName)
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Skipf("mkfifo: %v", err)
	}
	if _, err := Load(fifo); err == nil || !strings.Contains(err.Error(), "not a regular file") {
		t.Errorf("Load(fifo) = %v", err)
	}
	if _, err := ReadModule(fifo, 0); err == nil || !strings.Contains(err.Error(), "not a regular file") {
		t.Errorf("ReadModule(fifo) = %v", err)
	}
}
