package kvstore

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"sync"
	"testing"

	"go.uber.org/goleak"

	"github.com/astrid-actors/astrid-actors/internal/leakcheck"
	"github.com/astrid-actors/astrid-actors/kv"
	"github.com/astrid-actors/astrid-actors/kv/kvtest"
)

// childEnv makes the test binary a writer child (TestCrashKeepsAcknowledgedSets).
const childEnv = "ASTRID_KVSTORE_CHILD_DIR"

func TestMain(m *testing.M) {
	if dir := os.Getenv(childEnv); dir != "" {
		os.Exit(crashChild(dir))
	}
	goleak.VerifyTestMain(m, leakcheck.Options()...)
}

func open(t *testing.T, dir string) *Bolt {
	t.Helper()
	s, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

var ctx = context.Background()

// TestConformance runs the kv.Store conformance suite (kv/kvtest) on the bbolt store.
func TestConformance(t *testing.T) {
	kvtest.Run(t, func(t *testing.T) kv.Store { return open(t, t.TempDir()) })
}

// TestUsageSurvivesReopen: the recorded usage is in the file.
func TestUsageSurvivesReopen(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir)
	ns := kv.Namespace{Name: "default:capsule:q", QuotaBytes: 100}
	for _, k := range []string{"k1", "k22"} {
		if err := s.Set(ctx, ns, k, make([]byte, 10)); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s2 := open(t, dir)
	if got, _ := s2.Usage(ctx, ns); got != 12+13 {
		t.Fatalf("usage after reopen %d, want 25", got)
	}
	if err := s2.Set(ctx, ns, "k3", make([]byte, 74)); !errors.Is(err, kv.ErrQuota) {
		t.Fatalf("set over the quota after reopen = %v, want ErrQuota", err)
	}
}

// TestLargeBatches: concurrent 1 MiB sets exceed one group commit's byte budget and are
// split over several transactions; every one is stored.
func TestLargeBatches(t *testing.T) {
	s := open(t, t.TempDir())
	ns := kv.Namespace{Name: "default:capsule:big", QuotaBytes: 1 << 30}
	var wg sync.WaitGroup
	for i := range 40 {
		wg.Go(func() {
			if err := s.Set(ctx, ns, fmt.Sprintf("k%02d", i), bytes.Repeat([]byte{byte(i)}, kv.MaxValueBytes)); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	for i := range 40 {
		v, err := s.Get(ctx, ns, fmt.Sprintf("k%02d", i))
		if err != nil || len(v) != kv.MaxValueBytes || v[0] != byte(i) || v[len(v)-1] != byte(i) {
			t.Fatalf("k%02d: %d bytes, %v", i, len(v), err)
		}
	}
	if u, _ := s.Usage(ctx, ns); u != 40*(3+kv.MaxValueBytes) {
		t.Fatalf("usage %d", u)
	}
}

func TestInUse(t *testing.T) {
	dir := t.TempDir()
	open(t, dir)
	if s, err := Open(dir); !errors.Is(err, ErrInUse) {
		if s != nil {
			_ = s.Close()
		}
		t.Fatalf("second open of %s: %v, want ErrInUse", dir, err)
	}
}

// TestCrashKeepsAcknowledgedSets starts a child process (this test binary) that sets keys from
// 8 goroutines and acknowledges each set that returned over a pipe, kills it with SIGKILL in
// the middle of the run, reopens the store and finds every acknowledged set.
func TestCrashKeepsAcknowledgedSets(t *testing.T) {
	dir := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"="+dir)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	acked := kvtest.KillAfterAcks(t, cmd, bufio.NewScanner(out), 400)
	s := open(t, dir)
	ns := kv.Namespace{Name: "default:capsule:crash"}
	for k, v := range acked {
		got, err := s.Get(ctx, ns, k)
		if err != nil || !bytes.Equal(got, []byte(v)) {
			t.Fatalf("acknowledged %s=%s, after the crash: %q, %v", k, v, got, err)
		}
	}
	t.Logf("%d acknowledged sets survived SIGKILL", len(acked))
}

// crashChild is the child of TestCrashKeepsAcknowledgedSets: it sets keys until killed and
// prints "key=value" after each set returned.
func crashChild(dir string) int {
	s, err := Open(dir)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	ns := kv.Namespace{Name: "default:capsule:crash"}
	var mu sync.Mutex
	w := bufio.NewWriter(os.Stdout)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := 0; ; i++ {
				k, v := fmt.Sprintf("g%d/%06d", g, i), fmt.Sprintf("v%d", i)
				if err := s.Set(context.Background(), ns, k, []byte(v)); err != nil {
					fmt.Fprintln(os.Stderr, err)
					os.Exit(1)
				}
				mu.Lock()
				fmt.Fprintf(w, "%s=%s\n", k, v)
				_ = w.Flush()
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	return 0
}
