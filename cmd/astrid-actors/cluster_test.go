package main

import (
	"strings"
	"testing"
)

// TestRunClusterUsageErrors: inconsistent cluster flags are usage errors (exit 2) that name
// the flag, before anything starts.
func TestRunClusterUsageErrors(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--node", "n1"}, "--node needs --cluster"},
		{[]string{"--seeds", "127.0.0.1:6222"}, "--seeds needs --cluster"},
		{[]string{"--cluster", "c"}, "--cluster needs --node"},
		{[]string{"--cluster", "c", "--node", "n1", "--cluster-listen", "nope"}, "--cluster-listen"},
		{[]string{"--cluster", "c", "--node", "n1", "--seeds", "127.0.0.1:1,bad"}, "--seeds"},
		{[]string{"--cluster", "c", "--node", "n1", "--cluster-tls-cert", "x.pem"}, "go together"},
	} {
		args := append(append([]string{"run"}, tc.args...), dir)
		res := cli(t, args...)
		if res.code != 2 || !strings.Contains(res.stderr, tc.want) {
			t.Errorf("%v: code %d, stderr %q; want 2 and %q", tc.args, res.code, res.stderr, tc.want)
		}
	}
}
