package bench

import (
	"fmt"
	"io"
	"os"
	"os/exec"
)

// startChild starts cmd, a child process of the bench (a pressure process or a cluster node)
// that takes commands on its stdin and answers on its stdout: its stderr goes to the bench's, it
// exits when its stdin closes and, on Linux, the kernel kills it when the bench dies.
func startChild(cmd *exec.Cmd, what string) (stdin io.WriteCloser, stdout io.ReadCloser, err error) {
	cmd.Stderr = os.Stderr
	setPdeathsig(cmd)
	if stdin, err = cmd.StdinPipe(); err != nil {
		return nil, nil, fmt.Errorf("%s: %w", what, err)
	}
	if stdout, err = cmd.StdoutPipe(); err != nil {
		return nil, nil, fmt.Errorf("%s: %w", what, err)
	}
	if err := cmd.Start(); err != nil {
		return nil, nil, fmt.Errorf("%s: %w", what, err)
	}
	return stdin, stdout, nil
}
