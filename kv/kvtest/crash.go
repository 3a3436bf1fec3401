package kvtest

import (
	"bufio"
	"errors"
	"os/exec"
	"strings"
	"syscall"
	"testing"
)

// KillAfterAcks reads the acknowledgements a crash-test child writes to sc, one "key=value" line
// per set its store returned, until it has n of them; then it kills the child (cmd) with
// SIGKILL, keeps the acknowledgements written before the kill, waits for the child and checks
// that it died of the signal. It returns every acknowledged key with its value; the caller then
// reopens the store and checks that each one survived.
func KillAfterAcks(t testing.TB, cmd *exec.Cmd, sc *bufio.Scanner, n int) map[string]string {
	t.Helper()
	acked := map[string]string{}
	for len(acked) < n && sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), "=")
		if !ok {
			t.Fatalf("child wrote %q", sc.Text())
		}
		acked[k] = v
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	for sc.Scan() { // acknowledgements written before the kill count too
		if k, v, ok := strings.Cut(sc.Text(), "="); ok {
			acked[k] = v
		}
	}
	err := cmd.Wait()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
		t.Fatalf("child ended with %v, want killed by SIGKILL", err)
	}
	if len(acked) < n {
		t.Fatalf("child acknowledged only %d sets", len(acked))
	}
	return acked
}
