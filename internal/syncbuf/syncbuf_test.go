package syncbuf

import (
	"strings"
	"sync"
	"testing"

	"go.uber.org/goleak"

	"github.com/astrid-actors/astrid-actors/internal/leakcheck"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m, leakcheck.Options()...) }

// TestConcurrentWrites: lines written by several goroutines while another reads all arrive
// whole, and a read returns a copy the buffer does not change afterwards.
func TestConcurrentWrites(t *testing.T) {
	var b Buffer
	const writers, lines = 4, 500
	var wg sync.WaitGroup
	for range writers {
		wg.Go(func() {
			for range lines {
				_, _ = b.Write([]byte("line\n"))
			}
		})
	}
	wg.Go(func() {
		for range lines {
			_ = b.String()
		}
	})
	wg.Wait()
	snap := b.Bytes()
	_, _ = b.Write([]byte("more\n"))
	if got := strings.Count(string(snap), "line\n"); got != writers*lines || len(snap) != writers*lines*5 {
		t.Fatalf("%d whole lines in %d bytes, want %d", got, len(snap), writers*lines)
	}
	if !strings.HasSuffix(b.String(), "more\n") || b.Sync() != nil {
		t.Fatalf("buffer after the snapshot: %q", b.String()[len(snap):])
	}
}
