//go:build unix

package manifest

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
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

// TestDiscoverHostileNeighbours: a quadratic-parse manifest, a 1 MiB one and a FIFO next to a
// good capsule are refused (or skipped) quickly, and the good capsule is found.
func TestDiscoverHostileNeighbours(t *testing.T) {
	root := t.TempDir()
	capsule(t, filepath.Join(root, "b-good"), "good", "")
	writeFile(t, filepath.Join(root, "a-nested", FileName), capsuleTOML("nested", "x.wasm",
		"[env]\nx = "+strings.Repeat("{a=", 10000)+"1"+strings.Repeat("}", 10000)+"\n"))
	writeFile(t, filepath.Join(root, "a-big", FileName), strings.Repeat("#", MaxManifestBytes+1))
	if err := os.MkdirAll(filepath.Join(root, "a-fifo"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mkfifo(filepath.Join(root, "a-fifo", FileName), 0o644); err != nil {
		t.Skipf("mkfifo: %v", err)
	}
	done := make(chan struct{})
	var (
		ms    []*Manifest
		warns []string
		errs  []error
	)
	go func() {
		defer close(done)
		ms, warns, errs = Discover(root)
	}()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("Discover did not return: a hostile manifest stalls discovery")
	}
	if got := names(ms); !slices.Equal(got, []string{"good"}) {
		t.Errorf("discovered %v, want [good]", got)
	}
	if len(errs) != 2 || !strings.Contains(errs[0].Error(), "larger than 1048576 bytes") || !strings.Contains(errs[1].Error(), "nest deeper than 10 levels") {
		t.Errorf("errs = %v", errs)
	}
	if len(warns) != 1 || !strings.Contains(warns[0], "not a regular file") {
		t.Errorf("warnings = %q", warns)
	}
}
